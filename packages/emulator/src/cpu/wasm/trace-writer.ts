/**
 * The machinery the WebAssembly block compiler (block-compiler.ts) writes instructions with: the block
 * function's locals, its exits (ordinary and side exits), guest registers held in locals, memory operands
 * through the TLB probe, and the arithmetic flags as the trace set them (a lazy record in locals, or RFLAGS in
 * FL), computed only where an instruction reads them. block-compiler.ts's `Compiler` adds the instruction forms
 * and the function's frame.
 */
import type { Insn } from '../decode.js';
import { InsnFlag, NO_REG } from '../decode.js';
import { LazyOp } from '../flags.js';
import { ARITH_FLAGS, Flag, Seg } from '../state.js';
import { Code, Op, T } from './encoder.js';
import { Area, LazySlot, tlbIndexCode } from './layout.js';
import type { Trace } from './trace.js';
import type { VectorHost } from './vector.js';

// Locals: the four parameters, then these.
export const BASE = 0;
export const RIP_F = 1;
export const ROOM = 2;
export const USER = 3;
export const RIP0 = 4;
export const N = 5;
export const LOP = 6;
export const LSIZE = 7;
export const LRES = 8;
export const LDST = 9;
export const LSRC = 10;
export const FW = 11;
export const EXIT = 12;
export const RET = 13;
export const TAG_R = 14;
export const TAG_W = 15;
export const LIN = 16;
export const ADDR = 17;
export const A = 18;
export const B = 19;
export const V = 20;
export const IX = 21;
/** The page number in `probe` (A and B may hold operands there). */
export const PN = 22;
/** The non-lazy RFLAGS bits (`CpuState.flags`), loaded at entry: shifts and INC/DEC write CF, OF, AF there. */
export const FL = 23;
/** The lazy-flags record's mask (`CpuState.lazyMask`). */
export const LMASK = 24;
/** An i32 scratch for conditions. */
export const Q = 25;
/** The carry into the trace's last ADC or SBB (its lazy op, ADC1/SBB1 or ADD/SUB, follows it). */
export const CIN = 26;
/** i64 scratch: a shift's count from CL, IMUL's partial products. */
export const T1 = 27;
export const T2 = 28;
/** Where a side exit happened, for the shared tail (see `side`). */
export const SIDE = 29;
/**
 * RAX..R15 held in locals while the block runs (V8 keeps them in machine registers): those it reads are loaded
 * at entry, those it writes stored back in the exit tail, which every exit goes through.
 */
export const R0 = 30;
export const LOCALS = [
  T.I64, // RIP0
  T.I32, // N
  T.I32, // LOP
  T.I32, // LSIZE
  T.I64, // LRES
  T.I64, // LDST
  T.I64, // LSRC
  T.I32, // FW
  T.I32, // EXIT
  T.I32, // RET
  T.I32, // TAG_R
  T.I32, // TAG_W
  T.I64, // LIN
  T.I32, // ADDR
  T.I64, // A
  T.I64, // B
  T.I64, // V
  T.I32, // IX
  T.I64, // PN
  T.I32, // FL
  T.I32, // LMASK
  T.I32, // Q
  T.I32, // CIN
  T.I64, // T1
  T.I64, // T2
  T.I32, // SIDE
  ...new Array<number>(16).fill(T.I64), // R0..R15
];

// Constants as numbers (exact below 2^53): the generator runs thousands of times in a boot, and BigInt is slow.
export const MASK32 = 0xffffffff;

/** The value mask of an operand size. */
export function maskOf(size: number): number {
  // Constants, not 2 ** bits: the generator asks for masks at nearly every operand.
  return size === 8 ? -1 : size === 4 ? MASK32 : size === 2 ? 0xffff : 0xff;
}
export const TWO47 = 2 ** 47;
export const TWO48 = 2 ** 48;

/** The compiler's knowledge of the flags at one point of a trace (`TraceWriter.flagState`). */
export interface FlagState {
  readonly lastOp: number;
  readonly lastSize: number;
  readonly cfInFl: boolean;
  readonly eager: boolean;
  readonly known: boolean;
}

