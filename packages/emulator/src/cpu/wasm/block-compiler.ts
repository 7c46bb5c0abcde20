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
import { InsnFlag } from '../decode.js';
import { LazyOp } from '../flags.js';
import { ARITH_FLAGS, Flag } from '../state.js';
import { Atomic, blockFunction, Op, VOID } from './encoder.js';
import { Area, LazySlot } from './layout.js';
import { aluKind, flagsOverwritten, K, readsFlags, shiftCount, type Trace } from './trace.js';
import {
  A,
  ADDR,
  B,
  BASE,
  CIN,
  EXIT,
  FL,
  type FlagState,
  FW,
  HEAD,
  LDST,
  LIN,
  LMASK,
  LOCALS,
  LOP,
  LRES,
  LSIZE,
  LSRC,
  MASK32,
  maskOf,
  N,
  PN,
  Q,
  R0,
  RET,
  RIP_F,
  RIP0,
  ROOM,
  SIDE,
  T1,
  T2,
  TAG_R,
  TAG_W,
  TraceWriter,
  V,
} from './trace-writer.js';
import { VectorCompiler, vectorForm } from './vector.js';

/** The exit code of a side exit (0 is an ordinary end). */
export const SIDE_EXIT = 1;

/** Writes the WebAssembly function of one trace. */
class Compiler extends TraceWriter {
  /** The trace's SSE instructions (vector.ts). */
  private readonly vector = new VectorCompiler(this, { base: BASE, lin: LIN, addr: ADDR });
  /** Per instruction: where it branches to inside the trace when it is such a Jcc (`innerTarget`), else -1. */
  private readonly inner: number[];
  /** Per instruction: the Jcc that branch forward to it, with what each knew there. */
  private readonly joins: (Join[] | undefined)[] = [];
  /** The instructions Jcc branch forward to, in order. */
  private readonly targets: number[] = [];
  /** Per join target: its block's nesting level inside the loop (the loop is 0). */
  private readonly levels: number[] = [];

  constructor(t: Trace) {
    super(t);
    this.inner = t.insns.map((_, k) => innerTarget(t, k));
    for (const j of this.inner) if (j >= 0) this.joins[j] = [];
    for (let j = 0; j < t.insns.length; j++) if (this.joins[j] !== undefined) this.targets.push(j);
  }

