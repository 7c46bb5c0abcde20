import { type GuestMemory, kvmFail } from '@kvm-ts/core';
import type { WasmArena } from './wasm-arena.js';

/** Page size of guest-physical memory and of the dirty log. */
export const PAGE_SIZE = 4096;

/**
 * Guest RAM backed by an ArrayBuffer, or by a slice of its VM's WebAssembly memory (wasm-arena.ts) so that
 * compiled WebAssembly blocks reach it: what `Vm.createMemory` returns on the emulator. `bytes` is the same
 * array the CPU reads and writes, so it is zero-copy both ways as the core API promises.
 */
export class ArrayGuestMemory implements GuestMemory {
  readonly bytes: Uint8Array;
  readonly size: number;
  /** A DataView over the same buffer, for the CPU's multi-byte little-endian accesses. */
  readonly view: DataView;
  closed = false;
  /** The arena holding the bytes (they start at `bytes.byteOffset` in its memory), or null for an ArrayBuffer. */
  readonly arena: WasmArena | null;

  /** Allocates `size` bytes (rounded up to pages) in `arena` when it has room, else in an ArrayBuffer of their own. */
  constructor(size: number, arena: WasmArena | null = null) {
    if (!Number.isSafeInteger(size) || size <= 0) {
      kvmFail('createMemory', 'EINVAL', `size must be a positive integer, got ${size}`);
    }
    this.size = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    const offset = arena === null ? -1 : arena.alloc(this.size);
    if (arena !== null && offset >= 0) {
      this.arena = arena;
      this.bytes = new Uint8Array(arena.buffer, offset, this.size);
      this.view = new DataView(arena.buffer, offset, this.size);
      return;
    }
    let buffer: ArrayBuffer;
    try {
      buffer = new ArrayBuffer(this.size);
    } catch (error) {
      throw kvmFail('createMemory', 'ENOMEM', `cannot allocate ${this.size} bytes (${String(error)})`);
    }
    this.arena = null;
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
