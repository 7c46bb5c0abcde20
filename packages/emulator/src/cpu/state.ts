/**
 * The register file of one emulated x86-64 CPU, kept in typed arrays and plain number fields so that the hot
 * loop reads and writes it without allocating. 64-bit general-purpose registers are pairs of 32-bit halves
 * (`r[2n]` low, `r[2n+1]` high): JavaScript numbers cannot hold 64 bits and bigint is far too slow per
 * instruction. Linear addresses, RIP and segment bases are numbers: canonical 48-bit addresses sign-extended,
 * which a double holds exactly (Intel SDM Vol. 1 3.3.7.1).
 */

import { holdDoubles } from '../hidden-classes.js';
import { Area, type CpuArea, FX_BYTES } from './wasm/layout.js';

/** Segment register numbers as instructions encode them (SDM Vol. 2 2.1.3), then LDTR and TR. */
export const Seg = { ES: 0, CS: 1, SS: 2, DS: 3, FS: 4, GS: 5, LDTR: 6, TR: 7 } as const;

/**
 * Bits of a packed segment attribute word: the descriptor's access byte and flags in the layout VMX uses for
 * "access rights" (SDM Vol. 3C 24.4.1), which is also what `kvm_segment` unpacks.
 */
export const SegAttr = {
  TYPE_MASK: 0xf,
  /** Accessed bit of a code/data type. */
  ACCESSED: 0x1,
  /** Code segment: readable; data segment: writable. */
  RW: 0x2,
  /** Code: conforming; data: expand-down. */
  CE: 0x4,
  CODE: 0x8,
  S: 0x10,
  DPL_SHIFT: 5,
  DPL_MASK: 0x60,
  P: 0x80,
  AVL: 0x1000,
  L: 0x2000,
  DB: 0x4000,
  G: 0x8000,
  UNUSABLE: 0x10000,
} as const;

/** RFLAGS bits (SDM Vol. 1 3.4.3). */
export const Flag = {
  CF: 0x1,
  FIXED: 0x2,
  PF: 0x4,
  AF: 0x10,
  ZF: 0x40,
  SF: 0x80,
  TF: 0x100,
  IF: 0x200,
  DF: 0x400,
  OF: 0x800,
  IOPL: 0x3000,
  NT: 0x4000,
  RF: 0x10000,
  VM: 0x20000,
  AC: 0x40000,
  VIF: 0x80000,
  VIP: 0x100000,
  ID: 0x200000,
} as const;

/** The six arithmetic flags that instructions compute. */
export const ARITH_FLAGS = 0x8d5;

/** CR0 bits (SDM Vol. 3A 2.5). */
export const Cr0 = {
  PE: 0x1,
  MP: 0x2,
  EM: 0x4,
  TS: 0x8,
  ET: 0x10,
  NE: 0x20,
  WP: 0x10000,
  AM: 0x40000,
  NW: 0x20000000,
  CD: 0x40000000,
  PG: 0x80000000,
} as const;

/** CR4 bits the emulator knows (SDM Vol. 3A 2.5). */
export const Cr4 = {
  VME: 0x1,
  PVI: 0x2,
  TSD: 0x4,
  DE: 0x8,
  PSE: 0x10,
  PAE: 0x20,
  MCE: 0x40,
  PGE: 0x80,
  PCE: 0x100,
  OSFXSR: 0x200,
  OSXMMEXCPT: 0x400,
  OSXSAVE: 0x40000,
} as const;

/** CR4 bits a guest may set: the features this CPU implements. Others raise #GP (SDM Vol. 3A 2.5). */
export const CR4_SUPPORTED =
  0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.OSXSAVE;

/** IA32_EFER bits (SDM Vol. 3A 2.2.1). */
export const Efer = { SCE: 0x1, LME: 0x100, LMA: 0x400, NXE: 0x800 } as const;

