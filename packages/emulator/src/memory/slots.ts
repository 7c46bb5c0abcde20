/**
 * Guest-physical memory slots with KVM's rules (KVM_SET_USER_MEMORY_REGION, `virt/kvm/kvm_main.c`
 * `__kvm_set_memory_region`): create, move, change LOG_DIRTY_PAGES, delete; overlapping slots EEXIST;
 * misaligned addresses or sizes EINVAL; deleting a slot that does not exist EINVAL; changing a slot's size,
 * memory or READONLY flag EINVAL.
 */
import { type GuestMemory, type KvmUserspaceMemoryRegion, kvmFail, MemFlag } from '@kvm-ts/core';
import { ArrayGuestMemory, PAGE_SIZE } from './guest-memory.js';

const OP = 'KVM_SET_USER_MEMORY_REGION';

/** KVM_USER_MEM_SLOTS on x86 (KVM_CAP_NR_MEMSLOTS). */
export const MAX_MEMSLOTS = 32764;

/** The guest-physical address width (CPUID 0x80000008 EAX[7:0]): slots must end below 2^PHYS_BITS. */
export const PHYS_BITS = 40;

/** One mapped slot. Addresses are numbers: guest-physical addresses stay below 2^52. */
export interface Slot {
  readonly id: number;
  flags: number;
  /** First guest-physical address. */
  gpa: number;
  readonly size: number;
  readonly memory: ArrayGuestMemory;
  /** Offset of the slot's first byte in `memory`. */
  readonly offset: number;
  /** One bit per 4 KiB page written since the last KVM_GET_DIRTY_LOG (allocated while logging). */
  dirty: Uint8Array;
}

/** The slot table of one VM and the guest-physical lookups the CPU makes through it. */
export class SlotTable {
  private readonly slots = new Map<number, Slot>();
  /** Slots in no particular order, for lookups. */
  private list: Slot[] = [];
  private last: Slot | undefined;
  /** Called after any change, so CPUs drop translations that may point into a changed slot. */
  onChange: () => void = () => {};

  /** KVM_SET_USER_MEMORY_REGION. */
  set(region: KvmUserspaceMemoryRegion): void {
    const { slot, flags } = region;
    if (!Number.isInteger(slot) || slot < 0 || slot > 0xffffffff) kvmFail(OP, 'EINVAL', `bad slot ${slot}`);
    if (slot >>> 16 !== 0) {
      kvmFail(OP, 'EINVAL', `address space ${slot >>> 16} does not exist (no SMM address space)`);
    }
    const id = slot & 0xffff;
    if (id >= MAX_MEMSLOTS)
      kvmFail(OP, 'EINVAL', `slot ${id} is not below KVM_CAP_NR_MEMSLOTS (${MAX_MEMSLOTS})`);
    if ((flags & ~(MemFlag.LOG_DIRTY_PAGES | MemFlag.READONLY)) !== 0) {
      kvmFail(OP, 'EINVAL', `unknown flags 0x${flags.toString(16)}`);
    }
    const size = region.memorySize;
    const gpaBig = region.guestPhysAddr;
    if (size < 0n || size % BigInt(PAGE_SIZE) !== 0n)
      kvmFail(OP, 'EINVAL', 'memorySize must be a multiple of 4 KiB');
    if (gpaBig < 0n || gpaBig % BigInt(PAGE_SIZE) !== 0n) {
      kvmFail(OP, 'EINVAL', 'guestPhysAddr must be a multiple of 4 KiB');
    }
    const old = this.slots.get(id);
    if (size === 0n) {
      if (!old) kvmFail(OP, 'EINVAL', `slot ${id} does not exist, so it cannot be deleted`);
      this.slots.delete(id);
      this.commit();
      return;
    }
    if (gpaBig + size > 1n << BigInt(PHYS_BITS)) {
      kvmFail(OP, 'EINVAL', `the slot ends beyond the ${PHYS_BITS}-bit guest-physical address space`);
    }
    const offset = region.memoryOffset ?? 0;
    if (!Number.isInteger(offset) || offset < 0 || offset % PAGE_SIZE !== 0) {
      kvmFail(OP, 'EINVAL', 'memoryOffset must be a non-negative multiple of 4 KiB');
    }
    const memory = region.memory;
    if (!(memory instanceof ArrayGuestMemory)) {
      kvmFail(OP, 'EFAULT', 'memory must be a block from this backend’s Vm.createMemory');
    }
    const gpa = Number(gpaBig);
    const bytes = Number(size);
    if (offset + bytes > memory.size) kvmFail(OP, 'EFAULT', 'the slot runs past the end of its memory block');
    if (old) {
      if (old.size !== bytes || old.memory !== memory || old.offset !== offset) {
        kvmFail(OP, 'EINVAL', `slot ${id} exists: its size and memory cannot change (delete it first)`);
      }
      if ((old.flags ^ flags) & MemFlag.READONLY) {
        kvmFail(OP, 'EINVAL', `slot ${id} exists: READONLY cannot change (delete it first)`);
      }
    }
    for (const other of this.list) {
      if (other.id !== id && gpa < other.gpa + other.size && other.gpa < gpa + bytes) {
        kvmFail(OP, 'EEXIST', `the range overlaps slot ${other.id}`);
      }
    }
    const pages = bytes / PAGE_SIZE;
    const dirty =
      flags & MemFlag.LOG_DIRTY_PAGES ? new Uint8Array(Math.ceil(pages / 64) * 8) : new Uint8Array(0);
    if (old) {
      const keepLog = old.flags & flags & MemFlag.LOG_DIRTY_PAGES;
      old.gpa = gpa;
      old.flags = flags;
      if (!keepLog) old.dirty = dirty;
    } else {
      this.slots.set(id, { id, flags, gpa, size: bytes, memory, offset, dirty });
    }
    this.commit();
  }

