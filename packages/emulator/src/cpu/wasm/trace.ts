/**
 * Which 64-bit instructions the WebAssembly tier compiles, and the traces it compiles: the longest run of them
 * from an entry, straight on through conditional branches, into direct JMP and CALL targets on the same page,
 * back after a RET whose popped address is the one after the CALL it followed.
 */
import { type Insn, InsnFlag } from '../decode.js';
import { CodeMode, Seg } from '../state.js';
import { type TracePath, tracePath } from '../trace-path.js';
import { VF, vectorForm } from './vector.js';

/** Most instructions in a trace (a loop's passes count once). */
export const MAX_TRACE = 48;

/** What a trace instruction is, for the compiler. */
export const K = {
  NONE: 0,
  NOP: 1,
  /** MOV r/m, r (88, 89). */
  MOV_RM_R: 2,
  /** MOV r, r/m (8A, 8B). */
  MOV_R_RM: 3,
  /** MOV r, imm (B0-BF). */
  MOV_R_IMM: 4,
  /** MOV r/m, imm (C6 /0, C7 /0). */
  MOV_RM_IMM: 5,
  LEA: 6,
  /** MOVZX, MOVSX, MOVSXD. */
  EXTEND: 7,
  /** ADD, OR, AND, SUB, XOR, CMP: r/m, r. */
  ALU_RM_R: 8,
  /** The same: r, r/m. */
  ALU_R_RM: 9,
  /** The same: r/m, imm (80, 81, 83). */
  ALU_RM_IMM: 10,
  /** The same: AL/eAX, imm. */
  ALU_ACC_IMM: 11,
  TEST_RM_R: 12,
  TEST_RM_IMM: 13,
  TEST_ACC_IMM: 14,
  /** SHL/SAL, SHR, SAR of a register by an immediate, 1 or CL (C1, D1, D3 /4-/7). */
  SHIFT: 15,
  /** INC/DEC of a register or memory (FE, FF /0 /1): they read CF to keep it. */
  INC_DEC: 16,
  CMOV: 17,
  SETCC: 18,
  PUSH: 19,
  POP: 20,
  CALL: 21,
  RET: 22,
  JMP: 23,
  JCC: 24,
  /** IMUL r, r/m and IMUL r, r/m, imm (0F AF, 69, 6B); MUL and IMUL r/m into EDX:EAX or RDX:RAX (F7 /4 /5). */
  IMUL: 25,
  /** NOT and NEG (F6, F7 /2 /3). */
  NOT_NEG: 26,
  /** ROL, ROR of a register by a nonzero constant (C1, D1 /0 /1): they fold every flag into RFLAGS. */
  ROTATE: 27,
  /** JMP r/m64 and CALL r/m64 (FF /4, /2): they end the trace. */
  BRANCH_INDIRECT: 28,
  /** DIV r/m32, r/m64 (F7 /6): the high half (EDX, RDX) 0 and the divisor not, else left to the handler. */
  DIV: 29,
  /** An SSE form vector.ts compiles (`vectorForm`). */
  VECTOR: 30,
  /** PUSHF (9C) in 64-bit mode: every flag, materialized. */
  PUSHF: 31,
  /** CWDE, CDQE (98) and CDQ, CQO (99). */
  CONVERT: 32,
  /** BSWAP r32, r64 (0F C8+r). */
  BSWAP: 33,
  /** CMPXCHG r/m32, r/m64 (0F B1), LOCK'ed with a memory destination too (an atomic compare-exchange). */
  CMPXCHG: 34,
  /**
   * BT, BTS, BTR, BTC by an immediate (0F BA /4-/7) or by a register (0F A3/AB/B3/BB), of a register or of
   * memory (a register's offset addresses a bit string: signed, in units of the operand size).
   */
  BIT: 35,
  /** XADD r/m32, r/m64 (0F C1), LOCK'ed with a memory destination too (an atomic add). */
  XADD: 36,
  /** CLI (FA) where CPL <= IOPL; otherwise the handler's #GP. */
  CLI: 37,
  /**
   * REP MOVS and REP STOS (A4, A5, AA, AB) with 64-bit addresses: a run within one destination page (and
   * source page) at once, as string.ts's bulk path; anything else is left to the handler.
   */
  REP_STRING: 38,
  /** PUSH imm32 and PUSH imm8 (68, 6A), sign-extended to 64 bits. */
  PUSH_IMM: 39,
  /** LEAVE (C9) in 64-bit mode: RSP from RBP, then POP RBP. */
  LEAVE: 40,
  /** CMPXCHG16B m128 (0F C7 /1 with REX.W) without LOCK: 16-byte aligned, else the handler's #GP. */
  CMPXCHG16: 41,
  /** MOV r/m, Sreg (8C): a selector from the area, zero-extended into a register or 16 bits to memory. */
  MOV_FROM_SEG: 42,
} as const;

