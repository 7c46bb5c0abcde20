import { KvmError, MemFlag } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { ArrayGuestMemory } from './guest-memory.js';
import { SlotTable } from './slots.js';

function errno(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof KvmError) return error.code;
    throw error;
  }
  return 'ok';
}

describe('SlotTable (KVM_SET_USER_MEMORY_REGION rules)', () => {
  const memory = new ArrayGuestMemory(0x4000);
  const region = (slot: number, gpa: number, size = 0x4000, flags = 0) => ({
    slot,
    flags,
    guestPhysAddr: BigInt(gpa),
    memorySize: BigInt(size),
    memory,
  });

  it('refuses overlaps (EEXIST), misalignment and unknown flags (EINVAL), and leaves the table as it was', () => {
    const t = new SlotTable();
    t.set(region(0, 0x10000));
    expect(errno(() => t.set(region(1, 0x12000)))).toBe('EEXIST');
    expect(errno(() => t.set(region(1, 0x20800)))).toBe('EINVAL');
    expect(errno(() => t.set(region(1, 0x20000, 0x1800)))).toBe('EINVAL');
    expect(errno(() => t.set(region(1, 0x20000, 0x1000, 4)))).toBe('EINVAL');
    expect(errno(() => t.set(region(0x10000, 0x20000)))).toBe('EINVAL');
    expect(t.find(0x12000)?.id).toBe(0);
    expect(t.has(1)).toBe(false);
  });

  it('deleting a missing slot is EINVAL; resizing or toggling READONLY is EINVAL; moving and LOG_DIRTY_PAGES are allowed', () => {
    const t = new SlotTable();
    expect(errno(() => t.set(region(3, 0, 0)))).toBe('EINVAL');
    t.set(region(0, 0x10000));
    expect(errno(() => t.set(region(0, 0x10000, 0x2000)))).toBe('EINVAL');
    expect(errno(() => t.set(region(0, 0x10000, 0x4000, MemFlag.READONLY)))).toBe('EINVAL');
    t.set(region(0, 0x40000, 0x4000, MemFlag.LOG_DIRTY_PAGES));
    expect(t.find(0x10000)).toBeUndefined();
    expect(t.find(0x43fff)?.id).toBe(0);
    t.set(region(0, 0, 0));
    expect(t.find(0x40000)).toBeUndefined();
  });

  it('the dirty log needs LOG_DIRTY_PAGES (ENOENT otherwise) and is sized in 64-bit words', () => {
    const t = new SlotTable();
    t.set(region(0, 0));
    expect(errno(() => t.takeDirtyLog(0))).toBe('ENOENT');
    t.set(region(0, 0, 0x4000, MemFlag.LOG_DIRTY_PAGES));
    const slot = t.find(0)!;
    t.markDirty(slot, 0x2000);
    expect([...t.takeDirtyLog(0)]).toEqual([4, 0, 0, 0, 0, 0, 0, 0]);
    expect([...t.takeDirtyLog(0)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });
});