/**
 * The body's and the prologue's writers, reused from one trace to the next (compiling is not re-entrant): a
 * boot compiles thousands of traces, and fresh typed arrays, grown and copied, cost more than the writing.
 */
export const BODY = new Code(16384);
export const HEAD = new Code(1024);
/** The state and the helpers of one trace's function as it is written. */
export abstract class TraceWriter implements VectorHost {
  readonly c = BODY.reset();
  /** Registers the block reads and writes (bit n: register n), for the loads at entry and the stores at exit. */
  protected used = 0;
  protected written = 0;
  /** Labels open inside the side-exit block (a `br` of this depth goes to the side-exit tail, one more to the exit tail). */
  protected depth = 0;
  /**
   * How the flags were last set in the trace so far: the lazy op (LazyOp), its size, and whether CF is in FL
   * rather than computed from the operands (after INC/DEC and shifts).
   */
  protected lastOp = 0;
  protected lastSize = 0;
  protected cfInFl = false;
  /** Whether every arithmetic flag is in FL (after a rotate: the lazy record holds none). */
  protected eager = false;
  /**
   * Whether the trace so far set the flags, so readers compile from how it did. Before that, the first reader
   * computes them all from the lazy record (`flagsFromRecord`), which the prologue then loads from the area.
   */
  protected known = false;
  /** Whether any reader came before a writer: the prologue loads the lazy record into its locals. */
  protected readsRecord = false;

  constructor(protected readonly t: Trace) {}

  /**
   * Loads the lazy-flags record the JavaScript side (or the block before) left in the area into the record's
   * locals, each operand masked to the record's size: the JavaScript side keeps the upper half of a narrower
   * operand as it was.
   */
  protected static loadRecord(c: Code): void {
    const field = (slot: number, type: number, local: number) => {
      c.get(BASE).mem(
        type === T.I32 ? Op.I32_LOAD : Op.I64_LOAD,
        type === T.I32 ? 2 : 3,
        Area.LAZY + slot * 4,
      );
      if (type === T.I64) c.get(T1).op(Op.I64_AND);
      c.set(local);
    };
    field(LazySlot.OP, T.I32, LOP);
    field(LazySlot.SIZE, T.I32, LSIZE);
    field(LazySlot.MASK, T.I32, LMASK);
    // T1: the size's value mask, all ones at 8 bytes (a 64-bit shift count wraps).
    c.i64(-1)
      .i64(1)
      .get(LSIZE)
      .i32(3)
      .op(Op.I32_SHL)
      .op(Op.I64_EXTEND_I32_U)
      .op(Op.I64_SHL)
      .i64(1)
      .op(Op.I64_SUB);
    c.get(LSIZE).i32(8).op(Op.I32_EQ).byte(Op.SELECT).set(T1);
    field(LazySlot.RES, T.I64, LRES);
    field(LazySlot.DST, T.I64, LDST);
    field(LazySlot.SRC, T.I64, LSRC);
  }

  protected static tagBase(c: Code, local: number, supervisor: number, user: number): void {
    c.get(BASE).i32(user).op(Op.I32_ADD);
    c.get(BASE).i32(supervisor).op(Op.I32_ADD);
    c.get(USER).byte(Op.SELECT); // the first when USER is not 0
    c.set(local);
  }

  protected storeLazy(slot: number, value: () => void): void {
    this.c.get(BASE);
    value();
    this.c.mem(Op.I32_STORE, 2, Area.LAZY + slot * 4);
  }

  // ---- Exits --------------------------------------------------------------------------------------------

  /** Leaves to the exit tail with `exit` and `retired` (N + `done`) set. */
  protected leave(exit: number, done: number): void {
    const c = this.c;
    c.i32(exit).set(EXIT);
    c.get(N).i32(done).op(Op.I32_ADD).set(RET);
    c.br(this.depth + 1);
  }

