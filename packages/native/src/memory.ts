/**
 * Guest memory for the native backend: anonymous `mmap` memory, exposed as a zero-copy Uint8Array
 * (`koffi.view`), whose address becomes a slot's `userspace_addr`.
 */
import type { GuestMemory } from '@kvm-ts/core';
import { badArgument } from './codec/fields.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  mapOrThrow,
  PROT_READ,
  PROT_WRITE,
  viewOf,
} from './libc.js';
import { releaseWhenCollected } from './lifetime.js';

const PAGE_SIZE = 4096;
const ANONYMOUS = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

/**
 * Replaces a mapping with fresh, untouched anonymous pages at the same address. The old pages (or the file
 * they mapped) are released at once, while views over the range stay valid (reading zeros) instead of
 * faulting: koffi's external ArrayBuffers cannot be detached. The range itself is unmapped when the views are
 * collected.
 */
export function scrubMapping(operation: string, address: number, length: number): void {
  mapOrThrow(operation, length, PROT_READ | PROT_WRITE, ANONYMOUS | MAP_FIXED, -1, address);
}

/** A {@link GuestMemory} block backed by anonymous host memory. */
export class NativeGuestMemory implements GuestMemory {
  readonly size: number;
  /** The host virtual address of the first byte: the `userspace_addr` of a slot mapping it. */
  readonly address: number;
  private view: Uint8Array;
  private closed = false;

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw badArgument('mmap', `memory size must be a positive integer, not ${size}`);
    }
    this.size = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    this.address = mapOrThrow('mmap', this.size, PROT_READ | PROT_WRITE, ANONYMOUS, -1);
    const buffer = viewOf(this.address, this.size);
    this.view = new Uint8Array(buffer);
    releaseWhenCollected(buffer, { mapping: { address: this.address, length: this.size } }, this);
  }

  /** The whole block, zero-copy; empty once closed. */
  get bytes(): Uint8Array {
    return this.view;
  }

  /** Whether `close()` has released the block. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Releases the memory. Views taken earlier read zeros afterwards; the address range is returned to the
   * system once they are collected.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    scrubMapping('munmap', this.address, this.size);
    this.view = new Uint8Array(0);
    // The finalizer stays registered: it unmaps the scrubbed range once the old views are gone.
  }

  /** `using` support: the same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
