/**
 * SSE/SSE2 conversions (SDM Vol. 2 CVT*): between binary32, binary64 and 32/64-bit integers, packed and
 * scalar. Integer results out of range (or NaN) are the "integer indefinite" 80000000H / 8000000000000000H
 * with #I; rounding follows MXCSR.RC except the CVTT* forms, which truncate. Results go through scratch and
 * are written only when no unmasked exception faults.
 */
import type { Cpu } from '../cpu.js';
import { simdExceptions } from '../fpu/checks.js';
import { Round } from '../fpu/float80.js';
import { Fx, Mxcsr } from '../fpu/image.js';
import {
  bits32,
  bits64,
  from32,
  from64,
  fstat,
  hi64,
  isNaN32,
  isNaN64,
  isSNaN32,
  isSNaN64,
  roundResult,
  roundToInt,
} from './float-core.js';

const TWO32 = 4294967296;
const TWO31 = 2147483648;
const TWO63 = 2 ** 63;

/** High word of the last 64-bit {@link toInt} result. */
export let intHi = 0;

/**
 * Converts a double to a signed integer of `width` (32 or 64) bits by `rc`; returns the low word (high in
 * {@link intHi}) and sets #I or #P in fstat.
 */
export function toInt(x: number, rc: number, width: number): number {
  if (Number.isNaN(x)) {
    fstat.flags |= Mxcsr.IE;
    intHi = width === 64 ? 0x80000000 | 0 : 0;
    return width === 64 ? 0 : 0x80000000 | 0;
  }
  const r = roundToInt(x, rc);
  const limit = width === 64 ? TWO63 : TWO31;
  if (r >= limit || r < -limit) {
    fstat.flags |= Mxcsr.IE;
    intHi = width === 64 ? 0x80000000 | 0 : 0;
    return width === 64 ? 0 : 0x80000000 | 0;
  }
  if (r !== x) fstat.flags |= Mxcsr.PE;
  const hi = Math.floor(r / TWO32);
  intHi = hi | 0;
  return (r - hi * TWO32) | 0;
}

function mxcsr(c: Cpu): number {
  return c.fxI32[Fx.MXCSR >> 2];
}

/** A binary32 lane as a double for conversion (DAZ honoured). */
function in32(b: number, mx: number): number {
  if ((b & 0x7f800000) === 0 && (b & 0x7fffff) !== 0) {
    if (mx & Mxcsr.DAZ) return b < 0 ? -0 : 0;
  }
  return from32(b);
}

function in64(lo: number, hi: number, mx: number): number {
  if ((hi & 0x7ff00000) === 0 && ((hi & 0xfffff) !== 0 || lo !== 0)) {
    if (mx & Mxcsr.DAZ) return hi < 0 ? -0 : 0;
  }
  return from64(lo, hi);
}

/** A signed 64-bit integer (halves) as a double rounded by RC into binary32 or binary64. */
export function int64ToFloat(lo: number, hi: number, single: boolean, mx: number): number {
  const H = hi * TWO32;
  const L = lo >>> 0;
  const v = H + L;
  const e = L - (v - H);
  return roundResult(v, single, mx, e > 0 ? 1 : e < 0 ? -1 : 0);
}

/** CVTSI2SS/CVTSI2SD: integer `lo`/`hi` (hi ignored for 32-bit) into lane 0 of `d`. */
export function intToScalar(c: Cpu, d: number, lo: number, hi: number, width: number, double: boolean): void {
  const mx = mxcsr(c);
  fstat.flags = 0;
  const v = width === 64 ? int64ToFloat(lo, hi, !double, mx) : roundResult(lo, !double, mx);
  if (!simdExceptions(c, fstat.flags)) return;
  if (double) c.fxF64[d >> 3] = v;
  else c.fxF32[d >> 2] = v;
}

/** CVT(T)SS2SI / CVT(T)SD2SI: lane 0 of `s` to an integer; the low word (intHi the high); null-free: NaN on #XM. */
export function scalarToInt(c: Cpu, s: number, double: boolean, truncate: boolean, width: number): number {
  const mx = mxcsr(c);
  const rc = truncate ? Round.ZERO : (mx >> Mxcsr.RC_SHIFT) & 3;
  const w = c.fxI32;
  fstat.flags = 0;
  const x = double ? in64(w[s >> 2], w[(s >> 2) + 1], mx) : in32(w[s >> 2], mx);
  const lo = toInt(x, rc, width);
  if (!simdExceptions(c, fstat.flags)) return Number.NaN;
  return lo;
}

/**
 * Packed and scalar conversions of 0F 5A, 5B, E6 and 0F 2A/2C/2D's packed forms. `kind` names the conversion;
 * the result (`words` 32-bit words) is written to `d` when no unmasked exception faults.
 */
export const Cvt = {
  PS2PD: 0,
  PD2PS: 1,
  SS2SD: 2,
  SD2SS: 3,
  DQ2PS: 4,
  PS2DQ: 5,
  TPS2DQ: 6,
  DQ2PD: 7,
  PD2DQ: 8,
  TPD2DQ: 9,
  PI2PS: 10,
  PI2PD: 11,
  PS2PI: 12,
  TPS2PI: 13,
  PD2PI: 14,
  TPD2PI: 15,
} as const;

