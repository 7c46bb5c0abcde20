/**
 * The decoded-instruction cache, keyed by guest-physical address and shared by the vCPUs of a VM. A page
 * enters the cache the first time code runs from it; from then on every write to it (by a vCPU) goes through
 * the MMU's slow path, which drops the instructions the write overlaps, so self-modifying code sees its new
 * bytes. Writes the VMM makes through `GuestMemory.bytes` are caught by comparing a page's snapshot the first
 * time it runs in each `run()`.
 */
import type { Insn } from './decode.js';

/** Longest x86 instruction: a write at byte n can change instructions starting up to 14 bytes before it. */
const MAX_INSN = 15;

/** The decoded instructions of one 4 KiB guest-physical page, indexed by offset. */
export class CodePage {
  readonly insns: (Insn | undefined)[] = new Array(4096).fill(undefined);
  /** The page's bytes as they were decoded, to detect writes made behind the CPU's back. */
  readonly snapshot = new Uint8Array(4096);
  /** The same bytes as 32-bit words, for a fast comparison. */
  readonly snapshot32 = new Int32Array(this.snapshot.buffer);
  /** The cache generation in which the snapshot was last compared with memory. */
  verified = -1;

  constructor(readonly gpa: number) {}

  /** Drops cached instructions that overlap `[offset, offset + len)`. */
  invalidate(offset: number, len: number): void {
    const from = Math.max(offset - (MAX_INSN - 1), 0);
    const to = Math.min(offset + len, 4096);
    const insns = this.insns;
    for (let k = from; k < to; k++) {
      const insn = insns[k];
      if (insn !== undefined && k + insn.len > offset) insns[k] = undefined;
    }
  }
}

/** All code pages of one VM. */
export class CodeCache {
  readonly pages = new Map<number, CodePage>();
  /** Bumped at each `run()`: pages are re-verified against memory once per generation. */
  generation = 0;
  /** Called when a page becomes a code page, so CPUs stop writing it through their fast path. */
  onNewPage: (gpa: number) => void = () => {};

  /** The code page at page-aligned `gpa`, creating it (with a snapshot of `bytes` at `offset`). */
  page(gpa: number, bytes: Uint8Array, offset: number): CodePage {
    let page = this.pages.get(gpa);
    if (!page) {
      page = new CodePage(gpa);
      page.snapshot.set(bytes.subarray(offset, offset + 4096));
      page.verified = this.generation;
      this.pages.set(gpa, page);
      this.onNewPage(gpa);
    } else if (page.verified !== this.generation) {
      // Compare a word at a time: slots and their pages are 4 KiB aligned in their buffers.
      const mem = new Int32Array(bytes.buffer, bytes.byteOffset + offset, 1024);
      const snap = page.snapshot32;
      for (let k = 0; k < 1024; k++) {
        if (snap[k] !== mem[k]) {
          page.insns.fill(undefined);
          page.snapshot.set(bytes.subarray(offset, offset + 4096));
          break;
        }
      }
      page.verified = this.generation;
    }
    return page;
  }

  /** Forgets everything (the memory map changed). */
  clear(): void {
    this.pages.clear();
  }
}
