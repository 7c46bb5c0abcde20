/**
 * Specialized handlers for the most frequent instruction forms, chosen once per decoded instruction by
 * {@link specialize} (dispatch.ts caches the choice in `Insn.handler`). Each does exactly what the general
 * handler does for its form (alu.ts, move.ts), without the layers that serve every operand size and every
 * addressing form. The memory forms check and fault exactly as operands.ts's readRm/writeRm do.
 */

import { branch } from './control.js';
import type { Cpu } from './cpu.js';
import { type Insn, InsnFlag } from './decode.js';
import { getCf, getZf, LazyOp, setLazyIncDec } from './flags.js';
import { effectiveAddress, linearOf } from './operands.js';
import { ARITH_FLAGS, CodeMode, Flag, Stop } from './state.js';

const TWO32 = 4294967296;

/** Ids of the specialized handlers, above the general ones of dispatch.ts. */
export const Fast = {
  /** ADD, OR, ADC, SBB, AND, SUB, XOR, CMP between two 32-bit registers (00-3F forms 1 and 3, mod 3). */
  ALU_RR32: 100,
  /** The same between two 64-bit registers. */
  ALU_RR64: 101,
  /** Group 1 (81, 83) on a 32-bit register. */
  ALU_RI32: 102,
  /** The same on a 64-bit register. */
  ALU_RI64: 103,
  /** MOV between two 32- or 64-bit registers (89, 8B, mod 3). */
  MOV_RR: 104,
  /** INC/DEC of a 32- or 64-bit register (40-4F outside 64-bit mode, FF /0 /1 mod 3). */
  INC_DEC_R: 105,
  /** JZ/JNZ (74, 75, 0F 84, 0F 85): the loop branch of nearly every loop. */
  JCC_Z: 106,
  /** SHL, SHR, SAL, SAR of a 32-bit register by imm8, 1 or CL (C1, D1, D3 /4-/7, mod 3). */
  SHIFT_R32: 109,
  /** MOV r32/r64, m (8B with a memory operand). */
  MOV_LOAD: 107,
  /** MOV m, r32/r64 (89 with a memory operand). */
  MOV_STORE: 108,
} as const;

/** The specialized handler for `i`, or -1 when the general one applies. */
export function specialize(i: Insn): number {
  if (i.flags & InsnFlag.UD) return -1;
  const op = i.op;
  if (op === 0x74 || op === 0x75 || op === 0x184 || op === 0x185) return Fast.JCC_Z;
  const size = i.osize;
  if (op >= 0x40 && op <= 0x4f && i.mode !== CodeMode.M64 && size === 4) return Fast.INC_DEC_R;
  if (i.mod !== 3) {
    if (op === 0x8b && (size === 4 || size === 8)) return Fast.MOV_LOAD;
    if (op === 0x89 && (size === 4 || size === 8)) return Fast.MOV_STORE;
    return -1;
  }
  if (op === 0xff && (i.reg & 7) < 2 && (size === 4 || size === 8)) return Fast.INC_DEC_R;
  if (size !== 4 && size !== 8) return -1;
  if (op < 0x40 && ((op & 7) === 1 || (op & 7) === 3)) return size === 4 ? Fast.ALU_RR32 : Fast.ALU_RR64;
  if (op === 0x81 || op === 0x83) return size === 4 ? Fast.ALU_RI32 : Fast.ALU_RI64;
  if ((op === 0xc1 || op === 0xd1 || op === 0xd3) && size === 4 && (i.reg & 7) >= 4) return Fast.SHIFT_R32;
  if (op === 0x89 || op === 0x8b) return Fast.MOV_RR;
  return -1;
}

/** ALU_RR32: `d op s`, written back unless CMP; a 32-bit write clears the high half (SDM Vol. 1 3.4.1.1). */
export function aluRegReg32(c: Cpu, i: Insn): void {
  const toReg = (i.op & 2) !== 0;
  const dn = (toReg ? i.reg : i.rm) << 1;
  alu32(c, (i.op >> 3) & 7, dn, c.r[(toReg ? i.rm : i.reg) << 1]);
}

/** ALU_RI32: group 1 with the immediate (already sign-extended by the decoder). */
export function aluRegImm32(c: Cpu, i: Insn): void {
  alu32(c, i.reg & 7, i.rm << 1, i.imm);
}

