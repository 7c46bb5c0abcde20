/**
 * The decoded-instruction cache, keyed by guest-physical address and shared by the vCPUs of a VM. A page
 * enters the cache the first time code runs from it; from then on every write to it (by a vCPU) goes through
 * the MMU's slow path, which drops the instructions the write overlaps, so self-modifying code sees its new
 * bytes. Writes the VMM makes through `GuestMemory.bytes` are caught by comparing a page's snapshot the first
 * time it runs in each `run()`.
 */
import type { Block } from './blocks.js';
import type { Insn } from './decode.js';
import type { BlockDirectories } from './wasm/directories.js';

/** Longest x86 instruction: a write at byte n can change instructions starting up to 14 bytes before it. */
const MAX_INSN = 15;

/** The blocks of a page that has none (never written: a page allocates its own at its first block). */
const NO_BLOCKS: (Block | undefined)[] = new Array(4096).fill(undefined);

/**
 * The count `CodePage.heat` holds at an offset where a block starts, so the run loop reads the typed array of
 * counts it reads anyway, and the page's array of blocks only there.
 */
export const BLOCK_HEAT = 0xffff;

/** The decoded instructions of one 4 KiB guest-physical page, indexed by offset. */
export class CodePage {
  readonly insns: (Insn | undefined)[] = new Array(4096).fill(undefined);
  /**
   * The page's bytes as they were decoded, to detect writes made behind the CPU's back: after its directory in
   * the WebAssembly memory when it has one (directories.ts compares them there), else an array of its own.
   */
  readonly snapshot: Uint8Array;
  /** The same bytes as 32-bit words, for the comparison in JavaScript. */
  readonly snapshot32: Int32Array;
  /** The cache generation in which the snapshot was last compared with memory. */
  verified = -1;
  /** Compiled blocks (blocks.ts) by start offset: a shared empty array until the page's first block. */
  blocks: (Block | undefined)[] = NO_BLOCKS;
  /**
   * How often the run loop arrived at each offset with no block there (it compiles one at blocks.ts's HOT), or
   * BLOCK_HEAT where one starts.
   */
  readonly heat = new Uint16Array(4096);
  /** The blocks in `blocks`, to find those a write overlaps. */
  private blockList: Block[] = [];
  /** How many entries of `insns` are set (the fetch that caches one counts it). */
  live = 0;
  /** The view of `directory`: per offset, the table entry of the WebAssembly block there (0: none). */
  readonly entries: Int32Array | null;

  constructor(
    readonly gpa: number,
    /** Where its block directory is in the VM's WebAssembly memory (wasm/directories.ts; 0: none). */
    readonly directory = 0,
    directories: BlockDirectories | null = null,
  ) {
    this.entries = directory !== 0 && directories !== null ? directories.view(directory) : null;
    this.snapshot =
      directory !== 0 && directories !== null ? directories.snapshot(directory) : new Uint8Array(4096);
    this.snapshot32 = new Int32Array(this.snapshot.buffer, this.snapshot.byteOffset, 1024);
  }

  /**
   * Drops cached instructions and blocks that overlap `[offset, offset + len)`. Returns true when a block was
   * dropped: the block running now may be one of them, so the caller ends it (Stop.RESYNC).
   */
  invalidate(offset: number, len: number): boolean {
    const from = Math.max(offset - (MAX_INSN - 1), 0);
    const to = Math.min(offset + len, 4096);
    const insns = this.insns;
    const heat = this.heat;
    for (let k = from; k < to; k++) {
      const insn = insns[k];
      if (insn !== undefined && k + insn.len > offset) {
        insns[k] = undefined;
        heat[k] = 0;
        this.live--;
      }
    }
    const list = this.blockList;
    if (list.length === 0) return false;
    let dropped = false;
    let kept = 0;
    for (let k = 0; k < list.length; k++) {
      const b = list[k];
      if (b.lo < offset + len && offset < b.hi) {
        if (this.blocks[b.entry] === b) {
          this.blocks[b.entry] = undefined;
          if (this.entries !== null) this.entries[b.entry] = 0;
        }
        // Counted afresh: the run loop compiles an offset when its count reaches the threshold, exactly.
        this.heat[b.entry] = 0;
        dropped = true;
      } else list[kept++] = b;
    }
    list.length = kept;
    return dropped;
  }

  /** Sets the visit count at `offset`, unless a block starts there (its count is BLOCK_HEAT, the run loop's mark). */
  setHeat(offset: number, count: number): void {
    if (this.heat[offset] !== BLOCK_HEAT) this.heat[offset] = count;
  }

  /** Records a block compiled for this page (its instructions are this page's cached ones). */
  addBlock(block: Block): void {
    if (this.blocks === NO_BLOCKS) this.blocks = new Array(4096).fill(undefined);
    const old = this.blocks[block.entry];
    if (old !== undefined) this.blockList.splice(this.blockList.indexOf(old), 1);
    this.blocks[block.entry] = block;
    this.heat[block.entry] = BLOCK_HEAT;
    this.blockList.push(block);
    if (this.entries !== null) this.entries[block.entry] = block.wasm;
  }

  /** Whether no instruction and no block of this page is cached any more (writes then dropped them all). */
  isEmpty(): boolean {
    return this.live === 0 && this.blockList.length === 0;
  }