  compile(): Uint8Array {
    const c = this.c;
    const n = this.t.insns.length;
    // block $done { block $side { loop { instructions } } side-exit tail } exit tail
    c.op(Op.BLOCK).byte(VOID);
    c.op(Op.BLOCK).byte(VOID);
    c.op(Op.LOOP).byte(VOID);
    // One block per forward branch target inside the trace, the farthest outermost, all opened here: each
    // closes where its target starts, so the branches nest whatever their sources.
    const targets = this.targets;
    for (let x = targets.length - 1; x >= 0; x--) {
      c.op(Op.BLOCK).byte(VOID);
      this.levels[targets[x]] = targets.length - x;
    }
    this.depth = 1 + targets.length;
    for (let k = 0; k < n; k++) {
      const from = this.joins[k];
      if (from !== undefined) {
        c.op(Op.END);
        this.depth--;
        const fallsThrough = k > 0 && !this.t.ends[k - 1];
        this.joinFlags(
          from.map((f) => f.flags),
          fallsThrough,
        );
        const checked = from.every((f) => f.vector);
        this.vector.checked = fallsThrough ? this.vector.checked && checked : checked;
      }
      this.insn(k);
      // Off the end of a path: the next RIP is after its last instruction (or a followed target).
      if (this.t.ends[k]) this.exitTo(k, () => this.ripAt(this.nextOffset(k)));
    }
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
    return blockFunction(LOCALS, head.view());
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
      case K.CMPXCHG16:
        this.cmpxchg16(k);
        break;
      case K.MOV_FROM_SEG: {
        // move.ts's movFromSeg: 16 bits to memory; to a register, zero-extended to the operand size (32 or 16).
        const selector = () => c.get(BASE).mem(Op.I64_LOAD32_U, 2, Area.SEG_SEL + (i.reg & 7) * 4);
        if (mem) {
          this.operand(k, 2, true);
          this.store(2, selector);
        } else this.setRegAt(i.rm, size === 2 ? 2 : 4, selector);
        break;
      }
      case K.XADD:
        this.xadd(k);
        break;
      case K.CLI:
        // system.ts's cli: allowed when CPL <= IOPL (64-bit mode is protected mode), else the handler's #GP.
        c.get(BASE).mem(Op.I32_LOAD, 2, Area.CPL).get(FL).i32(12).op(Op.I32_SHR_U).i32(3).op(Op.I32_AND);
        c.op(Op.I32_GT_U);
        this.sideIf(k);
        c.get(FL).i32(~Flag.IF).op(Op.I32_AND).set(FL);
        // FL goes back with the lazy record: one the trace has not written is the one it loaded.
        c.i32(1).set(FW);
        if (!this.known) this.readsRecord = true;
        break;
      case K.REP_STRING:
        this.repString(k);
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
      case K.PUSH_IMM:
        this.push(k, () => this.imm(i, 8));
        break;
      case K.LEAVE:
        // control.ts's leave: RSP from RBP, then POP RBP (from RBP: a fault leaves both as they were).
        this.pop(k, 5, 5);
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

  /**
   * REP MOVS and REP STOS forward (string.ts's bulkString64): RCX elements at once when they stay within the
   * destination page and, for MOVS, the source page, both in the arena with the TLB's tags for the access, and
   * the spans do not overlap (MOVS's element loop then repeats a pattern, which memory.copy would not). STOS
   * fills bytes, or wider elements of zero. Everything else (DF set, a longer run, a fault) is the handler's.
   * One instruction retired, as a REP that completes within string.ts's chunk.
   */
  private repString(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.op & 1 ? i.osize : 1;
    const moves = i.op < 0xa6;
    c.get(FL).i32(Flag.DF).op(Op.I32_AND);
    this.sideIf(k);
    // Q: the span's length, once RCX is known to be at most a page of elements.
    this.reg(1);
    c.i64(4096 / size).op(Op.I64_GT_U);
    this.sideIf(k);
    this.reg(1);
    c.op(Op.I64_EQZ).op(Op.I32_EQZ);
    c.op(Op.IF).byte(VOID);
    this.depth++;
    this.reg(1);
    c.op(Op.I32_WRAP_I64).i32(size).op(Op.I32_MUL).set(Q);
    if (!moves && size > 1) {
      // A wider element of anything but zero is not a byte fill.
      this.regAt(0, size);
      c.op(Op.I64_EQZ).op(Op.I32_EQZ);
      this.sideIf(k);
    }
    this.reg(7);
    c.set(LIN);
    this.probeSpan(k, Q, true);
    if (moves) {
      c.get(ADDR).op(Op.I64_EXTEND_I32_U).set(T2);
      this.reg(6);
      c.set(LIN);
      this.probeSpan(k, Q, false);
      // Overlapping spans: dst < src + len and src < dst + len.
      c.get(T2).op(Op.I32_WRAP_I64).get(ADDR).get(Q).op(Op.I32_ADD).op(Op.I32_LT_U);
      c.get(ADDR).get(T2).op(Op.I32_WRAP_I64).get(Q).op(Op.I32_ADD).op(Op.I32_LT_U);
      c.op(Op.I32_AND);
      this.sideIf(k);
      c.get(T2).op(Op.I32_WRAP_I64).get(ADDR).get(Q).memoryCopy();
      this.setReg(6, 8, () => {
        this.reg(6);
        c.get(Q).op(Op.I64_EXTEND_I32_U).op(Op.I64_ADD);
      });
    } else {
      c.get(ADDR);
      this.reg(0);
      c.op(Op.I32_WRAP_I64).get(Q).memoryFill();
    }
    this.setReg(7, 8, () => {
      this.reg(7);
      c.get(Q).op(Op.I64_EXTEND_I32_U).op(Op.I64_ADD);
    });
    this.setReg(1, 8, () => c.i64(0));
    this.depth--;
    c.op(Op.END);
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
   * A LOCK'ed read-modify-write of the `size` bytes at ADDR (instruction k's operand, probed for writing): `op`,
   * an `Atomic` 64-bit form or for size 4 its 32-bit one, on the operands `operands` pushes; the old value is
   * left on the stack. A misaligned operand side-exits first: WebAssembly's atomics trap on one.
   */
  private atomicRmw(k: number, size: number, op: number, operands: () => void): void {
    const c = this.c;
    c.get(ADDR)
      .i32(size - 1)
      .op(Op.I32_AND);
    this.sideIf(k);
    c.get(ADDR);
    operands();
    c.atomic(size === 8 ? op : op + Atomic.RMW32, size === 8 ? 3 : 2);
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
        this.atomicRmw(k, size, Atomic.I64_CMPXCHG, () => {
          this.regAt(0, size);
          this.regAt(i.reg, size);
        });
      } else this.load(size);
    } else this.regAt(i.rm, size);
    c.set(B);
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
      // bits.ts's bitTest: a register offset, signed, moves the operand by whole units of the size.
      const unit =
        i.op === 0x1ba
          ? undefined
          : () => {
              this.reg(Compiler.regField(i));
              if (size === 4) c.i64(32).op(Op.I64_SHL).i64(32).op(Op.I64_SHR_S);
              c.i64(size === 8 ? 6 : 5)
                .op(Op.I64_SHR_S)
                .i64(size === 8 ? 3 : 2)
                .op(Op.I64_SHL);
            };
      this.operand(k, size, kind !== 0, unit);
      if (atomic) {
        const rmw = kind === 1 ? Atomic.I64_OR : kind === 2 ? Atomic.I64_AND : Atomic.I64_XOR;
        this.atomicRmw(k, size, rmw, () => {
          c.get(T1);
          if (kind === 2) c.i64(-1).op(Op.I64_XOR);
        });
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
    this.flagsInFl();
  }

