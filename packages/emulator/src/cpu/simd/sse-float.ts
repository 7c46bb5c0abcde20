/**
 * Packed and scalar floating-point SSE/SSE2/SSE3 instructions (SDM Vol. 2: ADD/SUB/MUL/DIV/SQRT/MIN/MAX
 * PS/PD/SS/SD, CMPccPS.., COMIS/UCOMIS, SHUFPS/PD, UNPCKL/H, MOVMSK, HADD/HSUB, ADDSUB, RCP/RSQRT). Every lane
 * goes through float-core.ts; results are built in scratch and written only when no unmasked exception
 * faults (SDM Vol. 1 11.5.1: the destination is unchanged then).
 */
import type { Cpu } from '../cpu.js';
import { simdExceptions } from '../fpu/checks.js';
import { Fx } from '../fpu/image.js';
import { Flag } from '../state.js';
import {
  compareValues,
  FOp,
  from32,
  fstat,
  isSNaN32,
  isSNaN64,
  lane32,
  lane64,
  laneHi,
  value32,
  value64,
} from './float-core.js';
import { Pfx, setArithFlags } from './operands.js';

function mxcsrOf(c: Cpu): number {
  return c.fxI32[Fx.MXCSR >> 2];
}

/** Commits `words` 32-bit words of TMP to `d` when the exception flags allow it. */
function commit(c: Cpu, d: number, words: number): void {
  if (!simdExceptions(c, fstat.flags)) return;
  const w = c.fxI32;
  const t = Fx.TMP >> 2;
  for (let k = 0; k < words; k++) w[(d >> 2) + k] = w[t + k];
}

/** ADD/SUB/MUL/DIV/SQRT/MIN/MAX in the form the prefix picks: PS, PD, SS, SD. */
export function floatArith(c: Cpu, kind: number, p: number, d: number, s: number): void {
  const w = c.fxI32;
  const mx = mxcsrOf(c);
  const t = Fx.TMP >> 2;
  const dk = d >> 2;
  const sk = s >> 2;
  fstat.flags = 0;
  if (p === Pfx.NONE || p === Pfx.F3) {
    const n = p === Pfx.NONE ? 4 : 1;
    for (let k = 0; k < n; k++) w[t + k] = lane32(kind, w[dk + k], w[sk + k], mx);
    commit(c, d, n);
  } else {
    const n = p === Pfx.P66 ? 2 : 1;
    for (let k = 0; k < n; k++) {
      w[t + 2 * k] = lane64(kind, w[dk + 2 * k], w[dk + 2 * k + 1], w[sk + 2 * k], w[sk + 2 * k + 1], mx);
      w[t + 2 * k + 1] = laneHi;
    }
    commit(c, d, 2 * n);
  }
}

/** The CMPPS/CMPPD/CMPSS/CMPSD predicate `imm` (0-7) on a comparison result (0 =, 1 <, 2 >, 3 unordered). */
function predicate(imm: number, rel: number): boolean {
  switch (imm & 7) {
    case 0:
      return rel === 0;
    case 1:
      return rel === 1;
    case 2:
      return rel === 0 || rel === 1;
    case 3:
      return rel === 3;
    case 4:
      return rel !== 0;
    case 5:
      return rel !== 1;
    case 6:
      return rel === 2 || rel === 3;
    default:
      return rel !== 3;
  }
}