  /**
   * Stops before instruction k when the i32 on the stack is not 0 (a side exit): the shared side-exit tail makes
   * k's RIP the next, and the glue runs k through its handler. SIDE is set once per instruction and nesting
   * level, and each check is a br_if: a memory access has four, and small modules compile faster.
   */
  sideIf(k: number): void {
    if (this.sideFor !== k || this.sideDepth !== this.depth) {
      this.c.i32(((this.t.at[k] + 4096) << 8) | k).set(SIDE);
      this.sideFor = k;
      this.sideDepth = this.depth;
    }
    this.c.brIf(this.depth);
  }

  /** The instruction and nesting level SIDE was last set for (see `sideIf`). */
  protected sideFor = -1;
  protected sideDepth = -1;

  /** Ends after instruction k with the next RIP `rip` (an i64 the callback pushes). */
  protected exitTo(k: number, rip: () => void): void {
    this.storeNext(rip);
    this.leave(0, k + 1);
  }

  /**
   * Leaves the next RIP, the i64 the callback pushes, at Area.NEXT_RIP as a float64 (the glue's) and at
   * NEXT_RIP64 (the dispatcher's, which then converts nothing: a float64-to-i64 truncation is checked).
   */
  protected storeNext(rip: () => void): void {
    const c = this.c;
    rip();
    c.set(LIN);
    c.get(BASE).get(LIN).op(Op.F64_CONVERT_I64_S).mem(Op.F64_STORE, 3, Area.NEXT_RIP);
    c.get(BASE).get(LIN).mem(Op.I64_STORE, 3, Area.NEXT_RIP64);
  }

  /** Pushes the RIP at offset `off` from the entry. */
  protected ripAt(off: number): void {
    this.c.get(RIP0).i64(off).op(Op.I64_ADD);
  }

  /** Where the trace goes after instruction k (its fall-through, or a followed target). */
  protected nextOffset(k: number): number {
    const { insns, at, follow, expect } = this.t;
    const i = insns[k];
    const fall = at[k] + i.len;
    if (follow[k]) return fall + (i.imm | 0);
    if (expect[k] >= 0) return expect[k] - this.t.entry;
    return fall;
  }

  /**
   * Side exit at k unless the i64 in local `v` is canonical (SDM Vol. 1 3.3.7.1), as branch targets must be:
   * a branch to a non-canonical address raises #GP in its handler.
   */
  protected canonicalOrSide(k: number, v: number): void {
    const c = this.c;
    c.get(v).i64(TWO47).op(Op.I64_ADD).i64(TWO48).op(Op.I64_GE_U);
    this.sideIf(k);
  }

  // ---- Registers ----------------------------------------------------------------------------------------

  protected reg(n: number): void {
    this.used |= 1 << n;
    this.c.get(R0 + n);
  }

  /** Stores the i64 the callback pushes into register n, zero-extending a 32-bit value (SDM Vol. 1 3.4.1.1). */
  setReg(n: number, size: number, value: () => void): void {
    const c = this.c;
    value();
    if (size === 4) c.i64(MASK32).op(Op.I64_AND);
    c.set(R0 + n);
    // A register written but never read is still loaded at entry: an exit before the write stores it back.
    this.used |= 1 << n;
    this.written |= 1 << n;
  }

  /**
   * Pushes register n at `size`, zero-extended. For size 1, n is a byte register as the decoder gives it
   * (`regB`/`rmB`): 16-19 are AH, CH, DH, BH, bits 15:8 of RAX..RBX.
   */
  protected regAt(n: number, size: number): void {
    const c = this.c;
    if (size === 1 && n >= 16) {
      this.reg(n - 16);
      c.i64(8).op(Op.I64_SHR_U).i64(0xff).op(Op.I64_AND);
      return;
    }
    this.reg(n);
    if (size !== 8) c.i64(maskOf(size)).op(Op.I64_AND);
  }