/** EFER bits a guest may set (SCE, LME, LMA as a read-only mirror, NXE). */
export const EFER_SUPPORTED = 0x1 | 0x100 | 0x400 | 0x800;

/**
 * Code-segment modes that change how instructions decode: default operand/address size 16, 32, or 64-bit
 * mode. Real mode and virtual-8086 mode decode as 16.
 */
export const CodeMode = { M16: 0, M32: 1, M64: 2 } as const;

/** Why the inner loop stopped before its instruction budget ran out; bits of `CpuState.stop`. */
export const Stop = {
  /** A fault is recorded in `faultVector` and must be delivered (cold path). */
  FAULT: 0x1,
  /** An exit for the VMM is ready (`exit` holds which). */
  EXIT: 0x2,
  /** State the loop caches changed (mode, IF, paging): re-check before going on. */
  RESYNC: 0x4,
  /** The instruction must not retire: a fault, or an MMIO read waiting for data. */
  ABORT: 0x8,
} as const;

/** The register file and the control state of one vCPU. */
export class CpuState {
  /**
   * General-purpose registers RAX..R15 as 32-bit halves: `r[2n]` low, `r[2n + 1]` high (in the vCPU's
   * WebAssembly area, wasm/layout.ts, when it has one: there they are the 64-bit words blocks use).
   */
  readonly r: Int32Array;
  /** RIP: a canonical address as a sign-extended number in 64-bit mode, else a 32-bit unsigned value. */
  rip = 0xfff0;
  /** Where the current instruction goes next (the loop commits it to `rip` when the instruction retires). */
  nextIp = 0;
  /** The non-lazy RFLAGS bits; the arithmetic flags in `lazyMask` are computed by `flags.ts` on demand. */
  flags: number = Flag.FIXED;

  // Lazy flags (flags.ts): the last flag-setting operation's kind, size and operands.
  lazyMask = 0;
  lazyOp = 0;
  lazySize = 4;
  lazyRes = 0;
  lazyResHi = 0;
  lazyDst = 0;
  lazyDstHi = 0;
  lazySrc = 0;
  lazySrcHi = 0;

  /** Segment selectors (Seg order), in the WebAssembly area when there is one. */
  readonly segSel: Int32Array;
  /** Segment bases (sign-extended canonical numbers; in the WebAssembly area when there is one). */
  readonly segBase: Float64Array;
  /** Segment limits in bytes, expanded by the G bit. */
  readonly segLimit = new Float64Array(8);
  /** Packed attributes (SegAttr). */
  readonly segAttr = new Int32Array(8);
  /** What data accesses through each segment may do outside 64-bit mode (segments.ts SegAcc). */
  readonly segAcc = new Int32Array(8);
  /** The effective address of the current instruction's memory operand, kept for read-modify-write. */
  ea = 0;

  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0xffff;

  cr0 = 0x60000010;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  xcr0 = 1;
  /** DR0-DR3, DR6, DR7 (DR4/DR5 alias DR6/DR7 when CR4.DE is clear). */
  readonly dr = new Float64Array([0, 0, 0, 0, 0xffff0ff0, 0x400]);

  /** Current privilege level. */
  cpl = 0;
  /** CodeMode of the current code segment. */
  codeMode: number = CodeMode.M16;
  /** EFER.LMA && CS.L. */
  long64 = false;

  /** Stop bits for the inner loop. */
  stop = 0;
  /** A recorded fault: vector, error code (-1 for none). */
  faultVector = -1;
  faultError = -1;
  /** Exceptions raised while delivering one, for double and triple fault (SDM Vol. 3A 6.15, Table 6-5). */
  deliveryDepth = 0;
  /** The interrupt shadow after STI or MOV SS: the instruction count at which it ends. */
  shadowUntil = -1;
  shadowKind = 0;
  /** Instructions retired: drives the TSC and the run budget. */
  retired = 0;
  /**
   * Faults delivered: they retire nothing, yet count against the run budget with `retired`, so a handler that
   * faults again at once (a real-mode IVT entry pointing at a faulting instruction) cannot hold `run()` forever.
   */
  faultsDelivered = 0;
  halted = false;
  /** A pending external interrupt queued with KVM_INTERRUPT (-1 none). */
  pendingIrq = -1;
  nmiPending = false;
  nmiMasked = false;