/** Whether `i` is a LOCK'ed form this tier compiles, as an atomic read-modify-write of memory. */
export function atomicForm(i: Insn): boolean {
  if (i.mod === 3 || (i.osize !== 4 && i.osize !== 8)) return false;
  const bitWrite = (i.op === 0x1ba && (i.reg & 7) >= 5) || i.op === 0x1ab || i.op === 0x1b3 || i.op === 0x1bb;
  return i.op === 0x1b1 || i.op === 0x1c1 || bitWrite;
}

/** The ALU kind (ModRM reg / opcode bits 5:3: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP) of an ALU form. */
export function aluKind(i: Insn, kind: number): number {
  return kind === K.ALU_RM_IMM ? i.reg & 7 : (i.op >> 3) & 7;
}

/** The compiler's kind for `i` in 64-bit mode, or K.NONE when the tier does not compile it. */
export function classify(i: Insn): number {
  if (i.flags & InsnFlag.UD || (i.flags & InsnFlag.LOCK && !atomicForm(i))) return K.NONE;
  const op = i.op;
  const size = i.osize;
  const wide = size === 4 || size === 8;
  const mem = i.mod !== 3;
  // Memory operands: 64-bit addressing only (67 prefixes are rare and wrap at 4 GiB).
  if (mem && i.asize !== 8) return K.NONE;
  if (op === 0x90) return i.flags & (InsnFlag.REP | InsnFlag.REPNE) || i.rm & 8 ? K.NONE : K.NOP;
  // NOPL, the hint NOPs and PREFETCHh/PREFETCHW (0F 18-1F, 0F 0D): never a fault, nothing architectural.
  if ((op >= 0x118 && op <= 0x11f) || op === 0x10d) return K.NOP;
  if (op === 0x88 || op === 0x89) return K.MOV_RM_R;
  if (op === 0x8a || op === 0x8b) return K.MOV_R_RM;
  if (op >= 0xb0 && op <= 0xbf) return size === 2 ? K.NONE : K.MOV_R_IMM;
  if ((op === 0xc6 || op === 0xc7) && (i.reg & 7) === 0) return size === 2 ? K.NONE : K.MOV_RM_IMM;
  if (op === 0x8d) return wide && mem ? K.LEA : K.NONE;
  if (op === 0x1b6 || op === 0x1b7 || op === 0x1be || op === 0x1bf) return wide ? K.EXTEND : K.NONE;
  if (op === 0x63) return size === 8 ? K.EXTEND : K.NONE;
  if (op < 0x40) {
    const form = op & 7;
    if (form === 0 || form === 1) return K.ALU_RM_R;
    if (form === 2 || form === 3) return K.ALU_R_RM;
    if (form === 4 || form === 5) return K.ALU_ACC_IMM;
  }
  if (op === 0x80 || op === 0x81 || op === 0x83) return K.ALU_RM_IMM;
  if (op === 0x84 || op === 0x85) return K.TEST_RM_R;
  if (op === 0xa8 || op === 0xa9) return K.TEST_ACC_IMM;
  if ((op === 0xf6 || op === 0xf7) && (i.reg & 7) === 0) return K.TEST_RM_IMM;
  if ((op === 0xc1 || op === 0xd1 || op === 0xd3) && !mem && wide && (i.reg & 7) >= 4) return K.SHIFT;
  if ((op === 0xc1 || op === 0xd1) && !mem && wide && (i.reg & 7) < 2) {
    return shiftCount(i) === 0 ? K.NONE : K.ROTATE;
  }
  if (op === 0xff && ((i.reg & 7) === 2 || (i.reg & 7) === 4)) return size === 8 ? K.BRANCH_INDIRECT : K.NONE;
  if ((op === 0x1af || op === 0x69 || op === 0x6b) && wide) return K.IMUL;
  if (op === 0xf7 && ((i.reg & 7) === 4 || (i.reg & 7) === 5) && wide) return K.IMUL;
  if ((op === 0xf6 || op === 0xf7) && ((i.reg & 7) === 2 || (i.reg & 7) === 3))
    return size === 2 ? K.NONE : K.NOT_NEG;
  if ((op === 0xfe || op === 0xff) && (i.reg & 7) < 2 && size !== 2) return K.INC_DEC;
  if (op === 0xf7 && (i.reg & 7) === 6 && wide) return K.DIV;
  if (op >= 0x140 && op <= 0x14f) return wide ? K.CMOV : K.NONE;
  if (op >= 0x190 && op <= 0x19f) return K.SETCC;
  if (op >= 0x50 && op <= 0x57) return size === 8 ? K.PUSH : K.NONE;
  if (op >= 0x58 && op <= 0x5f) return size === 8 ? K.POP : K.NONE;
  if (op === 0x68 || op === 0x6a) return size === 8 ? K.PUSH_IMM : K.NONE;
  if (op === 0x8c) return (i.reg & 7) <= 5 ? K.MOV_FROM_SEG : K.NONE;
  if (op === 0xc9) return size === 8 ? K.LEAVE : K.NONE;
  if (op === 0xe8) return size === 8 ? K.CALL : K.NONE;
  if (op === 0xc3) return size === 8 ? K.RET : K.NONE;
  if (op === 0xe9 || op === 0xeb) return K.JMP;
  if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f)) return K.JCC;
  if (op === 0x9c) return size === 8 ? K.PUSHF : K.NONE;
  if (op === 0x98 || op === 0x99) return wide ? K.CONVERT : K.NONE;
  if (op >= 0x1c8 && op <= 0x1cf) return wide ? K.BSWAP : K.NONE;
  if (op === 0x1b1) return wide ? K.CMPXCHG : K.NONE;
  if (op === 0x1c7 && (i.reg & 7) === 1 && mem) return size === 8 ? K.CMPXCHG16 : K.NONE;
  if (op === 0x1c1) return wide ? K.XADD : K.NONE;
  if (op === 0xfa) return K.CLI;
  if (
    (op === 0xa4 || op === 0xa5 || op === 0xaa || op === 0xab) &&
    i.flags & (InsnFlag.REP | InsnFlag.REPNE)
  ) {
    const farSource = op < 0xa6 && i.segOverride && (i.seg === Seg.FS || i.seg === Seg.GS);
    return i.asize === 8 && !farSource ? K.REP_STRING : K.NONE;
  }
  if (op === 0x1ba && (i.reg & 7) >= 4) return wide ? K.BIT : K.NONE;
  if (op === 0x1a3 || op === 0x1ab || op === 0x1b3 || op === 0x1bb) return wide ? K.BIT : K.NONE;
  if (op >= 0x100 && vectorForm(i) !== VF.NONE) return K.VECTOR;
  return K.NONE;
}