  /**
   * Writes the i64 the callback pushes to register n at `size`: 8 and 4 as `setReg`, 2 and 1 into their bits
   * only (AH..BH for byte registers 16-19), as the interpreter's setReg does.
   */
  protected setRegAt(n: number, size: number, value: () => void): void {
    const c = this.c;
    if (size >= 4) {
      this.setReg(n, size, value);
      return;
    }
    const high = size === 1 && n >= 16;
    const r = high ? n - 16 : n;
    const field = (size === 1 ? 0xff : 0xffff) * (high ? 256 : 1);
    this.setReg(r, 8, () => {
      this.reg(r);
      c.i64(~field).op(Op.I64_AND);
      value();
      if (high) c.i64(8).op(Op.I64_SHL);
      c.i64(field).op(Op.I64_AND).op(Op.I64_OR);
    });
  }

  /** The register operand of `i` named by its ModRM reg field, for its operand size. */
  protected static regField(i: Insn): number {
    return i.osize === 1 ? i.regB : i.reg;
  }

  /** The register operand of `i` named by its ModRM r/m field (mod 3), for its operand size. */
  protected static rmField(i: Insn): number {
    return i.osize === 1 ? i.rmB : i.rm;
  }

  /** Pushes the immediate of `i` at `size`: sign-extended to 64 bits, or the value at the size. */
  protected imm(i: Insn, size: number): void {
    // Sign-extended to 64 bits, or the value at the size (`>>> 0` and `&` both leave non-negative numbers).
    this.c.i64(size === 8 ? i.imm | 0 : size === 4 ? i.imm >>> 0 : i.imm & maskOf(size));
  }

  // ---- Memory -------------------------------------------------------------------------------------------

  /** Pushes instruction k's effective address (SDM Vol. 2 2.2.1.6 for RIP-relative), modulo 2^64. */
  protected effective(k: number): void {
    const c = this.c;
    const i = this.t.insns[k];
    c.i64(i.disp | 0);
    if (i.flags & InsnFlag.RIPREL) {
      this.ripAt(this.t.at[k] + i.len);
      c.op(Op.I64_ADD);
    }
    if (i.base !== NO_REG) {
      this.reg(i.base);
      c.op(Op.I64_ADD);
    }
    if (i.index !== NO_REG) {
      this.reg(i.index);
      if (i.scale) c.i64(i.scale).op(Op.I64_SHL);
      c.op(Op.I64_ADD);
    }
  }

  /**
   * Leaves in ADDR where the `size` bytes at linear address LIN are in the WebAssembly memory, or side-exits at
   * k: mmu.ts's TLB probe with the read or write tags of the privilege, within one page, in the arena. A
   * non-canonical LIN side-exits too, so its handler raises the #GP (operands.ts's linearOf): tags hold only
   * canonical page numbers, and `lin >> 12` converts to a float64 exactly, so no tag matches one.
   */
  protected probe(k: number, size: number, write: boolean): void {
    this.probeWithin(k, write, size, -1);
  }

  /** `probe` for the `len` bytes at LIN, `len` an i32 local from 1 to 4096 (a string instruction's span). */
  protected probeSpan(k: number, len: number, write: boolean): void {
    this.probeWithin(k, write, 0, len);
  }

  /** `probe` of `size` bytes, or of as many as i32 local `len` holds when it is not -1. */
  private probeWithin(k: number, write: boolean, size: number, len: number): void {
    const c = this.c;
    // The tag of the page number's entry must equal it.
    c.get(LIN).i64(12).op(Op.I64_SHR_S).tee(PN);
    c.op(Op.I32_WRAP_I64);
    tlbIndexCode(c, IX);
    c.tee(IX);
    c.i32(3)
      .op(Op.I32_SHL)
      .get(write ? TAG_W : TAG_R)
      .op(Op.I32_ADD)
      .mem(Op.F64_LOAD, 3, 0);
    c.get(PN).op(Op.F64_CONVERT_I64_S).op(Op.F64_NE);
    this.sideIf(k);
    // Within the page.
    c.get(LIN).op(Op.I32_WRAP_I64).i32(4095).op(Op.I32_AND).tee(ADDR);
    if (len < 0) c.i32(4096 - size).op(Op.I32_GT_U);
    else c.get(len).op(Op.I32_ADD).i32(4096).op(Op.I32_GT_U);
    this.sideIf(k);
    // In the arena.
    c.get(IX).i32(2).op(Op.I32_SHL).get(BASE).op(Op.I32_ADD).mem(Op.I32_LOAD, 2, Area.TLB_ABS).tee(IX);
    c.i32(0).op(Op.I32_LT_S);
    this.sideIf(k);
    c.get(IX).get(ADDR).op(Op.I32_ADD).set(ADDR);
  }