  private commit(): void {
    this.list = [...this.slots.values()];
    this.last = undefined;
    this.onChange();
  }

  /** The slot that backs guest-physical address `gpa`, if any. */
  find(gpa: number): Slot | undefined {
    const last = this.last;
    if (last && gpa >= last.gpa && gpa < last.gpa + last.size) return last;
    for (const s of this.list) {
      if (gpa >= s.gpa && gpa < s.gpa + s.size) {
        this.last = s;
        return s;
      }
    }
    return undefined;
  }

  /** Marks the page holding `gpa` of `slot` dirty, when the slot logs. */
  markDirty(slot: Slot, gpa: number): void {
    if (slot.dirty.length === 0) return;
    const page = (gpa - slot.gpa) / PAGE_SIZE;
    slot.dirty[page >>> 3] |= 1 << (page & 7);
  }

  /** KVM_GET_DIRTY_LOG: the bitmap (in 64-bit words, as the kernel sizes it), cleared by the call. */
  takeDirtyLog(id: number): Uint8Array {
    const slot = this.slots.get(id);
    if (!slot || slot.dirty.length === 0) {
      kvmFail('KVM_GET_DIRTY_LOG', 'ENOENT', `slot ${id} does not exist or does not log dirty pages`);
    }
    const copy = slot.dirty.slice();
    slot.dirty.fill(0);
    // The CPUs must fault again on the next write to each page so that it is logged again.
    this.onChange();
    return copy;
  }

  /** Whether a slot with this id exists. */
  has(id: number): boolean {
    return this.slots.has(id);
  }

  /** Copies guest-physical memory into `out`, returning false if any byte is not backed by a slot. */
  readPhys(gpa: number, out: Uint8Array): boolean {
    for (let i = 0; i < out.length; i++) {
      const s = this.find(gpa + i);
      if (!s) return false;
      out[i] = s.memory.bytes[s.offset + gpa + i - s.gpa];
    }
    return true;
  }
}

/** Whether `memory` is a block this backend can map. */
export function isEmulatorMemory(memory: GuestMemory | undefined): memory is ArrayGuestMemory {
  return memory instanceof ArrayGuestMemory;
}
