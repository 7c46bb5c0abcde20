/**
 * Guest memory and KVM_SET_USER_MEMORY_REGION on the host's /dev/kvm: sharing, add, move, delete, read-only,
 * dirty log, and the refusals with their errno. Guest code is 16-bit real mode, bytes with their assembly.
 */
import { MemFlag } from '@kvm-ts/core';
import { afterEach, describe, expect, it } from 'vitest';
import { expectedAnswer } from './support/flavours.js';
import { hasKvm, outcome, type RealModeGuest, realModeGuest, reportSkip } from './support/host.js';

reportSkip('memory-slots.test.ts');

/** `mov ax, seg; mov ds, ax` */
const setDs = (segment: number) => [0xb8, segment & 0xff, segment >> 8, 0x8e, 0xd8];
/** `mov al, [offset]` */
const loadAl = (offset: number) => [0xa0, offset & 0xff, offset >> 8];
/** `out port, al` */
const outAl = (port: number) => [0xe6, port];
/** `mov byte [offset], value` */
const storeByte = (offset: number, value: number) => [0xc6, 0x06, offset & 0xff, offset >> 8, value];
const HLT = [0xf4];

describe.skipIf(!hasKvm)('guest memory and memory slots', () => {
  let guest: RealModeGuest | undefined;
  afterEach(async () => {
    await guest?.close();
    guest = undefined;
  });

  it('createMemory rounds up to whole pages and starts zeroed', () => {
    guest = realModeGuest(HLT);
    const memory = guest.vm.createMemory(5000);
    expect(memory.size).toBe(8192);
    expect(memory.bytes.length).toBe(8192);
    expect(memory.bytes.every((byte) => byte === 0)).toBe(true);
    memory.close();
    expect(memory.bytes.length).toBe(0);
    expect(outcome(() => guest?.vm.createMemory(0))).toBe('EINVAL');
  });

  it('what the VMM writes the guest reads, and what the guest writes the VMM sees, without copies', () => {
    guest = realModeGuest([...loadAl(0x3000), ...outAl(0x10), ...storeByte(0x3001, 0x77), ...HLT]);
    guest.memory.bytes[0x3000] = 0x5a;
    const exit = guest.run();
    expect(exit.reason).toBe('io');
    if (exit.reason === 'io') expect(exit.data[0]).toBe(0x5a);
    expect(guest.run().reason).toBe('hlt');
    expect(guest.memory.bytes[0x3001]).toBe(0x77);
  });

  it('refuses overlapping, misaligned and oversized slots with the errno KVM gives', () => {
    guest = realModeGuest(HLT);
    const { vm } = guest;
    const block = vm.createMemory(0x2000);
    const region = { slot: 1, flags: 0, guestPhysAddr: 0x20000n, memorySize: 0x1000n, memory: block };
    // Overlaps slot 0 (0-0x10000).
    expect(outcome(() => vm.setUserMemoryRegion({ ...region, guestPhysAddr: 0x8000n }))).toBe('EEXIST');
    expect(outcome(() => vm.setUserMemoryRegion({ ...region, guestPhysAddr: 0x20800n }))).toBe('EINVAL');
    expect(outcome(() => vm.setUserMemoryRegion({ ...region, memorySize: 0x800n }))).toBe('EINVAL');
    expect(outcome(() => vm.setUserMemoryRegion({ ...region, memoryOffset: 0x800 }))).toBe('EINVAL');
    expect(outcome(() => vm.setUserMemoryRegion({ ...region, slot: 0x7fff }))).toBe('EINVAL');
    // Checked here before KVM: a slot reaching past its block would map whatever memory lies beyond it.
    expect(outcome(() => vm.setUserMemoryRegion({ ...region, memorySize: 0x3000n }))).toBe('EINVAL');
    expect(outcome(() => vm.setUserMemoryRegion({ ...region, memory: undefined }))).toBe('EINVAL');
    // None of the refusals changed anything: the slot can still be created.
    expect(outcome(() => vm.setUserMemoryRegion(region))).toBe('ok');
    expect(outcome(() => vm.setUserMemoryRegion({ ...region, slot: 2, guestPhysAddr: 0x20000n }))).toBe(
      'EEXIST',
    );
    block.close();
  });

  it('an address space other than 0 follows the flavour table', () => {
    guest = realModeGuest(HLT);
    const block = guest.vm.createMemory(0x1000);
    const answer = outcome(() =>
      guest?.vm.setUserMemoryRegion({
        slot: 1 | (1 << 16),
        flags: 0,
        guestPhysAddr: 0x20000n,
        memorySize: 0x1000n,
        memory: block,
      }),
    );
    expect(answer).toBe(expectedAnswer(guest.kvm.backend.flavour, 'slotInAddressSpace1'));
  });

  it('a moved slot appears at its new address; the old one becomes MMIO; a deleted slot is MMIO too', () => {
    guest = realModeGuest([
      ...[...setDs(0x2000), ...loadAl(0), ...outAl(0x10)],
      ...[...setDs(0x3000), ...loadAl(0), ...outAl(0x11)],
      ...[...setDs(0x2000), ...loadAl(0), ...outAl(0x12)],
      ...[...setDs(0x3000), ...loadAl(0), ...HLT],
    ]);
    const block = guest.vm.createMemory(0x1000);
    block.bytes[0] = 0xa5;
    const region = { slot: 1, flags: 0, guestPhysAddr: 0x20000n, memorySize: 0x1000n, memory: block };
    guest.vm.setUserMemoryRegion(region);
    let exit = guest.run();
    expect(exit.reason === 'io' && exit.port === 0x10 && exit.data[0]).toBe(0xa5);

    // Moving keeps size and memory; a different size is a new slot's business (EINVAL).
    expect(outcome(() => guest?.vm.setUserMemoryRegion({ ...region, memorySize: 0x2000n }))).toBe('EINVAL');
    guest.vm.setUserMemoryRegion({ ...region, guestPhysAddr: 0x30000n });
    exit = guest.run();
    expect(exit.reason === 'io' && exit.port === 0x11 && exit.data[0]).toBe(0xa5);

    exit = guest.run();
    expect(exit.reason).toBe('mmio');
    if (exit.reason === 'mmio') {
      expect(exit.physAddr).toBe(0x20000n);
      expect(exit.isWrite).toBe(false);
      expect(exit.len).toBe(1);
      exit.data[0] = 0x3c;
    }
    exit = guest.run();
    expect(exit.reason === 'io' && exit.port === 0x12 && exit.data[0]).toBe(0x3c);

    guest.vm.setUserMemoryRegion({ slot: 1, flags: 0, guestPhysAddr: 0n, memorySize: 0n });
    exit = guest.run();
    expect(exit.reason === 'mmio' && exit.physAddr).toBe(0x30000n);
    block.close();
  });

  it('a read-only slot serves reads and turns writes into MMIO writes', () => {
    guest = realModeGuest([...setDs(0x2000), ...loadAl(0), ...outAl(0x10), ...storeByte(0, 0x66), ...HLT]);
    const block = guest.vm.createMemory(0x1000);
    block.bytes[0] = 0x42;
    guest.vm.setUserMemoryRegion({
      slot: 1,
      flags: MemFlag.READONLY,
      guestPhysAddr: 0x20000n,
      memorySize: 0x1000n,
      memory: block,
    });
    let exit = guest.run();
    expect(exit.reason === 'io' && exit.data[0]).toBe(0x42);
    exit = guest.run();
    expect(exit.reason).toBe('mmio');
    if (exit.reason === 'mmio') {
      expect(exit.isWrite).toBe(true);
      expect(exit.physAddr).toBe(0x20000n);
      expect(exit.len).toBe(1);
      expect(exit.data[0]).toBe(0x66);
    }
    expect(guest.run().reason).toBe('hlt');
    expect(block.bytes[0]).toBe(0x42);
    block.close();
  });

  it('the dirty log has the pages the guest wrote, and is cleared by reading it', () => {
    guest = realModeGuest([...setDs(0x2000), ...storeByte(0x2000, 1), ...storeByte(0x5000, 1), ...HLT]);
    const block = guest.vm.createMemory(0x8000);
    const region = {
      slot: 1,
      flags: MemFlag.LOG_DIRTY_PAGES,
      guestPhysAddr: 0x20000n,
      memorySize: 0x8000n,
      memory: block,
    };
    guest.vm.setUserMemoryRegion(region);
    expect(guest.vm.getDirtyLog(1)).toEqual(new Uint8Array([0]));
    expect(guest.run().reason).toBe('hlt');
    const bitmap = guest.vm.getDirtyLog(1);
    expect(bitmap.length).toBe(1);
    expect(bitmap[0] & 0b0010_0100).toBe(0b0010_0100);
    expect(block.bytes[0x2000]).toBe(1);
    expect(guest.vm.getDirtyLog(1)[0] & 0b0010_0100).toBe(0);
    // Slot 0 does not log (ENOENT), slot 5 does not exist (ENOENT).
    expect(outcome(() => guest?.vm.getDirtyLog(0))).toBe('ENOENT');
    expect(outcome(() => guest?.vm.getDirtyLog(5))).toBe('ENOENT');
    block.close();
  });
});