  /**
   * Instruction k's memory operand: LIN from the effective address (plus the i64 `extra` pushes, a bit string's
   * unit offset) plus an FS or GS base, then `probe`.
   */
  operand(k: number, size: number, write: boolean, extra?: () => void): void {
    const c = this.c;
    const i = this.t.insns[k];
    this.effective(k);
    if (extra !== undefined) {
      extra();
      c.op(Op.I64_ADD);
    }
    c.set(LIN);
    if (i.seg === Seg.FS || i.seg === Seg.GS) {
      // The interpreter's sum with the base is exact only for an effective address within ±2^48 (without a
      // base, `probe`'s tags cover it).
      c.get(LIN)
        .i64(TWO48)
        .op(Op.I64_ADD)
        .i64(TWO48 * 2)
        .op(Op.I64_GE_U);
      this.sideIf(k);
      c.get(LIN)
        .get(BASE)
        .mem(Op.F64_LOAD, 3, Area.SEG_BASE + i.seg * 8)
        .op(Op.I64_TRUNC_F64_S);
      c.op(Op.I64_ADD).set(LIN);
    }
    this.probe(k, size, write);
  }

  /** Pushes the `size` bytes at ADDR, zero-extended (sign-extended with `signed`). */
  protected load(size: number, signed = false): void {
    const c = this.c;
    c.get(ADDR);
    if (size === 8) c.mem(Op.I64_LOAD, 0, 0);
    else if (size === 4) c.mem(signed ? Op.I64_LOAD32_S : Op.I64_LOAD32_U, 0, 0);
    else if (size === 2) c.mem(signed ? Op.I64_LOAD16_S : Op.I64_LOAD16_U, 0, 0);
    else c.mem(signed ? Op.I64_LOAD8_S : Op.I64_LOAD8_U, 0, 0);
  }

  /** Pushes instruction k's r/m operand (memory or a register, not a byte register) at `size`, zero-extended. */
  source(k: number, size: number): void {
    const i = this.t.insns[k];
    if (i.mod !== 3) {
      this.operand(k, size, false);
      this.load(size);
    } else this.regAt(i.rm, size);
  }

  /** Stores the low `size` bytes of the i64 the callback pushes at ADDR. */
  store(size: number, value: () => void): void {
    this.c.get(ADDR);
    value();
    const op =
      size === 8 ? Op.I64_STORE : size === 4 ? Op.I64_STORE32 : size === 2 ? Op.I64_STORE16 : Op.I64_STORE8;
    this.c.mem(op, 0, 0);
  }

  // ---- Flags --------------------------------------------------------------------------------------------

  /**
   * Records a flag-setting operation as flags.ts's setLazy does: its kind and size, operands in A and B, result
   * in V, and which flags the record holds (`mask`; the others are in FL).
   */
  protected record(lazy: number, size: number, mask: number = ARITH_FLAGS): void {
    const c = this.c;
    c.i32(lazy).set(LOP);
    c.i32(size).set(LSIZE);
    c.get(V).set(LRES);
    c.get(A).set(LDST);
    c.get(B).set(LSRC);
    c.i32(mask).set(LMASK);
    c.i32(1).set(FW);
    this.lastOp = lazy;
    this.lastSize = size;
    this.cfInFl = (mask & Flag.CF) === 0;
    this.eager = false;
    this.known = true;
  }