  // Model-specific registers the CPU uses (SDM Vol. 4).
  star = 0n;
  lstar = 0n;
  cstar = 0n;
  sfmask = 0n;
  kernelGsBase = 0;
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  tscOffset = 0n;
  apicBase = 0xfee00900n;
  pat = 0x0007040600070406n;
  miscEnable = 1n;
  tscAux = 0n;
  /** MTRRs and other MSRs kept only for round trips, keyed by index. */
  readonly otherMsrs = new Map<number, bigint>();

  /**
   * The XSAVE image (SDM Vol. 1 13.4) is the live x87/MMX/SSE state: the legacy area's FCW, FSW, FTW, MXCSR,
   * ST0-ST7 (stack order) and XMM0-15 are read and written in place by fpu/ and simd/, so KVM_GET/SET_XSAVE and
   * FXSAVE are copies. 64 bytes of scratch follow the image for SIMD memory operands (fpu/image.ts `Fx`).
   */
  readonly xsave: Uint8Array;
  /**
   * Views of the image and its scratch (FX_BYTES, in the vCPU's WebAssembly area when it has one, where compiled
   * blocks use the XMM registers) by lane type, indexed by byte offset >> log2(lane size).
   */
  readonly fxU8: Uint8Array;
  readonly fxI8: Int8Array;
  readonly fxU16: Uint16Array;
  readonly fxI16: Int16Array;
  readonly fxI32: Int32Array;
  readonly fxF32: Float32Array;
  readonly fxF64: Float64Array;

  constructor(readonly area: CpuArea | null = null) {
    this.r = area === null ? new Int32Array(32) : area.int32s(Area.REGS, 32);
    this.segBase = area === null ? new Float64Array(8) : area.float64s(Area.SEG_BASE, 8);
    this.segSel = area === null ? new Int32Array(8) : area.int32s(Area.SEG_SEL, 8);
    const buffer = area === null ? new ArrayBuffer(FX_BYTES) : area.buffer;
    const at = area === null ? 0 : area.offset + Area.FX;
    this.xsave = new Uint8Array(buffer, at, 4096);
    this.fxU8 = new Uint8Array(buffer, at, FX_BYTES);
    this.fxI8 = new Int8Array(buffer, at, FX_BYTES);
    this.fxU16 = new Uint16Array(buffer, at, FX_BYTES / 2);
    this.fxI16 = new Int16Array(buffer, at, FX_BYTES / 2);
    this.fxI32 = new Int32Array(buffer, at, FX_BYTES / 4);
    this.fxF32 = new Float32Array(buffer, at, FX_BYTES / 4);
    this.fxF64 = new Float64Array(buffer, at, FX_BYTES / 8);
    holdDoubles(this, WIDE_FIELDS);
  }
}

/**
 * CPU fields that outgrow V8's small integers in a run (addresses, 64-bit halves stored unsigned, counters
 * past 2^31). Each one that started as a small integer changed its field's representation the first time it
 * did, which gives the CPU object a new hidden class and throws away every optimized function and compiled
 * block that had seen the old one: a Linux boot took 13 such changes, each deoptimizing dozens of functions.
 */
const WIDE_FIELDS = [
  'rip',
  'nextIp',
  'lazyRes',
  'lazyDst',
  'lazySrc',
  'ea',
  'gdtBase',
  'idtBase',
  'cr0',
  'cr2',
  'cr3',
  'kernelGsBase',
  'sysenterEsp',
  'sysenterEip',
  'retired',
  'shadowUntil',
] as const;
