/**
 * Integer arithmetic and logic: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP in all their encodings (00-3F, 80-83),
 * TEST, NOT, NEG, INC, DEC (SDM Vol. 2). Results are computed first and written, and flags are recorded only
 * after the write succeeded, so a faulting instruction changes nothing.
 */
import type { Cpu } from './cpu.js';
import type { Insn } from './decode.js';
import { getCf, LazyOp, setLazy, setLazy64, setLazyIncDec } from './flags.js';
import { getReg, readRegOp, readRm, readRmForWrite, setReg, writeBack, writeRegOp } from './operands.js';
import { Stop } from './state.js';

/** ALU operations in the order of the opcode's bits 5:3 and of group 1's reg field. */
export const AluKind = { ADD: 0, OR: 1, ADC: 2, SBB: 3, AND: 4, SUB: 5, XOR: 6, CMP: 7 } as const;

const TWO32 = 4294967296;

/** High half of the last 64-bit result of `compute`. */
let resHi = 0;
/** The flag kind `compute` chose (ADC/SBB depend on the carry in). */
let lazyKind = 0;

/** Truncates a value to an operand size of 1, 2 or 4 bytes (4 gives an int32). */
export function trunc(v: number, size: number): number {
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v | 0;
}

function compute(c: Cpu, kind: number, size: number, d: number, dh: number, s: number, sh: number): number {
  let cin = 0;
  if (kind === AluKind.ADC || kind === AluKind.SBB) cin = getCf(c);
  switch (kind) {
    case AluKind.ADD:
    case AluKind.ADC: {
      lazyKind = cin ? LazyOp.ADC1 : LazyOp.ADD;
      if (size === 8) {
        const lo = (d >>> 0) + (s >>> 0) + cin;
        resHi = (dh + sh + (lo >= TWO32 ? 1 : 0)) | 0;
        return lo | 0;
      }
      return trunc(d + s + cin, size);
    }
    case AluKind.SUB:
    case AluKind.SBB:
    case AluKind.CMP: {
      lazyKind = cin ? LazyOp.SBB1 : LazyOp.SUB;
      if (size === 8) {
        const lo = (d >>> 0) - (s >>> 0) - cin;
        resHi = (dh - sh - (lo < 0 ? 1 : 0)) | 0;
        return lo | 0;
      }
      return trunc(d - s - cin, size);
    }
    case AluKind.OR:
      lazyKind = LazyOp.LOGIC;
      resHi = dh | sh;
      return d | s;
    case AluKind.AND:
      lazyKind = LazyOp.LOGIC;
      resHi = dh & sh;
      return d & s;
    default:
      lazyKind = LazyOp.LOGIC;
      resHi = dh ^ sh;
      return d ^ s;
  }
}

function record(c: Cpu, size: number, res: number, d: number, dh: number, s: number, sh: number): void {
  if (size === 8) setLazy64(c, lazyKind, res, resHi, d, dh, s, sh);
  else setLazy(c, lazyKind, size, res, d, s);
}

/** The eight ALU operations on r/m and reg, both directions, and on the accumulator with an immediate. */
export function aluClassic(c: Cpu, i: Insn): void {
  const kind = (i.op >> 3) & 7;
  const form = i.op & 7;
  const size = i.osize;
  if (form === 4 || form === 5) {
    const d = getReg(c, 0, size);
    const dh = size === 8 ? c.r[1] : 0;
    const s = size === 1 ? i.imm & 0xff : size === 2 ? i.imm & 0xffff : i.imm;
    const res = compute(c, kind, size, d, dh, s, i.immHi);
    if (kind !== AluKind.CMP) setReg(c, 0, size, res, resHi);
    record(c, size, res, d, dh, s, i.immHi);
    return;
  }
  if (form < 2) {
    const s = readRegOp(c, i, size);
    const sh = c.hi;
    const d = kind === AluKind.CMP ? readRm(c, i, size) : readRmForWrite(c, i, size);
    if (c.stop & Stop.ABORT) return;
    const dh = c.hi;
    const res = compute(c, kind, size, d, dh, s, sh);
    if (kind !== AluKind.CMP) {
      writeBack(c, i, size, res, resHi);
      if (c.stop & Stop.ABORT) return;
    }
    record(c, size, res, d, dh, s, sh);
    return;
  }
  const s = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const sh = c.hi;
  const d = readRegOp(c, i, size);
  const dh = c.hi;
  const res = compute(c, kind, size, d, dh, s, sh);
  if (kind !== AluKind.CMP) writeRegOp(c, i, size, res, resHi);
  record(c, size, res, d, dh, s, sh);
}