  /**
   * After an instruction that left every arithmetic flag in FL (a rotate, BT and kin): the record holds none, as
   * after flags.ts's putCf, and readers compile from FL.
   */
  protected flagsInFl(): void {
    this.c.i32(0).set(LMASK);
    this.c.i32(1).set(FW);
    this.eager = true;
    this.cfInFl = true;
    this.known = true;
  }

  /**
   * For the first flag reader of a trace that has not set the flags: every flag computed into FL from the lazy
   * record in its locals, whatever operation it holds (flags.ts's getFlags, decided at run time), and the record
   * emptied, so the trace goes on as after a rotate. Runs between instructions (A, B, T2 and Q are free).
   */
  protected flagsFromRecord(): void {
    const c = this.c;
    this.readsRecord = true;
    /** Pushes whether the record's op is an addition or subtraction (ADD, ADC1, SUB, SBB1). */
    const arith = () => c.get(LOP).i32(LazyOp.ADD).op(Op.I32_SUB).i32(4).op(Op.I32_LT_U);
    /** Pushes whether the record's op is an addition (ADD, ADC1), selecting the first of two values. */
    const addition = () => c.get(LOP).i32(LazyOp.SUB).op(Op.I32_LT_U);
    // T2: the sign bit's position.
    c.get(LSIZE).i32(3).op(Op.I32_SHL).i32(1).op(Op.I32_SUB).op(Op.I64_EXTEND_I32_U).set(T2);
    // CF: ADD res < dst, ADC1 res <= dst, SUB dst < src, SBB1 dst <= src (flags.ts's lazyCf).
    c.get(LRES).get(LDST);
    addition();
    c.byte(Op.SELECT).set(A);
    c.get(LDST).get(LSRC);
    addition();
    c.byte(Op.SELECT).set(B);
    c.get(A).get(B).op(Op.I64_LE_U).get(A).get(B).op(Op.I64_LT_U);
    c.get(LOP).i32(1).op(Op.I32_AND).op(Op.I32_EQZ); // ADC1 and SBB1 are the even ops
    c.byte(Op.SELECT);
    arith();
    c.op(Op.I32_AND).set(Q);
    // OF: the operands' and result's signs (flags.ts's lazyOf).
    c.get(LDST).get(LRES).op(Op.I64_XOR).get(LSRC).get(LRES).op(Op.I64_XOR).op(Op.I64_AND);
    c.get(LDST).get(LSRC).op(Op.I64_XOR).get(LDST).get(LRES).op(Op.I64_XOR).op(Op.I64_AND);
    addition();
    c.byte(Op.SELECT).get(T2).op(Op.I64_SHR_U).op(Op.I32_WRAP_I64).i32(1).op(Op.I32_AND);
    arith();
    c.op(Op.I32_AND).i32(11).op(Op.I32_SHL).get(Q).op(Op.I32_OR);
    // AF: bit 4 of res ^ dst ^ src, 0 after a logic op.
    c.get(LRES)
      .get(LDST)
      .op(Op.I64_XOR)
      .get(LSRC)
      .op(Op.I64_XOR)
      .op(Op.I32_WRAP_I64)
      .i32(Flag.AF)
      .op(Op.I32_AND);
    c.i32(0).get(LOP).i32(LazyOp.LOGIC).op(Op.I32_NE).byte(Op.SELECT).op(Op.I32_OR);
    // ZF, SF, PF from the result.
    c.get(LRES).op(Op.I64_EQZ).i32(6).op(Op.I32_SHL).op(Op.I32_OR);
    c.get(LRES).get(T2).op(Op.I64_SHR_U).op(Op.I32_WRAP_I64).i32(1).op(Op.I32_AND).i32(7).op(Op.I32_SHL);
    c.op(Op.I32_OR);
    c.get(LRES).op(Op.I32_WRAP_I64).i32(0xff).op(Op.I32_AND).op(Op.I32_POPCNT).i32(1).op(Op.I32_AND);
    c.op(Op.I32_EQZ).i32(2).op(Op.I32_SHL).op(Op.I32_OR).set(Q);
    // The record's flags from it, the others from FL; then the record holds none.
    c.get(FL).get(LMASK).i32(-1).op(Op.I32_XOR).op(Op.I32_AND).get(Q).get(LMASK).op(Op.I32_AND).op(Op.I32_OR);
    c.set(FL);
    c.i32(0).set(LMASK);
    c.i32(1).set(FW);
    this.known = true;
    this.eager = true;
    this.cfInFl = true;
  }

