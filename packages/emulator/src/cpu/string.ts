/**
 * String instructions: MOVS, CMPS, STOS, LODS, SCAS with REP/REPE/REPNE (SDM Vol. 2). A repeated instruction
 * runs a bounded number of iterations per step and then restarts itself (RIP unchanged), so interrupts, exits
 * and the run budget are honoured in the middle of a long `rep`, as on hardware.
 */
import type { Cpu } from './cpu.js';
import { type Insn, InsnFlag } from './decode.js';
import { getZf, LazyOp, setLazy, setLazy64 } from './flags.js';
import { getReg, linearOf, setReg } from './operands.js';
import { Flag, Seg, Stop } from './state.js';

/** Iterations of a REP string instruction per step before it restarts itself. */
const REP_CHUNK = 4096;
const TWO32 = 4294967296;

/** The index register (RSI = 6, RDI = 7) as an offset of the address size. */
export function indexOf(c: Cpu, n: number, asize: number): number {
  if (asize === 8) {
    // Most indexes fit in 32 bits: skip the floating-point multiply (and the boxed double it returns).
    const hi = c.r[(n << 1) + 1];
    return hi === 0 ? c.r[n << 1] >>> 0 : hi * TWO32 + (c.r[n << 1] >>> 0);
  }
  return asize === 4 ? c.r[n << 1] >>> 0 : c.r[n << 1] & 0xffff;
}

/** Advances an index register by `delta` within the address size. */
export function stepIndex(c: Cpu, n: number, asize: number, delta: number): void {
  if (asize === 8) {
    const lo = (c.r[n << 1] >>> 0) + delta;
    c.r[n << 1] = lo | 0;
    if (lo >= TWO32) c.r[(n << 1) + 1] = (c.r[(n << 1) + 1] + 1) | 0;
    else if (lo < 0) c.r[(n << 1) + 1] = (c.r[(n << 1) + 1] - 1) | 0;
  } else if (asize === 4) {
    c.r[n << 1] = (c.r[n << 1] + delta) | 0;
    c.r[(n << 1) + 1] = 0;
  } else {
    setReg(c, n, 2, c.r[n << 1] + delta, 0);
  }
}

/** Whether the count register (of the address size) is zero. */
export function countIsZero(c: Cpu, asize: number): boolean {
  return asize === 8 ? (c.r[2] | c.r[3]) === 0 : asize === 4 ? c.r[2] === 0 : (c.r[2] & 0xffff) === 0;
}

/** Decrements the count register. */
export function decCount(c: Cpu, asize: number): void {
  stepIndex(c, 1, asize, -1);
}

/** MOVS, STOS, LODS (A4, A5, AA, AB, AC, AD). */
export function stringMove(c: Cpu, i: Insn): void {
  const size = i.osize;
  const asize = i.asize;
  const rep = (i.flags & (InsnFlag.REP | InsnFlag.REPNE)) !== 0;
  const delta = c.flags & Flag.DF ? -size : size;
  const op = i.op & 0xfe;
  const src = i.segOverride ? i.seg : Seg.DS;
  let n = rep ? REP_CHUNK : 1;
  while (n-- > 0) {
    if (rep && countIsZero(c, asize)) return;
    if (op === 0xa4) {
      const sLin = linearOf(c, src, indexOf(c, 6, asize), size, false);
      if (c.stop & Stop.ABORT) return;
      const v = c.read(sLin, size);
      if (c.stop & Stop.ABORT) return;
      const hi = c.hi;
      const dLin = linearOf(c, Seg.ES, indexOf(c, 7, asize), size, true);
      if (c.stop & Stop.ABORT) return;
      c.write(dLin, size, v, hi);
      if (c.stop & Stop.ABORT) return;
      stepIndex(c, 6, asize, delta);
      stepIndex(c, 7, asize, delta);
    } else if (op === 0xaa) {
      const dLin = linearOf(c, Seg.ES, indexOf(c, 7, asize), size, true);
      if (c.stop & Stop.ABORT) return;
      c.write(dLin, size, getReg(c, 0, size), c.r[1]);
      if (c.stop & Stop.ABORT) return;
      stepIndex(c, 7, asize, delta);
    } else {
      const sLin = linearOf(c, src, indexOf(c, 6, asize), size, false);
      if (c.stop & Stop.ABORT) return;
      const v = c.read(sLin, size);
      if (c.stop & Stop.ABORT) return;
      setReg(c, 0, size, v, c.hi);
      stepIndex(c, 6, asize, delta);
    }
    if (rep) decCount(c, asize);
    if (c.stop & Stop.EXIT) break;
  }
  if (rep && !countIsZero(c, asize)) c.nextIp = c.rip;
}

/** CMPS, SCAS (A6, A7, AE, AF) with REPE/REPNE. */
export function stringCompare(c: Cpu, i: Insn): void {
  const size = i.osize;
  const asize = i.asize;
  const repe = (i.flags & InsnFlag.REP) !== 0;
  const repne = (i.flags & InsnFlag.REPNE) !== 0;
  const rep = repe || repne;
  const delta = c.flags & Flag.DF ? -size : size;
  const scas = (i.op & 0xfe) === 0xae;
  const src = i.segOverride ? i.seg : Seg.DS;
  let n = rep ? REP_CHUNK : 1;
  while (n-- > 0) {
    if (rep && countIsZero(c, asize)) return;
    let a: number;
    let ah: number;
    if (scas) {
      a = getReg(c, 0, size);
      ah = c.r[1];
    } else {
      const sLin = linearOf(c, src, indexOf(c, 6, asize), size, false);
      if (c.stop & Stop.ABORT) return;
      a = c.read(sLin, size);
      if (c.stop & Stop.ABORT) return;
      ah = c.hi;
    }
    const dLin = linearOf(c, Seg.ES, indexOf(c, 7, asize), size, false);
    if (c.stop & Stop.ABORT) return;
    const b = c.read(dLin, size);
    if (c.stop & Stop.ABORT) return;
    const bh = c.hi;
    // Flags of CMP a, b.
    if (size === 8) {
      const lo = (a >>> 0) - (b >>> 0);
      setLazy64(c, LazyOp.SUB, lo | 0, (ah - bh - (lo < 0 ? 1 : 0)) | 0, a, ah, b, bh);
    } else {
      const mask = size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
      const r = size === 4 ? (a - b) | 0 : (a - b) & mask;
      setLazy(c, LazyOp.SUB, size, r, a, b);
    }
    if (!scas) stepIndex(c, 6, asize, delta);
    stepIndex(c, 7, asize, delta);
    if (!rep) return;
    decCount(c, asize);
    const zf = getZf(c);
    if ((repe && zf === 0) || (repne && zf === 1)) return;
  }
  if (!countIsZero(c, asize)) c.nextIp = c.rip;
}
