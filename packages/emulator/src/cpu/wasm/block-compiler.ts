/**
 * Compiles a trace of 64-bit code to one WebAssembly function: the second tier after the interpreter for the
 * common integer forms (trace.ts's `classify` lists them), which V8 compiles in about a tenth of a millisecond
 * where a JavaScript block (blocks.ts) costs milliseconds, so code is compiled after far fewer visits.
 *
 * A WebAssembly block is a fast path that never does anything the interpreter would do differently: before any
 * instruction whose memory access misses the TLB, crosses a page, is not canonical, or leaves the arena (MMIO, a
 * page holding code, a dirty-logged page: their write tags are never set), and before a branch to a
 * non-canonical target, it stops with everything before that instruction done (a side exit), and the glue
 * (wasm-block.ts) runs that one instruction through the interpreter's handler, faults and exits included.
 *
 * The trace (trace.ts) leaves when a conditional branch is taken; a branch back to the entry goes round again
 * while the next pass fits in the run loop's slice. Conditions after an instruction of the trace that set the
 * flags are computed from values the block holds; a reader before any such instruction first computes every flag
 * from the lazy-flags record the glue leaves in the area. Guest registers live in locals while the block runs;
 * flags a block sets are left in the CPU's lazy-flags record (flags.ts) and RFLAGS exactly as the interpreter
 * leaves them.
 *
 * Function: `run(base, rip, room, user) -> retired << 7 | flagsWritten << 6 | exit`, with `base` the vCPU's area
 * (layout.ts), `rip` the entry RIP, `room` the instructions it may retire (it does not run when it holds more;
 * a loop goes round while a pass fits), `user` 1 at CPL 3. The next RIP is left at Area.NEXT_RIP; `exit` is 0
 * for an ordinary end, SIDE_EXIT when the instruction there is for the handler.
 */
import type { Insn } from '../decode.js';
import { InsnFlag, NO_REG } from '../decode.js';
import { LazyOp } from '../flags.js';
import { ARITH_FLAGS, Flag, Seg } from '../state.js';
import { Atomic, blockModule, Code, Op, T, VOID } from './encoder.js';
import { Area, LazySlot } from './layout.js';
import { aluKind, K, readsFlags, shiftCount, type Trace } from './trace.js';
import { VectorCompiler, type VectorHost, vectorForm } from './vector.js';

/** The exit code of a side exit (0 is an ordinary end). */
export const SIDE_EXIT = 1;

// Locals: the four parameters, then these.
const BASE = 0;
const RIP_F = 1;
const ROOM = 2;
const USER = 3;
const RIP0 = 4;
const N = 5;
const LOP = 6;
const LSIZE = 7;
const LRES = 8;
const LDST = 9;
const LSRC = 10;
const FW = 11;
const EXIT = 12;
const RET = 13;
const TAG_R = 14;
const TAG_W = 15;
const LIN = 16;
const ADDR = 17;
const A = 18;
const B = 19;
const V = 20;
const IX = 21;
/** The page number in `probe` (A and B may hold operands there). */
const PN = 22;
/** The non-lazy RFLAGS bits (`CpuState.flags`), loaded at entry: shifts and INC/DEC write CF, OF, AF there. */
const FL = 23;
/** The lazy-flags record's mask (`CpuState.lazyMask`). */
const LMASK = 24;
/** An i32 scratch for conditions. */
const Q = 25;
/** The carry into the trace's last ADC or SBB (its lazy op, ADC1/SBB1 or ADD/SUB, follows it). */
const CIN = 26;
/** i64 scratch: a shift's count from CL, IMUL's partial products. */
const T1 = 27;
const T2 = 28;
/** Where a side exit happened, for the shared tail (see `side`). */
const SIDE = 29;
/**
 * RAX..R15 held in locals while the block runs (V8 keeps them in machine registers): those it reads are loaded
 * at entry, those it writes stored back in the exit tail, which every exit goes through.
 */