  /**
   * CMPXCHG16B m128 (bits.ts's group9), not LOCK'ed: RDX:RAX against the 16 aligned bytes; equal, RCX:RBX is
   * stored and ZF set; else they load into RDX:RAX and ZF is clear. The other flags stay (materialized into FL).
   */
  private cmpxchg16(k: number): void {
    const c = this.c;
    this.operand(k, 16, true);
    c.get(LIN).op(Op.I32_WRAP_I64).i32(15).op(Op.I32_AND);
    this.sideIf(k);
    c.get(ADDR).mem(Op.I64_LOAD, 0, 0).set(A);
    c.get(ADDR).mem(Op.I64_LOAD, 0, 8).set(B);
    c.get(A);
    this.reg(0);
    c.op(Op.I64_EQ).get(B);
    this.reg(2);
    c.op(Op.I64_EQ).op(Op.I32_AND).tee(Q);
    c.op(Op.IF).byte(VOID);
    this.depth++;
    c.get(ADDR);
    this.reg(3);
    c.mem(Op.I64_STORE, 0, 0).get(ADDR);
    this.reg(1);
    c.mem(Op.I64_STORE, 0, 8);
    c.op(Op.ELSE);
    this.setReg(0, 8, () => c.get(A));
    this.setReg(2, 8, () => c.get(B));
    this.depth--;
    c.op(Op.END);
    this.materialize();
    c.i32(~Flag.ZF).op(Op.I32_AND).get(Q).i32(6).op(Op.I32_SHL).op(Op.I32_OR).set(FL);
    this.flagsInFl();
  }

