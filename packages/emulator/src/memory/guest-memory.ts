import { type GuestMemory, kvmFail } from '@kvm-ts/core';

/** Page size of guest-physical memory and of the dirty log. */
export const PAGE_SIZE = 4096;

/**
 * Guest RAM backed by an ArrayBuffer: what `Vm.createMemory` returns on the emulator. `bytes` is the same
 * array the CPU reads and writes, so it is zero-copy both ways as the core API promises.
 */
export class ArrayGuestMemory implements GuestMemory {
  readonly bytes: Uint8Array;
  readonly size: number;
  /** A DataView over the same buffer, for the CPU's multi-byte little-endian accesses. */
  readonly view: DataView;
  closed = false;

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size <= 0) {
      kvmFail('createMemory', 'EINVAL', `size must be a positive integer, got ${size}`);
    }
    this.size = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    let buffer: ArrayBuffer;
    try {
      buffer = new ArrayBuffer(this.size);
    } catch (error) {
      throw kvmFail('createMemory', 'ENOMEM', `cannot allocate ${this.size} bytes (${String(error)})`);
    }
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  /** Marks the block closed; a slot still mapping it keeps its bytes alive, as an mmap'd slot would fault. */
  close(): void {
    this.closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