const R0 = 30;
const LOCALS = [
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
const MASK32 = 0xffffffff;

/** The value mask of an operand size. */
function maskOf(size: number): number {
  return size === 8 ? -1 : 2 ** (size * 8) - 1;
}
const TWO47 = 2 ** 47;
const TWO48 = 2 ** 48;

/**
 * The body's and the prologue's writers, reused from one trace to the next (compiling is not re-entrant): a
 * boot compiles thousands of traces, and fresh typed arrays, grown and copied, cost more than the writing.
 */
const BODY = new Code(16384);
const HEAD = new Code(1024);

/** Writes the WebAssembly function of one trace. */
class Compiler implements VectorHost {
  readonly c = BODY.reset();
  /** The trace's SSE instructions (vector.ts). */
  private readonly vector = new VectorCompiler(this, { base: BASE, lin: LIN, addr: ADDR });
  /** Registers the block reads and writes (bit n: register n), for the loads at entry and the stores at exit. */
  private used = 0;
  private written = 0;
  /** Labels open inside the side-exit block (a `br` of this depth goes to the side-exit tail, one more to the exit tail). */
  private depth = 0;
  /**
   * How the flags were last set in the trace so far: the lazy op (LazyOp), its size, and whether CF is in FL
   * rather than computed from the operands (after INC/DEC and shifts).
   */
  private lastOp = 0;
  private lastSize = 0;
  private cfInFl = false;
  /** Whether every arithmetic flag is in FL (after a rotate: the lazy record holds none). */
  private eager = false;
  /**
   * Whether the trace so far set the flags, so readers compile from how it did. Before that, the first reader
   * computes them all from the lazy record (`flagsFromRecord`), which the prologue then loads from the area.
   */
  private known = false;
  /** Whether any reader came before a writer: the prologue loads the lazy record into its locals. */
  private readsRecord = false;

  constructor(private readonly t: Trace) {}

  compile(): Uint8Array {
    const c = this.c;
    const n = this.t.insns.length;
    // block $done { block $side { loop { instructions } } side-exit tail } exit tail
    c.op(Op.BLOCK).byte(VOID);
    c.op(Op.BLOCK).byte(VOID);
    c.op(Op.LOOP).byte(VOID);
    this.depth = 1;
    for (let k = 0; k < n; k++) this.insn(k);
    // Fell off the end: the next RIP is after the last instruction (or a followed target).
    this.exitTo(n - 1, () => this.ripAt(this.nextOffset(n - 1)));
    c.op(Op.END); // loop
    c.op(Op.END); // $side
    // A side exit left SIDE = (offset from the entry + 4096) << 8 | index: its RIP is the next, its index
    // instructions of this pass retired.
    c.get(BASE).get(RIP0).get(SIDE).i32(8).op(Op.I32_SHR_U).i32(4096).op(Op.I32_SUB).op(Op.I64_EXTEND_I32_S);
    c.op(Op.I64_ADD).op(Op.F64_CONVERT_I64_S).mem(Op.F64_STORE, 3, Area.NEXT_RIP);
    c.i32(SIDE_EXIT).set(EXIT);
    c.get(N).get(SIDE).i32(255).op(Op.I32_AND).op(Op.I32_ADD).set(RET);
    c.op(Op.END); // $done
    // Exit tail: the registers written, the lazy-flags record when this run set flags, then the packed result.
    for (let r = 0; r < 16; r++) {
      if (this.written & (1 << r))
        c.get(BASE)
          .get(R0 + r)
          .mem(Op.I64_STORE, 3, Area.REGS + r * 8);
    }
    c.get(FW);
    c.op(Op.IF).byte(VOID);
    this.storeLazy(LazySlot.OP, () => c.get(LOP));
    this.storeLazy(LazySlot.SIZE, () => c.get(LSIZE));
    this.storeLazy(LazySlot.RES, () => c.get(LRES).op(Op.I32_WRAP_I64));
    this.storeLazy(LazySlot.RES_HI, () => c.get(LRES).i64(32).op(Op.I64_SHR_U).op(Op.I32_WRAP_I64));
    this.storeLazy(LazySlot.DST, () => c.get(LDST).op(Op.I32_WRAP_I64));
    this.storeLazy(LazySlot.DST_HI, () => c.get(LDST).i64(32).op(Op.I64_SHR_U).op(Op.I32_WRAP_I64));
    this.storeLazy(LazySlot.SRC, () => c.get(LSRC).op(Op.I32_WRAP_I64));
    this.storeLazy(LazySlot.SRC_HI, () => c.get(LSRC).i64(32).op(Op.I64_SHR_U).op(Op.I32_WRAP_I64));
    this.storeLazy(LazySlot.MASK, () => c.get(LMASK));
    this.storeLazy(LazySlot.FLAGS, () => c.get(FL));
    c.op(Op.END);
    c.get(RET).i32(7).op(Op.I32_SHL);
    c.get(FW).i32(6).op(Op.I32_SHL).op(Op.I32_OR);
    c.get(EXIT).op(Op.I32_OR);
    // The prologue, now that the registers the body uses are known.
    const head = HEAD.reset();
    // A block the dispatcher reached that does not fit in `room` does not run (blocks.ts's contract).
    head.get(ROOM).i32(n).op(Op.I32_LT_S);
    head.op(Op.IF).byte(VOID);
    head.get(BASE).get(RIP_F).mem(Op.F64_STORE, 3, Area.NEXT_RIP);
    head.i32(0).op(Op.RETURN);
    head.op(Op.END);
    // RIP0 from the float RIP; the non-lazy flags (and the lazy record when needed); the tag arrays for the
    // privilege; the registers.
    head.get(RIP_F).op(Op.I64_TRUNC_F64_S).set(RIP0);
    head
      .get(BASE)
      .mem(Op.I32_LOAD, 2, Area.LAZY + LazySlot.FLAGS * 4)
      .set(FL);
    if (this.readsRecord) Compiler.loadRecord(head);
    Compiler.tagBase(head, TAG_R, Area.TLB_RS, Area.TLB_RU);
    Compiler.tagBase(head, TAG_W, Area.TLB_WS, Area.TLB_WU);
    for (let r = 0; r < 16; r++) {
      if (this.used & (1 << r))
        head
          .get(BASE)
          .mem(Op.I64_LOAD, 3, Area.REGS + r * 8)
          .set(R0 + r);
    }
    head.bytes(c.view());
    return blockModule(LOCALS, head.view());
  }

  /**
   * Loads the lazy-flags record the JavaScript side (or the block before) left in the area into the record's
   * locals, each operand masked to the record's size: the JavaScript side keeps the upper half of a narrower
   * operand as it was.
   */
  private static loadRecord(c: Code): void {
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

  private static tagBase(c: Code, local: number, supervisor: number, user: number): void {
    c.get(BASE).i32(user).op(Op.I32_ADD);
    c.get(BASE).i32(supervisor).op(Op.I32_ADD);
    c.get(USER).byte(Op.SELECT); // the first when USER is not 0
    c.set(local);
  }

  private storeLazy(slot: number, value: () => void): void {
    this.c.get(BASE);
    value();
    this.c.mem(Op.I32_STORE, 2, Area.LAZY + slot * 4);
  }

  // ---- Exits --------------------------------------------------------------------------------------------

  /** Leaves to the exit tail with `exit` and `retired` (N + `done`) set. */
  private leave(exit: number, done: number): void {
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
  private sideFor = -1;
  private sideDepth = -1;

  /** Ends after instruction k with the next RIP `rip` (an i64 the callback pushes). */
  private exitTo(k: number, rip: () => void): void {
    this.storeNext(rip);
    this.leave(0, k + 1);
  }

  /**
   * Leaves the next RIP, the i64 the callback pushes, at Area.NEXT_RIP as a float64 (the glue's) and at
   * NEXT_RIP64 (the dispatcher's, which then converts nothing: a float64-to-i64 truncation is checked).
   */
  private storeNext(rip: () => void): void {
    const c = this.c;
    rip();
    c.set(LIN);
    c.get(BASE).get(LIN).op(Op.F64_CONVERT_I64_S).mem(Op.F64_STORE, 3, Area.NEXT_RIP);
    c.get(BASE).get(LIN).mem(Op.I64_STORE, 3, Area.NEXT_RIP64);
  }

  /** Pushes the RIP at offset `off` from the entry. */
  private ripAt(off: number): void {
    this.c.get(RIP0).i64(off).op(Op.I64_ADD);
  }

  /** Where the trace goes after instruction k (its fall-through, or a followed target). */
  private nextOffset(k: number): number {
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
  private canonicalOrSide(k: number, v: number): void {
    const c = this.c;
    c.get(v).i64(TWO47).op(Op.I64_ADD).i64(TWO48).op(Op.I64_GE_U);
    this.sideIf(k);
  }

  // ---- Registers ----------------------------------------------------------------------------------------

  private reg(n: number): void {
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
  private regAt(n: number, size: number): void {
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
  private setRegAt(n: number, size: number, value: () => void): void {
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
  private static regField(i: Insn): number {
    return i.osize === 1 ? i.regB : i.reg;
  }

  /** The register operand of `i` named by its ModRM r/m field (mod 3), for its operand size. */
  private static rmField(i: Insn): number {
    return i.osize === 1 ? i.rmB : i.rm;
  }

  /** Pushes the immediate of `i` at `size`: sign-extended to 64 bits, or the value at the size. */
  private imm(i: Insn, size: number): void {
    // Sign-extended to 64 bits, or the value at the size (`>>> 0` and `&` both leave non-negative numbers).
    this.c.i64(size === 8 ? i.imm | 0 : size === 4 ? i.imm >>> 0 : i.imm & maskOf(size));
  }

  // ---- Memory -------------------------------------------------------------------------------------------

  /** Pushes instruction k's effective address (SDM Vol. 2 2.2.1.6 for RIP-relative), modulo 2^64. */
  private effective(k: number): void {
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
  private probe(k: number, size: number, write: boolean): void {
    const c = this.c;
    // The tag of the page number's entry must equal it.
    c.get(LIN).i64(12).op(Op.I64_SHR_S).tee(PN);
    c.op(Op.I32_WRAP_I64).i32(4095).op(Op.I32_AND).tee(IX);
    c.i32(3)
      .op(Op.I32_SHL)
      .get(write ? TAG_W : TAG_R)
      .op(Op.I32_ADD)
      .mem(Op.F64_LOAD, 3, 0);
    c.get(PN).op(Op.F64_CONVERT_I64_S).op(Op.F64_NE);
    this.sideIf(k);
    // Within the page.
    c.get(LIN).op(Op.I32_WRAP_I64).i32(4095).op(Op.I32_AND).tee(ADDR);
    c.i32(4096 - size).op(Op.I32_GT_U);
    this.sideIf(k);
    // In the arena.
    c.get(IX).i32(2).op(Op.I32_SHL).get(BASE).op(Op.I32_ADD).mem(Op.I32_LOAD, 2, Area.TLB_ABS).tee(IX);
    c.i32(0).op(Op.I32_LT_S);
    this.sideIf(k);
    c.get(IX).get(ADDR).op(Op.I32_ADD).set(ADDR);
  }

  /** Instruction k's memory operand: LIN from the effective address plus an FS or GS base, then `probe`. */
  operand(k: number, size: number, write: boolean): void {
    const c = this.c;
    const i = this.t.insns[k];
    this.effective(k);
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
  private load(size: number, signed = false): void {
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
  private record(lazy: number, size: number, mask: number = ARITH_FLAGS): void {
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
   * For the first flag reader of a trace that has not set the flags: every flag computed into FL from the lazy
   * record in its locals, whatever operation it holds (flags.ts's getFlags, decided at run time), and the record
   * emptied, so the trace goes on as after a rotate. Runs between instructions (A, B, T2 and Q are free).
   */
  private flagsFromRecord(): void {
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

  /** Pushes bit `bit` of FL as an i32. */
  private flBit(bit: number): void {
    this.c.get(FL).i32(bit).op(Op.I32_SHR_U).i32(1).op(Op.I32_AND);
  }

  /** AF: from FL where the record does not hold it, 0 after a logic op, else bit 4 of res ^ dst ^ src. */
  private af(): void {
    const c = this.c;
    if (this.eager || this.lastOp === LazyOp.RESULT) this.flBit(4);
    else if (this.lastOp === LazyOp.LOGIC) c.i32(0);
    else {
      c.get(LRES).get(LDST).op(Op.I64_XOR).get(LSRC).op(Op.I64_XOR).op(Op.I32_WRAP_I64);
      c.i32(4).op(Op.I32_SHR_U).i32(1).op(Op.I32_AND);
    }
  }

  /** Pushes the whole RFLAGS value with the lazy flags computed (flags.ts's getFlags). */
  private materialize(): void {
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
  private sign(v: number, size: number): void {
    this.c
      .get(v)
      .i64(size * 8 - 1)
      .op(Op.I64_SHR_U)
      .op(Op.I32_WRAP_I64)
      .i32(1)
      .op(Op.I32_AND);
  }

  private zf(): void {
    if (this.eager) this.flBit(6);
    else this.c.get(LRES).op(Op.I64_EQZ);
  }

  private sf(): void {
    if (this.eager) this.flBit(7);
    else this.sign(LRES, this.lastSize);
  }

  /** PF: even parity of the result's low byte. */
  private pf(): void {
    if (this.eager) {
      this.flBit(2);
      return;
    }
    this.c.get(LRES).op(Op.I32_WRAP_I64).i32(0xff).op(Op.I32_AND).op(Op.I32_POPCNT).i32(1).op(Op.I32_AND);
    this.c.op(Op.I32_EQZ);
  }

  private cf(): void {
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
  private of(): void {
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
  private condition(cc: number): void {
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

  // ---- Instructions -------------------------------------------------------------------------------------

  private insn(k: number): void {
    const i = this.t.insns[k];
    const kind = this.t.kinds[k];
    const size = i.osize;
    const c = this.c;
    const mem = i.mod !== 3;
    if (!this.known && readsFlags(i, kind)) this.flagsFromRecord();
    switch (kind) {
      case K.NOP:
        break;
      case K.VECTOR:
        this.vector.insn(k, i, vectorForm(i));
        break;
      case K.PUSHF:
        // system.ts's pushf in 64-bit mode (VM is clear there): RFLAGS without RF.
        this.materialize();
        c.op(Op.I64_EXTEND_I32_U)
          .i64(~(Flag.VM | Flag.RF) >>> 0)
          .op(Op.I64_AND)
          .set(T1);
        this.push(k, () => c.get(T1));
        break;
      case K.CONVERT:
        this.convert(i);
        break;
      case K.BSWAP:
        this.bswap(i);
        break;
      case K.CMPXCHG:
        this.cmpxchg(k);
        break;
      case K.BIT:
        this.bit(k);
        break;
      case K.MOV_RM_R: {
        const src = () => this.regAt(Compiler.regField(i), size);
        if (mem) {
          this.operand(k, size, true);
          this.store(size, src);
        } else this.setRegAt(Compiler.rmField(i), size, src);
        break;
      }
      case K.MOV_R_RM:
        if (mem) {
          this.operand(k, size, false);
          this.load(size);
          c.set(V);
          this.setRegAt(Compiler.regField(i), size, () => c.get(V));
        } else this.setRegAt(Compiler.regField(i), size, () => this.regAt(Compiler.rmField(i), size));
        break;
      case K.MOV_R_IMM: {
        // B0-B7 name byte registers, AH..BH without REX (move.ts's movRegImm).
        let n = (i.op & 7) | (i.rm & 8);
        if (size === 1 && !(i.flags & InsnFlag.REX) && n >= 4 && n < 8) n = 16 + n - 4;
        const value =
          size === 8 ? BigInt.asIntN(64, (BigInt(i.immHi >>> 0) << 32n) | BigInt(i.imm >>> 0)) : 0n;
        this.setRegAt(n, size, () => (size === 8 ? c.i64(value) : this.imm(i, size)));
        break;
      }
      case K.MOV_RM_IMM:
        if (mem) {
          this.operand(k, size, true);
          this.store(size, () => this.imm(i, size));
        } else this.setRegAt(Compiler.rmField(i), size, () => this.imm(i, size));
        break;
      case K.LEA:
        this.setReg(i.reg, size, () => this.effective(k));
        break;
      case K.EXTEND:
        this.extend(k);
        break;
      case K.ALU_RM_R:
      case K.ALU_R_RM:
      case K.ALU_RM_IMM:
      case K.ALU_ACC_IMM:
        this.alu(k, kind);
        break;
      case K.TEST_RM_R:
      case K.TEST_RM_IMM:
      case K.TEST_ACC_IMM:
        this.test(k, kind);
        break;
      case K.SHIFT:
        this.shift(k);
        break;
      case K.INC_DEC:
        this.incDec(k);
        break;
      case K.CMOV:
        this.cmov(k);
        break;
      case K.SETCC:
        this.setcc(k);
        break;
      case K.IMUL:
        this.imul(k);
        break;
      case K.NOT_NEG:
        this.notNeg(k);
        break;
      case K.ROTATE:
        this.rotate(k);
        break;
      case K.BRANCH_INDIRECT:
        this.branchIndirect(k);
        break;
      case K.DIV:
        this.divide(k);
        break;
      case K.PUSH:
        this.push(k, () => this.reg((i.op & 7) | (i.rm & 8)));
        break;
      case K.POP:
        this.pop(k, (i.op & 7) | (i.rm & 8));
        break;
      case K.CALL:
        this.call(k);
        break;
      case K.RET:
        this.ret(k);
        break;
      case K.JMP:
        this.jump(k);
        break;
      case K.JCC:
        this.jcc(k);
        break;
      default:
        throw new Error(`wasm blocks: op ${i.op} is not compiled`);
    }
  }

  /** MOVZX, MOVSX (0F B6, B7, BE, BF) and MOVSXD (63). */
  private extend(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const from = i.op === 0x63 ? 4 : i.op & 1 ? 2 : 1;
    const signed = i.op === 0x63 || i.op >= 0x1be;
    if (i.mod !== 3) {
      this.operand(k, from, false);
      this.load(from, signed);
    } else {
      this.regAt(from === 1 ? i.rmB : i.rm, from);
      const bits = BigInt(64 - from * 8);
      if (signed) c.i64(bits).op(Op.I64_SHL).i64(bits).op(Op.I64_SHR_S);
    }
    c.set(V);
    this.setReg(i.reg, i.osize, () => c.get(V));
  }

  /** Loads the destination of an ALU or TEST form into A (and ADDR for memory), the source into B. */
  private aluOperands(k: number, kind: number, write: boolean): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    const mem = i.mod !== 3;
    if (kind === K.ALU_ACC_IMM || kind === K.TEST_ACC_IMM) {
      this.regAt(0, size);
      c.set(A);
      this.imm(i, size);
      c.set(B);
      return;
    }
    if (kind === K.ALU_R_RM) {
      this.regAt(Compiler.regField(i), size);
      c.set(A);
      if (mem) {
        this.operand(k, size, false);
        this.load(size);
      } else this.regAt(Compiler.rmField(i), size);
      c.set(B);
      return;
    }
    if (mem) {
      this.operand(k, size, write);
      this.load(size);
    } else this.regAt(Compiler.rmField(i), size);
    c.set(A);
    if (kind === K.ALU_RM_IMM || kind === K.TEST_RM_IMM) this.imm(i, size);
    else this.regAt(Compiler.regField(i), size);
    c.set(B);
  }

  /** ADD, OR, ADC, SBB, AND, SUB, XOR, CMP in their register, memory and immediate forms (alu.ts, fast.ts). */
  private alu(k: number, kind: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    const op = aluKind(i, kind);
    const writes = op !== 7;
    const carry = op === 2 || op === 3;
    // The carry in, from how the flags were set before (the trace knows: ADC and SBB read flags).
    if (carry) {
      this.cf();
      c.set(Q);
    }
    // A memory destination needs its write tag before anything changes.
    this.aluOperands(k, kind, writes && kind !== K.ALU_R_RM);
    c.get(A).get(B);
    let lazy: number;
    switch (op) {
      case 0:
        c.op(Op.I64_ADD);
        lazy = LazyOp.ADD;
        break;
      case 1:
        c.op(Op.I64_OR);
        lazy = LazyOp.LOGIC;
        break;
      case 2:
        c.op(Op.I64_ADD).get(Q).op(Op.I64_EXTEND_I32_U).op(Op.I64_ADD);
        lazy = LazyOp.ADC1;
        break;
      case 3:
        c.op(Op.I64_SUB).get(Q).op(Op.I64_EXTEND_I32_U).op(Op.I64_SUB);
        lazy = LazyOp.SBB1;
        break;
      case 4:
        c.op(Op.I64_AND);
        lazy = LazyOp.LOGIC;
        break;
      case 6:
        c.op(Op.I64_XOR);
        lazy = LazyOp.LOGIC;
        break;
      default:
        c.op(Op.I64_SUB);
        lazy = LazyOp.SUB;
    }
    if (size !== 8) c.i64(maskOf(size)).op(Op.I64_AND);
    c.set(V);
    if (writes) {
      const result = () => c.get(V);
      if (kind === K.ALU_R_RM) this.setRegAt(Compiler.regField(i), size, result);
      else if (kind === K.ALU_ACC_IMM) this.setRegAt(0, size, result);
      else if (i.mod !== 3) this.store(size, result);
      else this.setRegAt(Compiler.rmField(i), size, result);
    }
    this.record(lazy, size);
    if (carry) {
      // The record's kind follows the carry in: ADC1/SBB1 with it, ADD/SUB without (alu.ts's compute).
      c.i32(lazy)
        .i32(lazy === LazyOp.ADC1 ? LazyOp.ADD : LazyOp.SUB)
        .get(Q)
        .byte(Op.SELECT)
        .set(LOP);
      c.get(Q).set(CIN);
    }
  }

  /** CWDE, CDQE (98): eAX from the sign of its lower half; CDQ, CQO (99): eDX all copies of eAX's sign. */
  private convert(i: Insn): void {
    const c = this.c;
    const wide = i.osize === 8;
    if (i.op === 0x98) {
      this.setReg(0, i.osize, () => {
        this.reg(0);
        c.op(wide ? Op.I64_EXTEND32_S : Op.I64_EXTEND16_S);
      });
    } else {
      this.setReg(2, i.osize, () => {
        this.reg(0);
        if (!wide) c.op(Op.I64_EXTEND32_S);
        c.i64(63).op(Op.I64_SHR_S);
      });
    }
  }

  /** BSWAP r32, r64 (0F C8+r): the bytes reversed, a 32-bit result zero-extended. */
  private bswap(i: Insn): void {
    const c = this.c;
    const n = (i.op & 7) | (i.rm & 8);
    if (i.osize === 8) {
      // Bytes swapped within each 16 bits, then 16-bit halves within each 32, then the two 32-bit halves.
      this.setReg(n, 8, () => {
        for (const [shift, mask] of [
          [8, 0x00ff00ff00ff00ffn],
          [16, 0x0000ffff0000ffffn],
        ] as const) {
          if (shift === 8) this.reg(n);
          c.set(T1);
          c.get(T1).i64(shift).op(Op.I64_SHR_U).i64(mask).op(Op.I64_AND);
          c.get(T1).i64(mask).op(Op.I64_AND).i64(shift).op(Op.I64_SHL).op(Op.I64_OR);
        }
        c.i64(32).op(Op.I64_ROTL);
      });
    } else {
      this.setReg(n, 4, () => {
        this.reg(n);
        c.op(Op.I32_WRAP_I64).set(Q);
        // Rotated right by 8, bytes 3 and 1 are in place; rotated left by 8, bytes 2 and 0.
        c.get(Q)
          .i32(8)
          .op(Op.I32_ROTR)
          .i32(0xff00ff00 | 0)
          .op(Op.I32_AND);
        c.get(Q).i32(8).op(Op.I32_ROTL).i32(0x00ff00ff).op(Op.I32_AND).op(Op.I32_OR);
        c.op(Op.I64_EXTEND_I32_U);
      });
    }
  }

  /**
   * CMPXCHG r/m, r (bits.ts's cmpxchg): the flags of CMP eAX, r/m; r/m := r when they are equal, else eAX := r/m.
   * LOCK'ed, an atomic compare-exchange of the memory,
   * which must then be aligned (a side exit otherwise: WebAssembly's atomics trap on it).
   */
  private cmpxchg(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    if (i.mod !== 3) {
      this.operand(k, size, true);
      if (i.flags & InsnFlag.LOCK) {
        c.get(ADDR)
          .i32(size - 1)
          .op(Op.I32_AND);
        this.sideIf(k);
        c.get(ADDR);
        this.regAt(0, size);
        this.regAt(i.reg, size);
        c.atomic(size === 8 ? Atomic.I64_CMPXCHG : Atomic.I64_CMPXCHG32_U, size === 8 ? 3 : 2);
        c.set(B);
      } else {
        this.load(size);
        c.set(B);
      }
    } else {
      this.regAt(i.rm, size);
      c.set(B);
    }
    this.regAt(0, size);
    c.set(A);
    c.get(A).get(B).op(Op.I64_EQ);
    c.op(Op.IF).byte(VOID);
    if (i.mod === 3) this.setReg(i.rm, size, () => this.regAt(i.reg, size));
    else if (!(i.flags & InsnFlag.LOCK)) this.store(size, () => this.regAt(i.reg, size));
    // Not equal: a memory destination keeps its value (the write back the interpreter makes changes nothing a
    // block can reach: the probe asked for a write tag, so not MMIO, not code, not dirty-logged).
    c.op(Op.ELSE);
    this.setReg(0, size, () => c.get(B));
    c.op(Op.END);
    c.get(A).get(B).op(Op.I64_SUB);
    if (size !== 8) c.i64(maskOf(size)).op(Op.I64_AND);
    c.set(V);
    this.record(LazyOp.SUB, size);
  }

  /**
   * BT, BTS, BTR, BTC (bits.ts's bitTest) by an immediate, of a register or memory, or by a register of a
   * register: CF the bit, every other flag as it was (putCf materializes them), the bit set, cleared or flipped.
   * LOCK'ed with memory, an atomic or, and-not or xor that returns the old value.
   */
  private bit(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    const bits = size * 8;
    const kind = i.op === 0x1ba ? (i.reg & 7) - 4 : (i.op >> 3) & 3; // 0 BT, 1 BTS, 2 BTR, 3 BTC
    // T1: the bit's mask.
    if (i.op === 0x1ba) {
      const n = i.imm & (bits - 1);
      c.i64(n < 53 ? 2 ** n : BigInt.asIntN(64, 1n << BigInt(n)));
    } else {
      c.i64(1);
      this.regAt(Compiler.regField(i), size);
      c.i64(bits - 1)
        .op(Op.I64_AND)
        .op(Op.I64_SHL);
    }
    c.set(T1);
    const atomic = i.mod !== 3 && (i.flags & InsnFlag.LOCK) !== 0;
    if (i.mod !== 3) {
      this.operand(k, size, kind !== 0);
      if (atomic) {
        c.get(ADDR)
          .i32(size - 1)
          .op(Op.I32_AND);
        this.sideIf(k);
        c.get(ADDR).get(T1);
        if (kind === 2) c.i64(-1).op(Op.I64_XOR);
        const rmw = kind === 1 ? Atomic.I64_OR : kind === 2 ? Atomic.I64_AND : Atomic.I64_XOR;
        c.atomic(size === 8 ? rmw : rmw + 5, size === 8 ? 3 : 2);
      } else this.load(size);
    } else this.regAt(i.rm, size);
    c.set(B);
    if (kind !== 0 && !atomic) {
      const updated = () => {
        c.get(B).get(T1);
        if (kind === 1) c.op(Op.I64_OR);
        else if (kind === 2) c.i64(-1).op(Op.I64_XOR).op(Op.I64_AND);
        else c.op(Op.I64_XOR);
      };
      if (i.mod !== 3) this.store(size, updated);
      else this.setReg(i.rm, size, updated);
    }
    // CF := the bit, the other flags materialized into FL (the record emptied, as flags.ts's putCf does).
    c.get(B).get(T1).op(Op.I64_AND).op(Op.I64_EQZ).op(Op.I32_EQZ).set(Q);
    this.materialize();
    c.i32(~Flag.CF).op(Op.I32_AND).get(Q).op(Op.I32_OR).set(FL);
    c.i32(0).set(LMASK);
    c.i32(1).set(FW);
    this.eager = true;
    this.cfInFl = true;
    this.known = true;
  }

  /** TEST (84, 85, A8, A9, F6 /0, F7 /0): AND for the flags only. */
  private test(k: number, kind: number): void {
    const c = this.c;
    this.aluOperands(k, kind, false);
    c.get(A).get(B).op(Op.I64_AND).set(V);
    this.record(LazyOp.LOGIC, this.t.insns[k].osize);
  }

  /**
   * SHL, SHR, SAR of a register by a constant or CL (shift.ts's shiftOp and fast.ts's shiftReg32): CF and OF
   * into FL, AF cleared, ZF, SF and PF from the result. A constant 0 changes no flag (a 32-bit register is still
   * written); CL of 0 leaves the instruction to its handler, so that after it the flags are always the shift's.
   */
  private shift(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    const n = i.rm;
    const fixed = shiftCount(i);
    if (fixed === 0) {
      if (size === 4) this.setReg(n, 4, () => this.reg(n));
      return;
    }
    const bits = size * 8;
    const kind = i.reg & 7;
    const mask = maskOf(size);
    if (fixed < 0) {
      this.reg(1);
      c.i64(bits - 1)
        .op(Op.I64_AND)
        .tee(T1)
        .op(Op.I64_EQZ);
      this.sideIf(k);
    }
    /** Pushes the count plus `delta`. */
    const count = (delta: number) => {
      if (fixed > 0) c.i64(fixed + delta);
      else {
        c.get(T1);
        if (delta !== 0) c.i64(delta).op(Op.I64_ADD);
      }
    };
    this.regAt(n, size);
    c.set(A);
    // V the result, Q its CF; then OF into bit 11.
    if (kind === 5) {
      c.get(A);
      count(0);
      c.op(Op.I64_SHR_U).set(V);
      c.get(A);
      count(-1);
      c.op(Op.I64_SHR_U);
    } else if (kind === 7) {
      // The value sign-extended from its size, then shifted arithmetically.
      c.get(A);
      if (size === 4) c.i64(32).op(Op.I64_SHL).i64(32).op(Op.I64_SHR_S);
      c.set(B);
      c.get(B);
      count(0);
      c.op(Op.I64_SHR_S).i64(mask).op(Op.I64_AND).set(V);
      c.get(B);
      count(-1);
      c.op(Op.I64_SHR_S);
    } else {
      c.get(A);
      count(0);
      c.op(Op.I64_SHL).i64(mask).op(Op.I64_AND).set(V);
      // CF: the last bit out, bit (bits - count) of the value.
      c.get(A).i64(bits);
      count(0);
      c.op(Op.I64_SUB).op(Op.I64_SHR_U);
    }
    c.op(Op.I32_WRAP_I64).i32(1).op(Op.I32_AND).set(Q);
    c.get(FL)
      .i32(~(Flag.CF | Flag.OF | Flag.AF))
      .op(Op.I32_AND)
      .get(Q)
      .op(Op.I32_OR);
    if (kind === 5) this.sign(A, size);
    else if (kind !== 7) {
      this.sign(V, size);
      c.get(Q).op(Op.I32_XOR);
    } else c.i32(0);
    c.i32(11).op(Op.I32_SHL).op(Op.I32_OR).set(FL);
    this.setReg(n, size, () => c.get(V));
    c.i64(0).set(A);
    c.i64(0).set(B);
    this.record(LazyOp.RESULT, size, Flag.ZF | Flag.SF | Flag.PF);
  }

  /**
   * IMUL r, r/m and IMUL r, r/m, imm (muldiv.ts's imulReg), and MUL and IMUL r/m (F7 /4 /5, mulAcc) with the
   * product's halves into EDX:EAX or RDX:RAX: the product truncated to the size; CF and OF set when it did not
   * fit (the high half is not 0 for MUL, not the low half's sign for IMUL), AF cleared, ZF, SF and PF from the
   * low half.
   */
  private imul(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    const acc = i.op === 0xf7;
    const signed = !acc || (i.reg & 7) === 5;
    /** Sign-extends the 32-bit value on the stack when the multiply is signed. */
    const extend = () => {
      if (size === 4 && signed) c.i64(32).op(Op.I64_SHL).i64(32).op(Op.I64_SHR_S);
    };
    if (i.mod !== 3) {
      this.operand(k, size, false);
      this.load(size, signed);
    } else {
      this.regAt(i.rm, size);
      extend();
    }
    c.set(A);
    if (acc) {
      this.regAt(0, size);
      extend();
    } else if (i.op === 0x1af) {
      this.reg(i.reg);
      extend();
    } else c.i64(i.imm | 0);
    c.set(B);
    c.get(A).get(B).op(Op.I64_MUL).set(V);
    if (size === 4) {
      // The 64-bit product of two 32-bit values is exact: signed, it fits when it is its low half sign-extended;
      // unsigned, when its high half is 0.
      if (signed) c.get(V).get(V).i64(32).op(Op.I64_SHL).i64(32).op(Op.I64_SHR_S).op(Op.I64_NE);
      else c.get(V).i64(32).op(Op.I64_SHR_U).i64(0).op(Op.I64_NE);
      if (acc) this.setReg(2, 4, () => c.get(V).i64(32).op(Op.I64_SHR_U));
      c.get(V).i64(MASK32).op(Op.I64_AND).set(V);
    } else {
      this.mulHigh(signed);
      c.set(T2);
      c.get(T2);
      if (signed) c.get(V).i64(63).op(Op.I64_SHR_S);
      else c.i64(0);
      c.op(Op.I64_NE);
      if (acc) this.setReg(2, 8, () => c.get(T2));
    }
    // Q: overflow.
    c.set(Q);
    c.get(FL)
      .i32(~(Flag.CF | Flag.OF | Flag.AF))
      .op(Op.I32_AND);
    c.i32(Flag.CF | Flag.OF)
      .i32(0)
      .get(Q)
      .byte(Op.SELECT)
      .op(Op.I32_OR)
      .set(FL);
    this.setReg(acc ? 0 : i.reg, size, () => c.get(V));
    c.i64(0).set(A);
    c.i64(0).set(B);
    this.record(LazyOp.RESULT, size, Flag.ZF | Flag.SF | Flag.PF);
  }

  /**
   * Pushes the high 64 bits of the 128-bit product of A and B: the unsigned high half from 32-bit partial
   * products; `signed`, less B when A is negative and A when B is (two's complement).
   */
  private mulHigh(signed: boolean): void {
    const c = this.c;
    const lo = (v: number) => c.get(v).i64(MASK32).op(Op.I64_AND);
    const hi = (v: number) => c.get(v).i64(32).op(Op.I64_SHR_U);
    // T1 = (aL*bL >> 32) + lo(aL*bH) + lo(aH*bL): the middle column with its carry.
    lo(A);
    lo(B);
    c.op(Op.I64_MUL).i64(32).op(Op.I64_SHR_U);
    lo(A);
    hi(B);
    c.op(Op.I64_MUL).set(T2);
    c.get(T2).i64(MASK32).op(Op.I64_AND).op(Op.I64_ADD);
    hi(A);
    lo(B);
    c.op(Op.I64_MUL).tee(PN).i64(MASK32).op(Op.I64_AND).op(Op.I64_ADD).set(T1);
    // aH*bH + hi(aL*bH) + hi(aH*bL) + (T1 >> 32)
    hi(A);
    hi(B);
    c.op(Op.I64_MUL);
    c.get(T2).i64(32).op(Op.I64_SHR_U).op(Op.I64_ADD);
    c.get(PN).i64(32).op(Op.I64_SHR_U).op(Op.I64_ADD);
    c.get(T1).i64(32).op(Op.I64_SHR_U).op(Op.I64_ADD);
    if (!signed) return;
    // Signed: less B if A < 0, less A if B < 0.
    c.get(B).i64(0).get(A).i64(0).op(Op.I64_LT_S).byte(Op.SELECT).op(Op.I64_SUB);
    c.get(A).i64(0).get(B).i64(0).op(Op.I64_LT_S).byte(Op.SELECT).op(Op.I64_SUB);
  }

  /**
   * ROL and ROR of a register by a nonzero constant (shift.ts's shiftOp and rotateFlags): every flag is folded
   * into RFLAGS, CF and OF replaced by the rotate's, and the lazy record emptied.
   */
  private rotate(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    const n = i.rm;
    const left = (i.reg & 7) === 0;
    const count = shiftCount(i);
    this.regAt(n, size);
    if (size === 8) c.i64(count).op(left ? Op.I64_ROTL : Op.I64_ROTR);
    else {
      c.op(Op.I32_WRAP_I64)
        .i32(count)
        .op(left ? Op.I32_ROTL : Op.I32_ROTR)
        .op(Op.I64_EXTEND_I32_U);
    }
    c.set(V);
    // Q: CF, the bit rotated into the low end (ROL) or the top (ROR).
    if (left) c.get(V).op(Op.I32_WRAP_I64).i32(1).op(Op.I32_AND);
    else this.sign(V, size);
    c.set(Q);
    this.materialize();
    c.i32(~(Flag.CF | Flag.OF))
      .op(Op.I32_AND)
      .get(Q)
      .op(Op.I32_OR);
    // OF: the top bit xor CF (ROL), the top two bits xor'ed (ROR).
    this.sign(V, size);
    if (left) c.get(Q);
    else
      c.get(V)
        .i64(size * 8 - 2)
        .op(Op.I64_SHR_U)
        .op(Op.I32_WRAP_I64)
        .i32(1)
        .op(Op.I32_AND);
    c.op(Op.I32_XOR).i32(11).op(Op.I32_SHL).op(Op.I32_OR).set(FL);
    c.i32(0).set(LMASK);
    c.i32(1).set(FW);
    this.setReg(n, size, () => c.get(V));
    this.eager = true;
    this.cfInFl = true;
    this.known = true;
  }

  /**
   * JMP r/m64 and CALL r/m64 (control.ts's branchIndirect): the target read, its canonical check, the push of
   * the return address for CALL, then out to the target.
   */
  private branchIndirect(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    if (i.mod !== 3) {
      this.operand(k, 8, false);
      this.load(8);
    } else this.reg(i.rm);
    c.set(B);
    this.canonicalOrSide(k, B);
    if ((i.reg & 7) === 2) this.push(k, () => this.ripAt(this.t.at[k] + i.len));
    this.exitTo(k, () => c.get(B));
  }

  /** NOT (no flags) and NEG (as SUB from 0: alu.ts's testNotNeg) of a register or memory. */
  private notNeg(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    const neg = (i.reg & 7) === 3;
    if (i.mod !== 3) {
      this.operand(k, size, true);
      this.load(size);
    } else this.regAt(Compiler.rmField(i), size);
    c.set(B);
    c.i64(0).set(A);
    if (neg) c.get(A).get(B).op(Op.I64_SUB);
    else c.get(B).i64(-1).op(Op.I64_XOR);
    if (size !== 8) c.i64(maskOf(size)).op(Op.I64_AND);
    c.set(V);
    if (i.mod !== 3) this.store(size, () => c.get(V));
    else this.setRegAt(Compiler.rmField(i), size, () => c.get(V));
    if (neg) this.record(LazyOp.SUB, size);
  }

  /** INC and DEC of a register or memory (alu.ts, fast.ts): as ADD/SUB of 1, with CF kept in FL as it was. */
  private incDec(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    const n = Compiler.rmField(i);
    const dec = (i.reg & 7) === 1;
    const mem = i.mod !== 3;
    // A memory operand's write tag before anything changes.
    if (mem) this.operand(k, size, true);
    c.get(FL).i32(~Flag.CF).op(Op.I32_AND);
    this.cf();
    c.op(Op.I32_OR).set(FL);
    if (mem) this.load(size);
    else this.regAt(n, size);
    c.set(A);
    c.i64(1).set(B);
    c.get(A)
      .get(B)
      .op(dec ? Op.I64_SUB : Op.I64_ADD);
    if (size !== 8) c.i64(maskOf(size)).op(Op.I64_AND);
    c.set(V);
    if (mem) this.store(size, () => c.get(V));
    else this.setRegAt(n, size, () => c.get(V));
    this.record(dec ? LazyOp.SUB : LazyOp.ADD, size, ARITH_FLAGS & ~Flag.CF);
  }

  /**
   * DIV r/m32 and r/m64 (muldiv.ts's divAcc) when the dividend's high half (EDX, RDX) is 0: RAX and RDX get the
   * quotient and remainder, the flags stay as they were. A zero divisor (#DE) or a dividend wider than the
   * operand is left to the handler.
   */
  private divide(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    this.source(k, size);
    c.tee(B).op(Op.I64_EQZ);
    this.sideIf(k);
    this.regAt(2, size);
    c.op(Op.I64_EQZ).op(Op.I32_EQZ);
    this.sideIf(k);
    this.regAt(0, size);
    c.set(A);
    this.setReg(2, size, () => c.get(A).get(B).op(Op.I64_REM_U));
    this.setReg(0, size, () => c.get(A).get(B).op(Op.I64_DIV_U));
  }

  /** CMOVcc (0F 40-4F): the source is read either way; a 32-bit destination is zero-extended either way. */
  private cmov(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    this.source(k, size);
    c.set(B);
    this.condition(i.op & 0xf);
    c.set(Q);
    this.setReg(i.reg, size, () => {
      c.get(B);
      this.reg(i.reg);
      c.get(Q).byte(Op.SELECT);
    });
  }

  /** SETcc (0F 90-9F): 1 or 0 into a byte register or memory. */
  private setcc(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    if (i.mod !== 3) this.operand(k, 1, true);
    this.condition(i.op & 0xf);
    c.op(Op.I64_EXTEND_I32_U).set(V);
    if (i.mod !== 3) this.store(1, () => c.get(V));
    else this.setRegAt(i.rmB, 1, () => c.get(V));
  }

  /** PUSH of the i64 the callback pushes (operands.ts's 64-bit `push`): #SS and #PF leave RSP unchanged. */
  private push(k: number, value: () => void): void {
    const c = this.c;
    // The value first: PUSH RSP pushes RSP as it was.
    value();
    c.set(V);
    this.reg(4);
    c.i64(8).op(Op.I64_SUB).set(LIN);
    this.probe(k, 8, true);
    this.store(8, () => c.get(V));
    this.setReg(4, 8, () => c.get(LIN));
  }

  /** POP r64: RSP moves before the register is written, so POP RSP loads the popped value. */
  private pop(k: number, n: number): void {
    const c = this.c;
    this.reg(4);
    c.set(LIN);
    this.probe(k, 8, false);
    this.load(8);
    c.set(V);
    this.setReg(4, 8, () => c.get(LIN).i64(8).op(Op.I64_ADD));
    this.setReg(n, 8, () => c.get(V));
  }

  /** CALL rel32: the target's canonical check, the push of the return address, then the target. */
  private call(k: number): void {
    const { insns, at, follow } = this.t;
    const i = insns[k];
    const c = this.c;
    const fall = at[k] + i.len;
    const target = fall + (i.imm | 0);
    this.ripAt(target);
    c.set(B);
    this.canonicalOrSide(k, B);
    this.push(k, () => this.ripAt(fall));
    if (!follow[k]) this.exitTo(k, () => c.get(B));
  }

  /** RET: pop, the canonical check of the target (#GP leaves RSP as it was), then on or out. */
  private ret(k: number): void {
    const c = this.c;
    const expect = this.t.expect[k];
    this.reg(4);
    c.set(LIN);
    this.probe(k, 8, false);
    this.load(8);
    c.set(B);
    this.canonicalOrSide(k, B);
    this.setReg(4, 8, () => c.get(LIN).i64(8).op(Op.I64_ADD));
    if (expect < 0) {
      this.exitTo(k, () => c.get(B));
      return;
    }
    // Back after the CALL this trace followed, or out to wherever the stack said.
    this.ripAt(expect - this.t.entry);
    c.get(B).op(Op.I64_NE);
    c.op(Op.IF).byte(VOID);
    this.depth++;
    this.exitTo(k, () => c.get(B));
    this.depth--;
    c.op(Op.END);
  }

  /** JMP rel: followed (nothing to do), back to the entry (the loop), or out. */
  private jump(k: number): void {
    const { insns, at, follow } = this.t;
    const i = insns[k];
    const target = at[k] + i.len + (i.imm | 0);
    if (follow[k]) return;
    if (target === 0) {
      this.loopBack(k);
      return;
    }
    this.ripAt(target);
    this.c.set(B);
    this.canonicalOrSide(k, B);
    this.exitTo(k, () => this.c.get(B));
  }

  /** A branch back to the entry after instruction k: another pass while it fits in `room`, else out. */
  private loopBack(k: number): void {
    const c = this.c;
    const n = this.t.insns.length;
    c.get(N)
      .i32(k + 1)
      .op(Op.I32_ADD)
      .tee(N);
    c.i32(n).op(Op.I32_ADD).get(ROOM).op(Op.I32_LE_S);
    // br_if to the loop: the loop label is one inside the exit block.
    c.brIf(this.depth - 1);
    // Out at the entry; N already counts this pass.
    this.storeNext(() => c.get(RIP0));
    c.i32(0).set(EXIT);
    c.get(N).set(RET);
    c.br(this.depth + 1);
  }

  /** Jcc: taken to the entry loops, taken elsewhere leaves; not taken goes on. */
  private jcc(k: number): void {
    const { insns, at } = this.t;
    const i = insns[k];
    const c = this.c;
    const target = at[k] + i.len + (i.imm | 0);
    this.condition(i.op & 0xf);
    c.op(Op.IF).byte(VOID);
    this.depth++;
    if (target === 0) this.loopBack(k);
    else {
      this.ripAt(target);
      c.set(B);
      this.canonicalOrSide(k, B);
      this.exitTo(k, () => c.get(B));
    }
    this.depth--;
    c.op(Op.END);
  }
}

/** The WebAssembly module of `trace`. */
export function compileTrace(trace: Trace): Uint8Array {
  return new Compiler(trace).compile();
}