/** CMPccPS/PD/SS/SD (0F C2 ib): all-ones or zero per lane. LT, LE, NLT, NLE signal on QNaNs. */
export function floatCompare(c: Cpu, p: number, d: number, s: number, imm: number): void {
  const w = c.fxI32;
  const mx = mxcsrOf(c);
  const t = Fx.TMP >> 2;
  const dk = d >> 2;
  const sk = s >> 2;
  const signal = (imm & 3) === 1 || (imm & 3) === 2;
  fstat.flags = 0;
  if (p === Pfx.NONE || p === Pfx.F3) {
    const n = p === Pfx.NONE ? 4 : 1;
    for (let k = 0; k < n; k++) {
      const a = w[dk + k];
      const b = w[sk + k];
      const rel = compareValues(value32(a, mx, true), value32(b, mx), isSNaN32(a), isSNaN32(b), signal);
      w[t + k] = predicate(imm, rel) ? -1 : 0;
    }
    commit(c, d, n);
  } else {
    const n = p === Pfx.P66 ? 2 : 1;
    for (let k = 0; k < n; k++) {
      const alo = w[dk + 2 * k];
      const ahi = w[dk + 2 * k + 1];
      const blo = w[sk + 2 * k];
      const bhi = w[sk + 2 * k + 1];
      const rel = compareValues(
        value64(alo, ahi, mx, true),
        value64(blo, bhi, mx),
        isSNaN64(ahi, alo),
        isSNaN64(bhi, blo),
        signal,
      );
      const v = predicate(imm, rel) ? -1 : 0;
      w[t + 2 * k] = v;
      w[t + 2 * k + 1] = v;
    }
    commit(c, d, 2 * n);
  }
}

/** COMISS/COMISD/UCOMISS/UCOMISD (0F 2F, 0F 2E): ZF, PF, CF; OF, SF, AF cleared. */
export function comis(c: Cpu, double: boolean, d: number, s: number, signalQnan: boolean): void {
  const w = c.fxI32;
  const mx = mxcsrOf(c);
  fstat.flags = 0;
  let rel: number;
  if (double) {
    const alo = w[d >> 2];
    const ahi = w[(d >> 2) + 1];
    const blo = w[s >> 2];
    const bhi = w[(s >> 2) + 1];
    rel = compareValues(
      value64(alo, ahi, mx, true),
      value64(blo, bhi, mx),
      isSNaN64(ahi, alo),
      isSNaN64(bhi, blo),
      signalQnan,
    );
  } else {
    const a = w[d >> 2];
    const b = w[s >> 2];
    rel = compareValues(value32(a, mx, true), value32(b, mx), isSNaN32(a), isSNaN32(b), signalQnan);
  }
  if (!simdExceptions(c, fstat.flags)) return;
  const f = rel === 3 ? Flag.ZF | Flag.PF | Flag.CF : rel === 0 ? Flag.ZF : rel === 1 ? Flag.CF : 0;
  setArithFlags(c, f);
}

/** SHUFPS (imm picks two lanes of d, two of s) and SHUFPD. */
export function shuffleFloat(c: Cpu, double: boolean, d: number, s: number, imm: number): void {
  const w = c.fxI32;
  const t = Fx.TMP >> 2;
  const dk = d >> 2;
  const sk = s >> 2;
  if (double) {
    const a = (imm & 1) * 2;
    const b = ((imm >> 1) & 1) * 2;
    w[t] = w[dk + a];
    w[t + 1] = w[dk + a + 1];
    w[t + 2] = w[sk + b];
    w[t + 3] = w[sk + b + 1];
  } else {
    w[t] = w[dk + (imm & 3)];
    w[t + 1] = w[dk + ((imm >> 2) & 3)];
    w[t + 2] = w[sk + ((imm >> 4) & 3)];
    w[t + 3] = w[sk + ((imm >> 6) & 3)];
  }
  for (let k = 0; k < 4; k++) w[dk + k] = w[t + k];
}

/** UNPCKLPS/UNPCKHPS/UNPCKLPD/UNPCKHPD. */
export function unpackFloat(c: Cpu, double: boolean, high: boolean, d: number, s: number): void {
  const w = c.fxI32;
  const t = Fx.TMP >> 2;
  const dk = d >> 2;
  const sk = s >> 2;
  const h = high ? 2 : 0;
  if (double) {
    w[t] = w[dk + h];
    w[t + 1] = w[dk + h + 1];
    w[t + 2] = w[sk + h];
    w[t + 3] = w[sk + h + 1];
  } else {
    w[t] = w[dk + h];
    w[t + 1] = w[sk + h];
    w[t + 2] = w[dk + h + 1];
    w[t + 3] = w[sk + h + 1];
  }
  for (let k = 0; k < 4; k++) w[dk + k] = w[t + k];
}