/** Whether `i` (of kind `k`) reads the arithmetic flags: conditions, INC/DEC's CF, ADC's and SBB's carry. */
export function readsFlags(i: Insn, k: number): boolean {
  if (k >= K.ALU_RM_R && k <= K.ALU_ACC_IMM) {
    const alu = aluKind(i, k);
    return alu === 2 || alu === 3;
  }
  // A rotate reads them all: it leaves every flag in RFLAGS, the ones it does not set as they were.
  return (
    k === K.JCC ||
    k === K.CMOV ||
    k === K.SETCC ||
    k === K.INC_DEC ||
    k === K.ROTATE ||
    k === K.PUSHF ||
    k === K.BIT ||
    k === K.CMPXCHG16
  );
}

/**
 * Whether no flag that instruction k of `t` sets is ever seen: its path goes on, through instructions that read
 * no flags and cannot leave the block (register moves, LEA, NOPs), to one that sets every arithmetic flag again
 * (an ALU operation or TEST without memory, IMUL of registers, a shift of a register by a nonzero constant).
 * Nothing can see them in between: a block is not interrupted, and no instruction there can fault or side-exit.
 * What only feeds such flags need not be computed: a 64-bit IMUL's high half for its overflow, a shift's CF, OF
 * and AF. Linux's RSA self-tests (two thirds of the instructions of its boot) multiply 32-bit halves with four
 * IMULs and three shifts a limb whose flags are all set again unseen.
 */