function narrow(lo: number, hi: number, mx: number): number {
  // binary64 -> binary32: NaNs keep their top payload bits, quieted.
  if (isNaN64(hi, lo)) {
    if (isSNaN64(hi, lo)) fstat.flags |= Mxcsr.IE;
    return (hi & 0x80000000) | 0x7fc00000 | ((hi & 0x7ffff) << 3) | (lo >>> 29);
  }
  if ((hi & 0x7ff00000) === 0 && ((hi & 0xfffff) !== 0 || lo !== 0)) {
    if (mx & Mxcsr.DAZ) return hi & 0x80000000;
    fstat.flags |= Mxcsr.DE;
  }
  return bits32(roundResult(from64(lo, hi), true, mx));
}

function widen(b: number, mx: number): number {
  if (isNaN32(b)) {
    if (isSNaN32(b)) fstat.flags |= Mxcsr.IE;
    hi64Out = (b & 0x80000000) | 0x7ff80000 | ((b & 0x3fffff) >>> 3);
    return (b & 7) << 29;
  }
  if ((b & 0x7f800000) === 0 && (b & 0x7fffff) !== 0) {
    if (mx & Mxcsr.DAZ) {
      hi64Out = b & 0x80000000;
      return 0;
    }
    fstat.flags |= Mxcsr.DE;
  }
  const lo = bits64(from32(b));
  hi64Out = hi64;
  return lo;
}

let hi64Out = 0;

/** Runs conversion `kind` from source offset `s` into destination offset `d`. */
export function convert(c: Cpu, kind: number, d: number, s: number): void {
  const w = c.fxI32;
  const mx = mxcsr(c);
  const rc = (mx >> Mxcsr.RC_SHIFT) & 3;
  const t = Fx.TMP >> 2;
  const sk = s >> 2;
  const dk = d >> 2;
  fstat.flags = 0;
  let words = 4;
  switch (kind) {
    case Cvt.PS2PD:
      for (let k = 0; k < 2; k++) {
        w[t + 2 * k] = widen(w[sk + k], mx);
        w[t + 2 * k + 1] = hi64Out;
      }
      break;
    case Cvt.SS2SD:
      w[t] = widen(w[sk], mx);
      w[t + 1] = hi64Out;
      words = 2;
      break;
    case Cvt.PD2PS:
      w[t] = narrow(w[sk], w[sk + 1], mx);
      w[t + 1] = narrow(w[sk + 2], w[sk + 3], mx);
      w[t + 2] = 0;
      w[t + 3] = 0;
      break;
    case Cvt.SD2SS:
      w[t] = narrow(w[sk], w[sk + 1], mx);
      words = 1;
      break;
    case Cvt.DQ2PS:
      for (let k = 0; k < 4; k++) w[t + k] = bits32(roundResult(w[sk + k], true, mx));
      break;
    case Cvt.PS2DQ:
    case Cvt.TPS2DQ:
      for (let k = 0; k < 4; k++)
        w[t + k] = toInt(in32(w[sk + k], mx), kind === Cvt.PS2DQ ? rc : Round.ZERO, 32);
      break;
    case Cvt.DQ2PD:
      for (let k = 0; k < 2; k++) {
        w[t + 2 * k] = bits64(w[sk + k]);
        w[t + 2 * k + 1] = hi64;
      }
      break;
    case Cvt.PD2DQ:
    case Cvt.TPD2DQ:
      for (let k = 0; k < 2; k++) {
        w[t + k] = toInt(
          in64(w[sk + 2 * k], w[sk + 2 * k + 1], mx),
          kind === Cvt.PD2DQ ? rc : Round.ZERO,
          32,
        );
      }
      w[t + 2] = 0;
      w[t + 3] = 0;
      break;
    case Cvt.PI2PS:
      for (let k = 0; k < 2; k++) w[t + k] = bits32(roundResult(w[sk + k], true, mx));
      words = 2;
      break;
    case Cvt.PI2PD:
      for (let k = 0; k < 2; k++) {
        w[t + 2 * k] = bits64(w[sk + k]);
        w[t + 2 * k + 1] = hi64;
      }
      break;
    case Cvt.PS2PI:
    case Cvt.TPS2PI:
      for (let k = 0; k < 2; k++)
        w[t + k] = toInt(in32(w[sk + k], mx), kind === Cvt.PS2PI ? rc : Round.ZERO, 32);
      words = 2;
      break;
    default:
      // PD2PI, TPD2PI
      for (let k = 0; k < 2; k++) {
        w[t + k] = toInt(
          in64(w[sk + 2 * k], w[sk + 2 * k + 1], mx),
          kind === Cvt.PD2PI ? rc : Round.ZERO,
          32,
        );
      }
      words = 2;
  }
  if (!simdExceptions(c, fstat.flags)) return;
  for (let k = 0; k < words; k++) w[dk + k] = w[t + k];
}