/** MOVMSKPS/MOVMSKPD: the sign bits. */
export function moveMaskFloat(c: Cpu, double: boolean, s: number): number {
  const w = c.fxI32;
  const sk = s >> 2;
  if (double) return (w[sk + 1] >>> 31) | ((w[sk + 3] >>> 31) << 1);
  return (w[sk] >>> 31) | ((w[sk + 1] >>> 31) << 1) | ((w[sk + 2] >>> 31) << 2) | ((w[sk + 3] >>> 31) << 3);
}

/** HADDPS/HSUBPS/HADDPD/HSUBPD (SSE3): pairs within each operand. */
export function horizontal(c: Cpu, double: boolean, sub: boolean, d: number, s: number): void {
  const w = c.fxI32;
  const mx = mxcsrOf(c);
  const t = Fx.TMP >> 2;
  const dk = d >> 2;
  const sk = s >> 2;
  const kind = sub ? FOp.SUB : FOp.ADD;
  fstat.flags = 0;
  if (double) {
    w[t] = lane64(kind, w[dk], w[dk + 1], w[dk + 2], w[dk + 3], mx);
    w[t + 1] = laneHi;
    w[t + 2] = lane64(kind, w[sk], w[sk + 1], w[sk + 2], w[sk + 3], mx);
    w[t + 3] = laneHi;
  } else {
    w[t] = lane32(kind, w[dk], w[dk + 1], mx);
    w[t + 1] = lane32(kind, w[dk + 2], w[dk + 3], mx);
    w[t + 2] = lane32(kind, w[sk], w[sk + 1], mx);
    w[t + 3] = lane32(kind, w[sk + 2], w[sk + 3], mx);
  }
  commit(c, d, 4);
}

/** ADDSUBPS/ADDSUBPD (SSE3): subtract in even lanes, add in odd ones. */
export function addSub(c: Cpu, double: boolean, d: number, s: number): void {
  const w = c.fxI32;
  const mx = mxcsrOf(c);
  const t = Fx.TMP >> 2;
  const dk = d >> 2;
  const sk = s >> 2;
  fstat.flags = 0;
  if (double) {
    w[t] = lane64(FOp.SUB, w[dk], w[dk + 1], w[sk], w[sk + 1], mx);
    w[t + 1] = laneHi;
    w[t + 2] = lane64(FOp.ADD, w[dk + 2], w[dk + 3], w[sk + 2], w[sk + 3], mx);
    w[t + 3] = laneHi;
  } else {
    for (let k = 0; k < 4; k++) w[t + k] = lane32(k & 1 ? FOp.ADD : FOp.SUB, w[dk + k], w[sk + k], mx);
  }
  commit(c, d, 4);
}

/**
 * RCPPS/RCPSS/RSQRTPS/RSQRTSS: approximations with relative error at most 1.5 * 2^-12 (SDM Vol. 2 RCPPS).
 * The emulator returns the correctly rounded reciprocal, which meets the bound but is not bit-identical to a
 * given Intel part's table (tests compare them within the bound). No exception flags, as the manual says.
 */
export function approx(c: Cpu, sqrt: boolean, scalar: boolean, d: number, s: number): void {
  const w = c.fxI32;
  const f = c.fxF32;
  const n = scalar ? 1 : 4;
  const t = Fx.TMP >> 2;
  for (let k = 0; k < n; k++) {
    const x = from32(w[(s >> 2) + k]);
    // Denormal inputs are treated as zero (an infinity out), as the hardware's table does.
    const v = Math.abs(x) < 1.1754943508222875e-38 ? (Object.is(x, -0) || x < 0 ? -0 : 0) : x;
    f[t + k] = sqrt ? 1 / Math.sqrt(v) : 1 / v;
    if (Number.isNaN(x)) w[t + k] = w[(s >> 2) + k] | 0x400000;
  }
  for (let k = 0; k < n; k++) w[(d >> 2) + k] = w[t + k];
}