  /** What the compiler knows of the flags at this point of the trace, to compare where two paths join. */
  protected flagState(): FlagState {
    return {
      lastOp: this.lastOp,
      lastSize: this.lastSize,
      cfInFl: this.cfInFl,
      eager: this.eager,
      known: this.known,
    };
  }

  /**
   * Where paths join (a forward branch's target inside the trace): when one came with flags set otherwise
   * than the others, readers after the join compute them from the lazy record in the locals, which every
   * flag writer keeps current on every path (`record`, `flagsInFl`, `flagsFromRecord`). `fallsThrough`: whether
   * the instruction before comes here too (not when its path ended there).
   */
  protected joinFlags(others: readonly FlagState[], fallsThrough: boolean): void {
    if (!fallsThrough) {
      // Only the branches come here: start from what the first knew.
      ({ lastOp: this.lastOp, lastSize: this.lastSize, cfInFl: this.cfInFl, eager: this.eager } = others[0]);
      this.known = others[0].known;
    }
    for (const o of others) {
      if (
        o.lastOp !== this.lastOp ||
        o.lastSize !== this.lastSize ||
        o.cfInFl !== this.cfInFl ||
        o.eager !== this.eager ||
        o.known !== this.known
      ) {
        this.known = false;
        return;
      }
    }
  }

  /** Pushes bit `bit` of FL as an i32. */
  protected flBit(bit: number): void {
    this.c.get(FL).i32(bit).op(Op.I32_SHR_U).i32(1).op(Op.I32_AND);
  }

  /** AF: from FL where the record does not hold it, 0 after a logic op, else bit 4 of res ^ dst ^ src. */
  protected af(): void {
    const c = this.c;
    if (this.eager || this.lastOp === LazyOp.RESULT) this.flBit(4);
    else if (this.lastOp === LazyOp.LOGIC) c.i32(0);
    else {
      c.get(LRES).get(LDST).op(Op.I64_XOR).get(LSRC).op(Op.I64_XOR).op(Op.I32_WRAP_I64);
      c.i32(4).op(Op.I32_SHR_U).i32(1).op(Op.I32_AND);
    }
  }

  /** Pushes the whole RFLAGS value with the lazy flags computed (flags.ts's getFlags). */
  protected materialize(): void {
    const c = this.c;
    c.get(FL).i32(~ARITH_FLAGS).op(Op.I32_AND);
    this.cf();
    c.op(Op.I32_OR);
    const parts: [() => void, number][] = [
      [() => this.pf(), 2],
      [() => this.af(), 4],
      [() => this.zf(), 6],
      [() => this.sf(), 7],
      [() => this.of(), 11],
    ];
    for (const [flag, bit] of parts) {
      flag();
      c.i32(bit).op(Op.I32_SHL).op(Op.I32_OR);
    }
  }

  /** Pushes bit `size * 8 - 1` of local `v` as an i32. */
  protected sign(v: number, size: number): void {
    this.c
      .get(v)
      .i64(size * 8 - 1)
      .op(Op.I64_SHR_U)
      .op(Op.I32_WRAP_I64)
      .i32(1)
      .op(Op.I32_AND);
  }

  protected zf(): void {
    if (this.eager) this.flBit(6);
    else this.c.get(LRES).op(Op.I64_EQZ);
  }