function alu32(c: Cpu, kind: number, dn: number, s: number): void {
  const r = c.r;
  const d = r[dn];
  let res: number;
  let lazy: number;
  switch (kind) {
    case 0:
      res = (d + s) | 0;
      lazy = LazyOp.ADD;
      break;
    case 1:
      res = d | s;
      lazy = LazyOp.LOGIC;
      break;
    case 4:
      res = d & s;
      lazy = LazyOp.LOGIC;
      break;
    case 6:
      res = d ^ s;
      lazy = LazyOp.LOGIC;
      break;
    case 2: {
      const cin = getCf(c);
      res = (d + s + cin) | 0;
      lazy = cin ? LazyOp.ADC1 : LazyOp.ADD;
      break;
    }
    case 3: {
      const cin = getCf(c);
      res = (d - s - cin) | 0;
      lazy = cin ? LazyOp.SBB1 : LazyOp.SUB;
      break;
    }
    default:
      res = (d - s) | 0;
      lazy = LazyOp.SUB;
  }
  if (kind !== 7) {
    r[dn] = res;
    r[dn + 1] = 0;
  }
  c.lazyOp = lazy;
  c.lazySize = 4;
  c.lazyRes = res;
  c.lazyDst = d;
  c.lazySrc = s;
  c.lazyMask = ARITH_FLAGS;
}

/** ALU_RR64: as ALU_RR32 on 64-bit registers, summed in 32-bit halves. */
export function aluRegReg64(c: Cpu, i: Insn): void {
  const toReg = (i.op & 2) !== 0;
  const sn = (toReg ? i.rm : i.reg) << 1;
  alu64(c, (i.op >> 3) & 7, (toReg ? i.reg : i.rm) << 1, c.r[sn], c.r[sn + 1]);
}

/** ALU_RI64: group 1 with the immediate sign-extended to 64 bits. */
export function aluRegImm64(c: Cpu, i: Insn): void {
  alu64(c, i.reg & 7, i.rm << 1, i.imm, i.imm >> 31);
}

function alu64(c: Cpu, kind: number, dn: number, s: number, sh: number): void {
  const r = c.r;
  const d = r[dn];
  const dh = r[dn + 1];
  let res: number;
  let resHi: number;
  let lazy: number;
  switch (kind) {
    case 0: {
      const lo = (d >>> 0) + (s >>> 0);
      resHi = (dh + sh + (lo >= TWO32 ? 1 : 0)) | 0;
      res = lo | 0;
      lazy = LazyOp.ADD;
      break;
    }
    case 1:
      res = d | s;
      resHi = dh | sh;
      lazy = LazyOp.LOGIC;
      break;
    case 4:
      res = d & s;
      resHi = dh & sh;
      lazy = LazyOp.LOGIC;
      break;
    case 6:
      res = d ^ s;
      resHi = dh ^ sh;
      lazy = LazyOp.LOGIC;
      break;
    case 2: {
      const cin = getCf(c);
      const lo = (d >>> 0) + (s >>> 0) + cin;
      resHi = (dh + sh + (lo >= TWO32 ? 1 : 0)) | 0;
      res = lo | 0;
      lazy = cin ? LazyOp.ADC1 : LazyOp.ADD;
      break;
    }
    case 3: {
      const cin = getCf(c);
      const lo = (d >>> 0) - (s >>> 0) - cin;
      resHi = (dh - sh - (lo < 0 ? 1 : 0)) | 0;
      res = lo | 0;
      lazy = cin ? LazyOp.SBB1 : LazyOp.SUB;
      break;
    }
    default: {
      const lo = (d >>> 0) - (s >>> 0);
      resHi = (dh - sh - (lo < 0 ? 1 : 0)) | 0;
      res = lo | 0;
      lazy = LazyOp.SUB;
    }
  }
  if (kind !== 7) {
    r[dn] = res;
    r[dn + 1] = resHi;
  }
  c.lazyOp = lazy;
  c.lazySize = 8;
  c.lazyRes = res;
  c.lazyResHi = resHi;
  c.lazyDst = d;
  c.lazyDstHi = dh;
  c.lazySrc = s;
  c.lazySrcHi = sh;
  c.lazyMask = ARITH_FLAGS;
}