/** Group 1 (80-83): ALU operation `reg` on r/m with an immediate. */
export function aluGroup1(c: Cpu, i: Insn): void {
  const kind = i.reg & 7;
  const size = i.osize;
  const d = kind === AluKind.CMP ? readRm(c, i, size) : readRmForWrite(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const dh = c.hi;
  const s = size === 1 ? i.imm & 0xff : size === 2 ? i.imm & 0xffff : i.imm;
  const sh = i.imm >> 31;
  const res = compute(c, kind, size, d, dh, s, sh);
  if (kind !== AluKind.CMP) {
    writeBack(c, i, size, res, resHi);
    if (c.stop & Stop.ABORT) return;
  }
  record(c, size, res, d, dh, s, sh);
}

/** TEST r/m, reg (84, 85). */
export function testRmReg(c: Cpu, i: Insn): void {
  const size = i.osize;
  const d = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const dh = c.hi;
  const s = readRegOp(c, i, size);
  const sh = c.hi;
  const res = compute(c, AluKind.AND, size, d, dh, s, sh);
  record(c, size, res, d, dh, s, sh);
}

/** TEST AL/eAX, imm (A8, A9). */
export function testAccImm(c: Cpu, i: Insn): void {
  const size = i.osize;
  const d = getReg(c, 0, size);
  const dh = c.r[1];
  const s = size === 1 ? i.imm & 0xff : size === 2 ? i.imm & 0xffff : i.imm;
  const res = compute(c, AluKind.AND, size, d, dh, s, i.immHi);
  record(c, size, res, d, dh, s, i.immHi);
}

/** Group 3's TEST, NOT and NEG (F6/F7 /0, /1, /2, /3). MUL and DIV are in muldiv.ts. */
export function testNotNeg(c: Cpu, i: Insn): void {
  const size = i.osize;
  const r = i.reg & 7;
  if (r < 2) {
    const d = readRm(c, i, size);
    if (c.stop & Stop.ABORT) return;
    const dh = c.hi;
    const s = size === 1 ? i.imm & 0xff : size === 2 ? i.imm & 0xffff : i.imm;
    const res = compute(c, AluKind.AND, size, d, dh, s, i.immHi);
    record(c, size, res, d, dh, s, i.immHi);
    return;
  }
  const d = readRmForWrite(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const dh = c.hi;
  if (r === 2) {
    writeBack(c, i, size, trunc(~d, size === 8 ? 4 : size), ~dh);
    return;
  }
  const res = compute(c, AluKind.SUB, size, 0, 0, d, dh);
  writeBack(c, i, size, res, resHi);
  if (c.stop & Stop.ABORT) return;
  record(c, size, res, 0, 0, d, dh);
}

/** INC/DEC r/m (FE/FF /0, /1). */
export function incDecRm(c: Cpu, i: Insn): void {
  const size = i.osize;
  const d = readRmForWrite(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const dh = c.hi;
  const res = compute(c, i.reg & 1 ? AluKind.SUB : AluKind.ADD, size, d, dh, 1, 0);
  const hi = resHi;
  writeBack(c, i, size, res, hi);
  if (c.stop & Stop.ABORT) return;
  setLazyIncDec(c, i.reg & 1 ? LazyOp.SUB : LazyOp.ADD, size, res, hi, d, dh);
}

/** INC/DEC r (40-4F outside 64-bit mode). */
export function incDecReg(c: Cpu, i: Insn): void {
  const size = i.osize;
  const n = i.op & 7;
  const dec = (i.op & 8) !== 0;
  const d = getReg(c, n, size);
  const res = compute(c, dec ? AluKind.SUB : AluKind.ADD, size, d, 0, 1, 0);
  setReg(c, n, size, res, 0);
  setLazyIncDec(c, dec ? LazyOp.SUB : LazyOp.ADD, size, res, 0, d, 0);
}