  /** Forgets every instruction and block (the page changed behind the CPU's back). */
  clearCode(): void {
    this.live = 0;
    this.insns.fill(undefined);
    this.heat.fill(0);
    if (this.blockList.length > 0) {
      this.blocks = NO_BLOCKS;
      this.blockList = [];
      this.entries?.fill(0);
    }
  }
}

/** Pages below this number (4 GiB) are tracked in `CodeCache.has`'s byte map. */
const BITS_LIMIT = 1 << 20;

/** All code pages of one VM. */
export class CodeCache {
  readonly pages = new Map<number, CodePage>();
  /** Bumped at each `run()`: pages are re-verified against memory once per generation. */
  generation = 0;
  /** Called when a page becomes a code page, so CPUs stop writing it through their fast path. */
  onNewPage: (gpa: number) => void = () => {};
  /** Called when a page stops being one, so CPUs drop their execute translations that still point at it. */
  onDropPage: (gpa: number) => void = () => {};
  /** Where pages get their WebAssembly block directories (null: no WebAssembly memory, no directories). */
  directories: BlockDirectories | null = null;

  /**
   * The code page at page-aligned `gpa`, creating it (with a snapshot of `bytes` at `offset`), or compared with
   * those bytes once per generation. `abs` is where they are in the WebAssembly memory (-1: not in it).
   */
  page(gpa: number, bytes: Uint8Array, offset: number, abs = -1): CodePage {
    let page = this.pages.get(gpa);
    if (!page) {
      page = new CodePage(gpa, this.directories?.take() ?? 0, this.directories);
      page.snapshot.set(bytes.subarray(offset, offset + 4096));
      page.verified = this.generation;
      this.pages.set(gpa, page);
      this.mark(gpa);
      this.onNewPage(gpa);
    } else if (page.verified !== this.generation) {
      if (!this.matches(page, bytes, offset, abs)) {
        page.clearCode();
        page.snapshot.set(bytes.subarray(offset, offset + 4096));
      }
      page.verified = this.generation;
    }
    return page;
  }

  /** Whether `page`'s snapshot equals the 4096 bytes of `bytes` at `offset` (at `abs` in the WebAssembly memory). */
  private matches(page: CodePage, bytes: Uint8Array, offset: number, abs: number): boolean {
    if (abs >= 0 && page.directory !== 0 && this.directories !== null) {
      return this.directories.matches(page.directory, abs);
    }
    // A word at a time: slots and their pages are 4 KiB aligned in their buffers.
    const mem = this.words(bytes);
    const at = (bytes.byteOffset + offset) >> 2;
    const snap = page.snapshot32;
    for (let k = 0; k < 1024; k++) if (snap[k] !== mem[at + k]) return false;
    return true;
  }

  /** The last buffer `words` viewed, and the view: a boot compares pages 130,000 times, mostly of one buffer. */
  private wordsOf: ArrayBufferLike | null = null;
  private wordsView: Int32Array = new Int32Array(0);

  /** An Int32Array over the whole buffer of `bytes`, made once per buffer rather than once per comparison. */
  private words(bytes: Uint8Array): Int32Array {
    if (bytes.buffer !== this.wordsOf) {
      this.wordsOf = bytes.buffer;
      this.wordsView = new Int32Array(bytes.buffer, 0, bytes.buffer.byteLength >> 2);
    }
    return this.wordsView;
  }

  /**
   * Whether the page at page-aligned `gpa` holds cached code: a byte per page below 4 GiB (the TLB fill asks
   * on every miss, and a typed-array load is much cheaper than a Map lookup), the Map above.
   */
  has(gpa: number): boolean {
    const n = gpa / 4096;
    if (n < this.bits.length) return this.bits[n] !== 0;
    return n >= BITS_LIMIT && this.pages.has(gpa);
  }

  private release(page: CodePage): void {
    if (page.entries !== null) this.directories?.give(page.directory, page.entries);
  }

  /** One byte per guest-physical page below 4 GiB, grown as code pages appear: 1 where `pages` has one. */
  private bits = new Uint8Array(0);

  private mark(gpa: number): void {
    const n = gpa / 4096;
    if (n >= BITS_LIMIT) return;
    if (n >= this.bits.length) {
      const grown = new Uint8Array(Math.min(BITS_LIMIT, Math.max(n + 1, this.bits.length * 2, 1024)));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[n] = 1;
  }

  /**
   * Stops treating the page at page-aligned `gpa` as code, once writes have dropped all its cached code: writes
   * to it take the TLB's fast path again. Memory that held code once (the kernel's decompressor, freed init
   * code) is often reused for data; a Linux boot wrote one such page 1.07 million times, each write through a
   * page walk. It becomes a code page again when code runs from it.
   */
  drop(gpa: number): void {
    const page = this.pages.get(gpa);
    if (page === undefined) return;
    this.pages.delete(gpa);
    this.release(page);
    const n = gpa / 4096;
    if (n < this.bits.length) this.bits[n] = 0;
    this.onDropPage(gpa);
  }

  /** Forgets everything (the memory map changed). */
  clear(): void {
    for (const page of this.pages.values()) this.release(page);
    this.pages.clear();
    this.bits.fill(0);
  }
}
