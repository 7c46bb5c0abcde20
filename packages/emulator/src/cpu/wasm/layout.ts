/**
 * Where a vCPU's state lives in its VM's WebAssembly memory (memory/wasm-arena.ts): the parts compiled
 * WebAssembly blocks read and write. The CPU's JavaScript code uses the same bytes through typed-array views
 * (`CpuState.r`, `segBase`, the TLB's tag arrays), so neither side copies them.
 */
import type { WasmArena } from '../../memory/wasm-arena.js';
import { type Code, Op } from './encoder.js';

/**
 * Bits of a TLB index (mmu.ts's `tlbIndex`). A Linux boot on 16,384 entries made 118,000 side exits from
 * WebAssembly blocks, against 224,000 on 4,096: the difference were pages other pages had evicted (32,768 entries
 * made 117,000). Booted side by side with 4,096 entries, it took 98% of the time.
 */
export const TLB_BITS = 14;

/** Entries in the TLB (mmu.ts's TLB_SIZE): a direct-mapped table of 2^TLB_BITS entries. */
export const TLB_ENTRIES = 1 << TLB_BITS;

/** Bytes of `CpuState`'s x87/SSE buffer: the 4 KiB XSAVE image and 64 bytes of scratch for SIMD operands. */
export const FX_BYTES = 4096 + 64;

/** Where the x87/SSE buffer starts: after the TLB arrays, 64-byte aligned. */
const FX = 4096 + TLB_ENTRIES * 56;

/**
 * Turns the page number on the stack (wrapped to an i32) into its TLB entry, mmu.ts's `tlbIndex`, left on the
 * stack: the low TLB_BITS bits xor the TLB_BITS above them. `scratch` is an i32 local it may use.
 */
export function tlbIndexCode(c: Code, scratch: number): void {
  c.tee(scratch)
    .get(scratch)
    .i32(TLB_BITS)
    .op(Op.I32_SHR_U)
    .op(Op.I32_XOR)
    .i32(TLB_ENTRIES - 1)
    .op(Op.I32_AND);
}

/** Byte offsets inside one vCPU's area. */
export const Area = {
  /** RAX..R15 as 16 little-endian 64-bit words (`CpuState.r`'s 32-bit halves). */
  REGS: 0,
  /**
   * The lazy-flags record, as int32s in `LazySlot` order: the glue stores the CPU's before a run (a block that
   * reads flags before it sets them computes them from it) and copies it back after a block that set flags.
   */
  LAZY: 128,
  /** The RIP a block ended at (a float64, as `CpuState.rip` holds it). */
  NEXT_RIP: 176,
  /** The same as an i64, for the dispatcher, after a block's ordinary end (not a side exit). */
  NEXT_RIP64: 184,
  /** `CpuState.segBase`: eight float64 segment bases in Seg order. */
  SEG_BASE: 192,
  /** `CpuState.segSel`: eight int32 segment selectors in Seg order (for MOV r/m, Sreg). */
  SEG_SEL: 256,
  /** The TLB's tag arrays (float64 linear page numbers, NaN for none), one TLB_ENTRIES-entry array each. */
  TLB_RS: 4096,
  TLB_WS: 4096 + TLB_ENTRIES * 8,
  TLB_XS: 4096 + TLB_ENTRIES * 16,
  TLB_RU: 4096 + TLB_ENTRIES * 24,
  TLB_WU: 4096 + TLB_ENTRIES * 32,
  TLB_XU: 4096 + TLB_ENTRIES * 40,
  /** Per TLB entry, where its page starts in the WebAssembly memory (int32), or -1 when not in it. */
  TLB_ABS: 4096 + TLB_ENTRIES * 48,
  /**
   * Per TLB entry with an execute tag, where its code page's block directory is (int32, 0: none): the
   * dispatcher finds the next block there (directories.ts).
   */
  TLB_DIR: 4096 + TLB_ENTRIES * 52,
  /**
   * `CpuState.xsave` and the scratch after it (FX_BYTES): the live x87/MMX/SSE state, where compiled blocks
   * read and write XMM registers (fpu/image.ts's Fx offsets from here). 64-byte aligned, as XSAVE wants.
   */
  FX,
  /**
   * An int32, 1 when SSE instructions run (CR0.EM and CR0.TS clear, CR4.OSFXSR set: fpu/checks.ts's
   * `sseReady`), else 0: the glue stores it before a run, and a block's first SSE instruction leaves to the
   * handler (#UD or #NM) when it is 0.
   */
  SSE_READY: FX + FX_BYTES,
  /** An int32, the CPL: the glue stores it before a run, for CLI's check against IOPL. */
  CPL: FX + FX_BYTES + 4,
  /** Bytes in one area. */
  SIZE: FX + FX_BYTES + 64,
} as const;

/** The int32 slots of the lazy-flags record at `Area.LAZY`, in the CPU's field order, then the flags. */
export const LazySlot = {
  OP: 0,
  SIZE: 1,
  RES: 2,
  RES_HI: 3,
  DST: 4,
  DST_HI: 5,
  SRC: 6,
  SRC_HI: 7,
  MASK: 8,
  /** `CpuState.flags`, the non-lazy bits: the glue stores it before a run, blocks load it and store it back. */
  FLAGS: 9,
} as const;

/** One vCPU's area: its offset in the arena and the views the CPU keeps. */
export class CpuArea {
  readonly buffer: ArrayBufferLike;
  /** The whole area as int32s and as float64s (the lazy-flags record, NEXT_RIP). */
  readonly i32: Int32Array;
  readonly f64: Float64Array;

  private constructor(
    readonly arena: WasmArena,
    /** Where the area starts in the memory (page-aligned). */
    readonly offset: number,
  ) {
    this.buffer = arena.buffer;
    this.i32 = new Int32Array(this.buffer, offset, Area.SIZE / 4);
    this.f64 = new Float64Array(this.buffer, offset, Area.SIZE / 8);
  }

  /** A new area in `arena`, or null when the arena has no room (or no memory). */
  static create(arena: WasmArena | null): CpuArea | null {
    if (arena === null) return null;
    const offset = arena.alloc(Area.SIZE);
    return offset < 0 ? null : new CpuArea(arena, offset);
  }

  /** An Int32Array over `count` int32s at byte offset `at` of the area. */
  int32s(at: number, count: number): Int32Array {
    return new Int32Array(this.buffer, this.offset + at, count);
  }

  /** A Float64Array over `count` float64s at byte offset `at` of the area. */
  float64s(at: number, count: number): Float64Array {
    return new Float64Array(this.buffer, this.offset + at, count);
  }
}