export function flagsOverwritten(t: Trace, k: number): boolean {
  for (let j = k + 1; j < t.insns.length; j++) {
    if (t.ends[j - 1]) return false;
    const i = t.insns[j];
    const kind = t.kinds[j];
    if (readsFlags(i, kind)) return false;
    const registers = i.mod === 3;
    switch (kind) {
      case K.NOP:
      case K.LEA:
      case K.MOV_R_IMM:
        continue;
      case K.MOV_RM_R:
      case K.MOV_R_RM:
      case K.EXTEND:
        if (registers) continue;
        return false;
      case K.ALU_RM_R:
      case K.ALU_R_RM:
      case K.ALU_RM_IMM:
      case K.TEST_RM_R:
      case K.TEST_RM_IMM:
      case K.IMUL:
        return registers;
      case K.ALU_ACC_IMM:
      case K.TEST_ACC_IMM:
        return true;
      case K.SHIFT:
        return registers && shiftCount(i) > 0;
      default:
        return false;
    }
  }
  return false;
}

/**
 * A trace ready to compile: its path (trace-path.ts) from page offset `entry`, then the paths from where its
 * Jcc branch to off that path (`traceAt`), and each instruction's kind.
 */
export interface Trace extends TracePath {
  /** The page offset of the first instruction. */
  readonly entry: number;
  /** Per instruction: its kind (K). */
  readonly kinds: number[];
  /** Per instruction: whether its path ends there (the next one, if any, starts another, reached by a Jcc). */
  readonly ends: boolean[];
}

/**
 * The trace from page offset `offset` over the page's cached instructions `insns` (64-bit mode), or null when
 * its first instruction is not compiled by this tier.
 *
 * The path from the entry goes straight on through conditional branches. Then, while there is room, the trace
 * takes in the path from where one of its Jcc goes when taken, if that is on the page, not the entry, and not
 * already later on the trace: the taken branch then stays in the block (block-compiler.ts nests these forward
 * branches), where it would otherwise leave it for the dispatcher. Early returns (`jz .out; ...; ret; .out:`)
 * and loops whose head is before the entry are the common cases.
 */
export function traceAt(insns: readonly (Insn | undefined)[], offset: number): Trace | null {
  const kinds: number[] = [];
  const accept = (i: Insn): boolean => {
    const kind = classify(i);
    if (kind === K.NONE) return false;
    kinds.push(kind);
    return true;
  };
  // A RET of no followed CALL, and an indirect JMP or CALL, go where only the running code knows.
  const stops = (i: Insn): boolean => i.op === 0xc3 || kinds[kinds.length - 1] === K.BRANCH_INDIRECT;
  const path = tracePath(insns, offset, CodeMode.M64, MAX_TRACE, accept, stops);
  if (path.insns.length === 0) return null;
  const ends = path.insns.map((_, k) => k === path.insns.length - 1);
  const tried = new Set<number>();
  for (;;) {
    const from = pendingTarget(path, kinds, offset, tried);
    if (from === null || path.insns.length >= MAX_TRACE) break;
    tried.add(from);
    const more = tracePath(insns, offset + from, CodeMode.M64, MAX_TRACE - path.insns.length, accept, stops);
    for (let k = 0; k < more.insns.length; k++) {
      path.insns.push(more.insns[k]);
      path.at.push(more.at[k] + from);
      path.expect.push(more.expect[k]);
      path.follow.push(more.follow[k]);
      ends.push(k === more.insns.length - 1);
    }
  }
  // Spelled out: V8 (Node 20) copied the spread `{ ...path }` in its runtime, half of this function's time.
  const { insns: pathInsns, at, expect, follow } = path;
  return { insns: pathInsns, at, expect, follow, entry: offset, kinds, ends };
}

/**
 * The first taken target (an offset from the entry) of the path's Jcc that the trace does not yet hold after
 * that Jcc, is on the page, is not the entry (a loop), does not start an earlier part of the trace (that
 * would unroll a loop), and was not tried; null when there is none.
 */
function pendingTarget(
  path: TracePath,
  kinds: readonly number[],
  entry: number,
  tried: Set<number>,
): number | null {
  const { insns, at } = path;
  for (let k = 0; k < insns.length; k++) {
    if (kinds[k] !== K.JCC) continue;
    const target = at[k] + insns[k].len + (insns[k].imm | 0);
    if (target === 0 || tried.has(target) || entry + target < 0 || entry + target >= 4096) continue;
    if (!at.includes(target)) return target;
  }
  return null;
}

/**
 * The count of a SHIFT by a constant (C1 imm8, D1 1), masked as the instruction masks it (SDM Vol. 2
 * SAL/SAR/SHL/SHR); -1 for D3, whose count is CL.
 */
export function shiftCount(i: Insn): number {
  if (i.op === 0xd3) return -1;
  return (i.op === 0xc1 ? i.imm : 1) & (i.osize === 8 ? 63 : 31);
}