  /**
   * XADD r/m, r (bits.ts's xadd): r/m := r/m + r, r := the old r/m (a register r/m written last, so with one
   * register as both the sum wins), the flags of the addition. LOCK'ed, an atomic add of the memory, which must
   * then be aligned (a side exit otherwise).
   */
  private xadd(k: number): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    this.regAt(i.reg, size);
    c.set(B);
    if (i.mod !== 3) {
      this.operand(k, size, true);
      if (i.flags & InsnFlag.LOCK) {
        this.atomicRmw(k, size, Atomic.I64_ADD, () => c.get(B));
      } else this.load(size);
    } else this.regAt(i.rm, size);
    c.set(A);
    c.get(A).get(B).op(Op.I64_ADD);
    if (size !== 8) c.i64(maskOf(size)).op(Op.I64_AND);
    c.set(V);
    if (i.mod !== 3) {
      if (!(i.flags & InsnFlag.LOCK)) this.store(size, () => c.get(V));
      this.setReg(i.reg, size, () => c.get(A));
    } else {
      this.setReg(i.reg, size, () => c.get(A));
      this.setReg(i.rm, size, () => c.get(V));
    }
    this.record(LazyOp.ADD, size);
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
    if (fixed < 0) {
      // A count of 0 (CL masked) changes no flag and no register, but a 32-bit one is zero-extended, as with
      // an immediate 0. The flags then differ by path: readers after it compute them from the lazy record,
      // which holds whichever path set them.
      this.reg(1);
      c.i64(size * 8 - 1)
        .op(Op.I64_AND)
        .tee(T1)
        .op(Op.I64_EQZ);
      c.op(Op.IF).byte(VOID);
      this.depth++;
      if (size === 4) this.setReg(n, 4, () => this.reg(n));
      c.op(Op.ELSE);
      this.shiftBy(k, () => c.get(T1));
      this.depth--;
      c.op(Op.END);
      this.known = false;
      return;
    }
    this.shiftBy(k, () => c.i64(fixed), flagsOverwritten(this.t, k));
  }

  /**
   * The shift of instruction k by a count from 1 to the width minus 1 (`count` pushes it as an i64); with
   * `unseen`, its CF, OF and AF are not computed (nothing sees them: trace.ts's `flagsOverwritten`).
   */
  private shiftBy(k: number, count: () => void, unseen = false): void {
    const i = this.t.insns[k];
    const c = this.c;
    const size = i.osize;
    const n = i.rm;
    const bits = size * 8;
    const kind = i.reg & 7;
    this.regAt(n, size);
    c.set(A);
    if (kind === 7) {
      // SAR shifts the value sign-extended from its size.
      c.get(A);
      if (size === 4) c.i64(32).op(Op.I64_SHL).i64(32).op(Op.I64_SHR_S);
      c.set(B);
    }
    // V the result.
    c.get(kind === 7 ? B : A);
    count();
    c.op(kind === 5 ? Op.I64_SHR_U : kind === 7 ? Op.I64_SHR_S : Op.I64_SHL);
    if (kind !== 5) c.i64(maskOf(size)).op(Op.I64_AND);
    c.set(V);
    if (!unseen) {
      // Q its CF, the last bit out: bit count - 1 of the value going right, bit (bits - count) going left.
      if (kind === 5 || kind === 7) {
        c.get(kind === 7 ? B : A);
        count();
        c.i64(1)
          .op(Op.I64_SUB)
          .op(kind === 7 ? Op.I64_SHR_S : Op.I64_SHR_U);
      } else {
        c.get(A).i64(bits);
        count();
        c.op(Op.I64_SUB).op(Op.I64_SHR_U);
      }
      c.op(Op.I32_WRAP_I64).i32(1).op(Op.I32_AND).set(Q);
      // Then OF into bit 11.
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
    }
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
    } else if (!acc && flagsOverwritten(this.t, k)) {
      // Nothing sees CF and OF before they are set again (trace.ts's `flagsOverwritten`): no high half.
      c.i32(0);
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
    this.flagsInFl();
    this.setReg(n, size, () => c.get(V));
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

  /**
   * POP r64 from the stack at register `sp`'s value (RSP; RBP for LEAVE), leaving RSP just past it. RSP moves
   * before the register is written, so POP RSP loads the popped value.
   */
  private pop(k: number, n: number, sp = 4): void {
    const c = this.c;
    this.reg(sp);
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
    const inner = this.inner[k];
    if (inner >= 0) {
      // To a later instruction of the trace: the skipped ones are not retired.
      (this.joins[inner] as Join[]).push({ flags: this.flagState(), vector: this.vector.checked });
      this.condition(i.op & 0xf);
      c.op(Op.IF).byte(VOID);
      this.depth++;
      if (inner > k + 1)
        c.get(N)
          .i32(inner - k - 1)
          .op(Op.I32_SUB)
          .set(N);
      c.br(this.depth - 1 - this.levels[inner]);
      this.depth--;
      c.op(Op.END);
      return;
    }
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

/** A forward branch into the trace, as `Compiler.joins` keeps it. */
interface Join {
  readonly flags: FlagState;
  /** Whether the SSE check was written on the branch's way. */
  readonly vector: boolean;
}

/**
 * Where Jcc k of `t` goes when taken, if that is a later instruction of the trace (the first there, when the
 * path passes the offset twice): its index, else -1 (the entry, an earlier one, or off the trace: it leaves).
 */
function innerTarget(t: Trace, k: number): number {
  if (t.kinds[k] !== K.JCC) return -1;
  const i = t.insns[k];
  const target = t.at[k] + i.len + (i.imm | 0);
  if (target === 0) return -1;
  for (let j = k + 1; j < t.insns.length; j++) if (t.at[j] === target) return j;
  return -1;
}

/** The WebAssembly function of `trace`, as a code-section entry for encoder.ts's `blocksModule`. */
export function compileTrace(trace: Trace): Uint8Array {
  return new Compiler(trace).compile();
}