  protected sf(): void {
    if (this.eager) this.flBit(7);
    else this.sign(LRES, this.lastSize);
  }

  /** PF: even parity of the result's low byte. */
  protected pf(): void {
    if (this.eager) {
      this.flBit(2);
      return;
    }
    this.c.get(LRES).op(Op.I32_WRAP_I64).i32(0xff).op(Op.I32_AND).op(Op.I32_POPCNT).i32(1).op(Op.I32_AND);
    this.c.op(Op.I32_EQZ);
  }

  protected cf(): void {
    const c = this.c;
    if (this.cfInFl) c.get(FL).i32(Flag.CF).op(Op.I32_AND);
    else if (this.lastOp === LazyOp.ADC1) {
      // ADC: with a carry in, the result wrapped when it is not above dst (flags.ts's ADC1), else below it.
      c.get(LRES).get(LDST).op(Op.I64_LE_U).get(LRES).get(LDST).op(Op.I64_LT_U).get(CIN).byte(Op.SELECT);
    } else if (this.lastOp === LazyOp.SBB1) {
      c.get(LDST).get(LSRC).op(Op.I64_LE_U).get(LDST).get(LSRC).op(Op.I64_LT_U).get(CIN).byte(Op.SELECT);
    } else if (this.lastOp === LazyOp.ADD) c.get(LRES).get(LDST).op(Op.I64_LT_U);
    else if (this.lastOp === LazyOp.SUB) c.get(LDST).get(LSRC).op(Op.I64_LT_U);
    else c.i32(0);
  }

  /** OF (PN is its scratch). */
  protected of(): void {
    const c = this.c;
    if (this.eager || this.lastOp === LazyOp.RESULT) {
      this.flBit(11);
      return;
    }
    if (this.lastOp === LazyOp.LOGIC) {
      c.i32(0);
      return;
    }
    // ADD: dst and src agree in sign and the result does not; SUB: dst and src differ and the result left dst.
    const add = this.lastOp === LazyOp.ADD || this.lastOp === LazyOp.ADC1;
    if (add) c.get(LDST).get(LRES).op(Op.I64_XOR).get(LSRC).get(LRES).op(Op.I64_XOR);
    else c.get(LDST).get(LSRC).op(Op.I64_XOR).get(LDST).get(LRES).op(Op.I64_XOR);
    c.op(Op.I64_AND).set(PN);
    this.sign(PN, this.lastSize);
  }

  /** Pushes condition `cc` (SDM Vol. 1 Appendix B) as an i32 0 or 1, from how the trace last set the flags. */
  protected condition(cc: number): void {
    const c = this.c;
    // A subtraction's flags compare its operands directly (not after DEC, whose CF is the old one).
    const sub = this.lastOp === LazyOp.SUB && !this.eager;
    const size = this.lastSize;
    switch (cc >> 1) {
      case 0:
        this.of();
        break;
      case 1:
        this.cf();
        break;
      case 2:
        this.zf();
        break;
      case 3:
        if (sub && !this.cfInFl) c.get(LDST).get(LSRC).op(Op.I64_LE_U);
        else {
          this.cf();
          this.zf();
          c.op(Op.I32_OR);
        }
        break;
      case 4:
        this.sf();
        break;
      case 5:
        this.pf();
        break;
      default: {
        const le = cc >> 1 === 7;
        if (sub && size === 8)
          c.get(LDST)
            .get(LSRC)
            .op(le ? Op.I64_LE_S : Op.I64_LT_S);
        else if (sub && size === 4) {
          c.get(LDST).op(Op.I32_WRAP_I64).get(LSRC).op(Op.I32_WRAP_I64);
          c.op(le ? Op.I32_LE_S : Op.I32_LT_S);
        } else {
          this.sf();
          this.of();
          c.op(Op.I32_NE);
          if (le) {
            this.zf();
            c.op(Op.I32_OR);
          }
        }
      }
    }
    if (cc & 1) c.op(Op.I32_EQZ);
  }
}