/** MOV_RR: register to register; a 32-bit move clears the destination's high half. */
export function movRegReg(c: Cpu, i: Insn): void {
  const r = c.r;
  const toReg = (i.op & 2) !== 0;
  const dn = (toReg ? i.reg : i.rm) << 1;
  const sn = (toReg ? i.rm : i.reg) << 1;
  r[dn] = r[sn];
  r[dn + 1] = i.osize === 8 ? r[sn + 1] : 0;
}

/** INC_DEC_R: like ADD/SUB of 1 on a register, CF kept (SDM Vol. 2 INC, DEC); the flags as alu.ts records them. */
export function incDecReg32or64(c: Cpu, i: Insn): void {
  const r = c.r;
  const opcodeForm = i.op !== 0xff;
  const n = (opcodeForm ? i.op & 7 : i.rm) << 1;
  const dec = opcodeForm ? (i.op & 8) !== 0 : (i.reg & 1) !== 0;
  const d = r[n];
  if (i.osize === 4) {
    const res = dec ? (d - 1) | 0 : (d + 1) | 0;
    r[n] = res;
    r[n + 1] = 0;
    setLazyIncDec(c, dec ? LazyOp.SUB : LazyOp.ADD, 4, res, 0, d, 0);
    return;
  }
  const dh = r[n + 1];
  const lo = dec ? (d >>> 0) - 1 : (d >>> 0) + 1;
  const hi = dec ? (dh - (lo < 0 ? 1 : 0)) | 0 : (dh + (lo >= TWO32 ? 1 : 0)) | 0;
  const res = lo | 0;
  r[n] = res;
  r[n + 1] = hi;
  setLazyIncDec(c, dec ? LazyOp.SUB : LazyOp.ADD, 8, res, hi, d, dh);
}

/** JCC_Z: JZ (taken when ZF is set) and JNZ, as control.ts's `jcc` does them. */
export function jccZero(c: Cpu, i: Insn): void {
  if (getZf(c) !== (i.op & 1)) branch(c, c.nextIp + i.imm, i.osize);
}

/** MOV_LOAD: as move.ts's movRegRm for a memory source of 4 or 8 bytes; a fault leaves the register as it was. */
export function movLoad(c: Cpu, i: Insn): void {
  const size = i.osize;
  const lin = linearOf(c, i.seg, effectiveAddress(c, i), size, false);
  if (c.stop & Stop.ABORT) return;
  const v = c.read(lin, size);
  if (c.stop & Stop.ABORT) return;
  const n = i.reg << 1;
  c.r[n] = v;
  c.r[n + 1] = size === 8 ? c.hi : 0;
}

/** MOV_STORE: as move.ts's movRmReg for a memory destination of 4 or 8 bytes. */
export function movStore(c: Cpu, i: Insn): void {
  const size = i.osize;
  const n = i.reg << 1;
  const lin = linearOf(c, i.seg, effectiveAddress(c, i), size, true);
  if (c.stop & Stop.ABORT) return;
  c.write(lin, size, c.r[n], c.r[n + 1]);
}

/**
 * SHIFT_R32: as shift.ts's shiftGroup for a 32-bit register and a shift (not a rotate): CF and OF eager, ZF, SF
 * and PF from the result, AF cleared; a zero count changes no flag but still writes (clearing the high half).
 */
export function shiftReg32(c: Cpu, i: Insn): void {
  const r = c.r;
  const n = i.rm << 1;
  const count = (i.op === 0xc1 ? i.imm : i.op === 0xd1 ? 1 : r[2]) & 31;
  const d = r[n];
  r[n + 1] = 0;
  if (count === 0) return;
  const kind = i.reg & 7;
  let res: number;
  let cf: number;
  let of: number;
  if (kind === 4 || kind === 6) {
    res = d << count;
    cf = (d >>> (32 - count)) & 1;
    of = (res >>> 31) ^ cf;
  } else if (kind === 5) {
    res = (d >>> count) | 0;
    cf = (d >>> (count - 1)) & 1;
    of = d >>> 31;
  } else {
    res = d >> count;
    cf = (d >> (count - 1)) & 1;
    of = 0;
  }
  r[n] = res;
  c.flags = (c.flags & ~(Flag.CF | Flag.OF | Flag.AF)) | cf | (of << 11);
  c.lazyOp = LazyOp.RESULT;
  c.lazySize = 4;
  c.lazyRes = res;
  c.lazyDst = 0;
  c.lazySrc = 0;
  c.lazyMask = Flag.ZF | Flag.SF | Flag.PF;
}
