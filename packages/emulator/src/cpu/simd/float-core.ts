/**
 * IEEE 754 arithmetic as SSE performs it (SDM Vol. 1 4.8-4.9, 11.5): binary64 through JavaScript doubles and
 * binary32 through `Math.fround` (exact for +, -, *, /, sqrt: a double holds more than 2p+2 bits of a
 * binary32 result, so rounding twice gives the correctly rounded value). The exact error of each operation
 * (error-free transforms: TwoSum, Dekker's product) gives the inexact flag and the directed rounding modes of
 * MXCSR.RC. NaNs are handled on their bits, since JavaScript does not promise to keep a NaN's payload: the
 * first NaN operand is returned quieted, invalid operations return the default NaN (SDM Vol. 1 Table 4-7).
 * Known limits: when the exact error itself underflows (products near the smallest denormal) the inexact flag
 * and directed rounding may miss it.
 */

import { Round } from '../fpu/float80.js';
import { Mxcsr } from '../fpu/image.js';

/** Arithmetic kinds. */
export const FOp = { ADD: 0, SUB: 1, MUL: 2, DIV: 3, SQRT: 4, MIN: 5, MAX: 6 } as const;

/** Exception flags (MXCSR bits 0-5) raised by the last operations; callers reset it. */
export const fstat = { flags: 0 };

const f64 = new Float64Array(1);
const w64 = new Int32Array(f64.buffer);
const f32 = new Float32Array(1);
const w32 = new Int32Array(f32.buffer);

/** The bits of a binary32 value. */
export function bits32(v: number): number {
  f32[0] = v;
  return w32[0];
}

/** A binary32 value from its bits (not for NaNs: their payload is handled on bits). */
export function from32(b: number): number {
  w32[0] = b;
  return f32[0];
}

/** Sets {@link hi64} and returns the low word of a binary64 value. */
export function bits64(v: number): number {
  f64[0] = v;
  hi64 = w64[1];
  return w64[0];
}

/** The high word of the last {@link bits64}. */
export let hi64 = 0;

/** A binary64 value from its words. */
export function from64(lo: number, hi: number): number {
  w64[0] = lo;
  w64[1] = hi;
  return f64[0];
}

export function isNaN32(b: number): boolean {
  return (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;
}
export function isSNaN32(b: number): boolean {
  return isNaN32(b) && (b & 0x400000) === 0;
}
export function isNaN64(hi: number, lo: number): boolean {
  return (hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) !== 0 || lo !== 0);
}
export function isSNaN64(hi: number, lo: number): boolean {
  return isNaN64(hi, lo) && (hi & 0x80000) === 0;
}
function isDenormal32(b: number): boolean {
  return (b & 0x7f800000) === 0 && (b & 0x7fffff) !== 0;
}
function isDenormal64(hi: number, lo: number): boolean {
  return (hi & 0x7ff00000) === 0 && ((hi & 0xfffff) !== 0 || lo !== 0);
}

/** The default NaN ("QNaN floating-point indefinite"). */
export const INDEFINITE32 = 0xffc00000 | 0;
export const INDEFINITE64_HI = 0xfff80000 | 0;

/** Whether Dekker's product might overflow or lose its error term to underflow for this magnitude. */
function extreme(v: number): boolean {
  const m = Math.abs(v);
  return m !== 0 && (m > 1e270 || m < 1e-270);
}

/** A finite double as m * 2^e with an integer m (exact). */
function split(v: number): [bigint, number] {
  const lo = bits64(v);
  const hi = hi64;
  const exp = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo >>> 0);
  if (exp !== 0) m |= 1n << 52n;
  if (hi < 0) m = -m;
  return [m, (exp === 0 ? 1 : exp) - 1075];
}

/**
 * The sign of (exact a op b) - r by exact rational arithmetic: the cold path for magnitudes where the
 * floating-point error terms would overflow or underflow.
 */
function slowSign(kind: number, a: number, b: number, r: number): number {
  const [ma, ea] = split(a);
  const [mb, eb] = split(b);
  const [mr, er] = split(r);
  let lhs: bigint;
  let rhs: bigint;
  let flip = false;
  if (kind === FOp.MUL) {
    // a*b vs r: ma*mb*2^(ea+eb) vs mr*2^er.
    const e = Math.min(ea + eb, er);
    lhs = (ma * mb) << BigInt(ea + eb - e);
    rhs = mr << BigInt(er - e);
  } else if (kind === FOp.DIV) {
    // a/b vs r  <=>  a vs r*b, with the sign of b.
    const e = Math.min(ea, er + eb);
    lhs = ma << BigInt(ea - e);
    rhs = (mr * mb) << BigInt(er + eb - e);
    flip = mb < 0n;
  } else {
    // sqrt(b) vs r  <=>  b vs r*r.
    const e = Math.min(eb, 2 * er);
    lhs = mb << BigInt(eb - e);
    rhs = (mr * mr) << BigInt(2 * er - e);
  }
  const d = lhs === rhs ? 0 : lhs > rhs ? 1 : -1;
  return flip ? -d : d;
}

/** The sign of the exact error of the last {@link exact} (true value = result + error). */
let errSign = 0;

const SPLIT = 134217729; // 2^27 + 1

/** The rounding error of a*b = p (Dekker); 0 when the split would overflow. */
function productError(a: number, b: number, p: number): number {
  if (Math.abs(a) > 1e300 || Math.abs(b) > 1e300 || !Number.isFinite(p)) return 0;
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/** a op b rounded to nearest, with `errSign` the sign of the exact error ({@link lastErrSign}). */
export function exact(kind: number, a: number, b: number): number {
  errSign = 0;
  switch (kind) {
    case FOp.ADD:
    case FOp.SUB: {
      const y = kind === FOp.ADD ? b : -b;
      const s = a + y;
      if (Number.isFinite(s)) {
        const bb = s - a;
        const e = a - (s - bb) + (y - bb);
        errSign = e > 0 ? 1 : e < 0 ? -1 : 0;
      }
      return s;
    }
    case FOp.MUL: {
      const p = a * b;
      if (!Number.isFinite(p) || !Number.isFinite(a) || !Number.isFinite(b) || a === 0 || b === 0) return p;
      if (extreme(a) || extreme(b) || extreme(p)) errSign = slowSign(kind, a, b, p);
      else {
        const e = productError(a, b, p);
        errSign = e > 0 ? 1 : e < 0 ? -1 : 0;
      }
      return p;
    }
    case FOp.DIV: {
      const q = a / b;
      if (!Number.isFinite(q) || !Number.isFinite(a) || !Number.isFinite(b) || a === 0 || b === 0) return q;
      if (extreme(a) || extreme(b) || extreme(q)) errSign = slowSign(kind, a, b, q);
      else {
        const p = q * b;
        const rem = a - p - productError(q, b, p);
        errSign = rem === 0 ? 0 : rem > 0 === b > 0 ? 1 : -1;
      }
      return q;
    }
    default: {
      const r = Math.sqrt(b);
      if (Number.isFinite(r) && r > 0) {
        if (extreme(b) || extreme(r)) errSign = slowSign(kind, a, b, r);
        else {
          const p = r * r;
          const rem = b - p - productError(r, r, p);
          errSign = rem > 0 ? 1 : rem < 0 ? -1 : 0;
        }
      }
      return r;
    }
  }
}

/** The sign of the exact error of the last {@link exact}: the true result is above (1) or below (-1) it. */
export function lastErrSign(): number {
  return errSign;
}

/** The next representable binary32 (`single`) or binary64 value above `v`. */
export function nextUp(v: number, single: boolean): number {
  if (single) {
    if (v === 0) return from32(1);
    let b = bits32(v);
    b = v > 0 ? b + 1 : b - 1;
    return from32(b);
  }
  if (v === 0) return Number.MIN_VALUE;
  let lo = bits64(v);
  let hi = hi64;
  if (v > 0) {
    lo = (lo + 1) | 0;
    if (lo === 0) hi++;
  } else {
    if (lo === 0) hi--;
    lo = (lo - 1) | 0;
  }
  return from64(lo, hi);
}

/** The next representable value below `v`. */
export function nextDown(v: number, single: boolean): number {
  return -nextUp(-v, single);
}

const MAX32 = 3.4028234663852886e38;
const MIN_NORMAL32 = 1.1754943508222875e-38;
const MIN_NORMAL64 = 2.2250738585072014e-308;

/**
 * Rounds `t` (the nearest double to the true result; `errSign` its error) to the format and MXCSR's rounding
 * control, setting overflow, underflow and precision flags.
 */
function finish(t: number, single: boolean, mxcsr: number, finiteInputs: boolean): number {
  const rc = (mxcsr >> Mxcsr.RC_SHIFT) & 3;
  let r = single ? Math.fround(t) : t;
  let dir = errSign;
  if (single && r !== t) {
    // t may sit exactly between two binary32 values while the true result does not (int64 sources): then
    // the error's sign decides, not ties-to-even.
    if (errSign !== 0) {
      const other = t > r ? nextUp(r, true) : nextDown(r, true);
      if (t - r === other - t && errSign > 0 === t > r) r = other;
    }
    dir = t > r ? 1 : -1;
  }
  if (!Number.isFinite(r) && finiteInputs) {
    fstat.flags |= Mxcsr.OE | Mxcsr.PE;
    const pos = t > 0;
    const max = single ? MAX32 : Number.MAX_VALUE;
    if (rc === Round.ZERO || (rc === Round.DOWN && pos) || (rc === Round.UP && !pos)) return pos ? max : -max;
    return pos ? Infinity : -Infinity;
  }
  if (dir !== 0) {
    fstat.flags |= Mxcsr.PE;
    if (rc === Round.DOWN && dir < 0) r = nextDown(r, single);
    else if (rc === Round.UP && dir > 0) r = nextUp(r, single);
    else if (rc === Round.ZERO && ((r > 0 && dir < 0) || (r < 0 && dir > 0)))
      r = r > 0 ? nextDown(r, single) : nextUp(r, single);
  }
  if (dir !== 0 && !Number.isFinite(r)) fstat.flags |= Mxcsr.OE;
  // Tiny: below the smallest normal before rounding, including true results that rounded to zero.
  const tiny = Math.abs(t) < (single ? MIN_NORMAL32 : MIN_NORMAL64) && (t !== 0 || dir !== 0);
  if (tiny) {
    if (mxcsr & Mxcsr.FZ && mxcsr & (Mxcsr.UE << Mxcsr.MASK_SHIFT)) {
      fstat.flags |= Mxcsr.UE | Mxcsr.PE;
      return t < 0 || Object.is(t, -0) ? -0 : 0;
    }
    if (dir !== 0 || !(mxcsr & (Mxcsr.UE << Mxcsr.MASK_SHIFT))) fstat.flags |= Mxcsr.UE;
  }
  return r;
}

/**
 * One binary32 lane: `kind` on the bits `a` (first operand, the destination) and `b`. Returns the result's
 * bits; flags accumulate in {@link fstat}.
 */
export function lane32(kind: number, a: number, b: number, mxcsr: number): number {
  const aNaN = kind !== FOp.SQRT && isNaN32(a);
  const bNaN = isNaN32(b);
  if (aNaN || bNaN) {
    if (kind === FOp.MIN || kind === FOp.MAX) {
      fstat.flags |= Mxcsr.IE;
      return b;
    }
    if ((aNaN && isSNaN32(a)) || (bNaN && isSNaN32(b))) fstat.flags |= Mxcsr.IE;
    return (aNaN ? a : b) | 0x400000;
  }
  const daz = (mxcsr & Mxcsr.DAZ) !== 0;
  let de = 0;
  if (kind !== FOp.SQRT && isDenormal32(a)) {
    if (daz) a &= 0x80000000;
    else de = Mxcsr.DE;
  }
  if (isDenormal32(b)) {
    if (daz) b &= 0x80000000;
    else de = Mxcsr.DE;
  }
  const x = from32(a);
  const y = from32(b);
  if (kind === FOp.MIN || kind === FOp.MAX) {
    fstat.flags |= de;
    if (kind === FOp.MIN) return x < y ? a : b;
    return x > y ? a : b;
  }
  const t = zeroSign(kind, x, y, exact(kind, x, y), mxcsr);
  if (Number.isNaN(t)) {
    // An invalid operation reports #I alone, not #D (a negative denormal's square root).
    fstat.flags |= Mxcsr.IE;
    return INDEFINITE32;
  }
  if (kind === FOp.DIV && y === 0 && Number.isFinite(x)) {
    // Division by zero reports #Z alone, not #D for a denormal dividend (measured on the host CPU).
    fstat.flags |= Mxcsr.ZE;
    return bits32(t);
  }
  fstat.flags |= de;
  const finite = (kind === FOp.SQRT || Number.isFinite(x)) && Number.isFinite(y);
  return bits32(finish(t, true, mxcsr, finite));
}

/** An exact zero sum of operands of opposite signs is -0 when rounding down, +0 otherwise (IEEE 754 6.3). */
function zeroSign(kind: number, x: number, y: number, t: number, mxcsr: number): number {
  if (t !== 0 || (kind !== FOp.ADD && kind !== FOp.SUB)) return t;
  const y2 = kind === FOp.SUB ? -y : y;
  if (x === 0 && y2 === 0 && Object.is(x, y2)) return t;
  return ((mxcsr >> Mxcsr.RC_SHIFT) & 3) === Round.DOWN ? -0 : 0;
}

/** Result high word of the last {@link lane64}. */
export let laneHi = 0;

/** One binary64 lane on the words of `a` and `b`; returns the low word, the high word in {@link laneHi}. */
export function lane64(
  kind: number,
  alo: number,
  ahi: number,
  blo: number,
  bhi: number,
  mxcsr: number,
): number {
  const aNaN = kind !== FOp.SQRT && isNaN64(ahi, alo);
  const bNaN = isNaN64(bhi, blo);
  if (aNaN || bNaN) {
    if (kind === FOp.MIN || kind === FOp.MAX) {
      fstat.flags |= Mxcsr.IE;
      laneHi = bhi;
      return blo;
    }
    if ((aNaN && isSNaN64(ahi, alo)) || (bNaN && isSNaN64(bhi, blo))) fstat.flags |= Mxcsr.IE;
    laneHi = (aNaN ? ahi : bhi) | 0x80000;
    return aNaN ? alo : blo;
  }
  const daz = (mxcsr & Mxcsr.DAZ) !== 0;
  let de = 0;
  if (kind !== FOp.SQRT && isDenormal64(ahi, alo)) {
    if (daz) {
      ahi &= 0x80000000;
      alo = 0;
    } else de = Mxcsr.DE;
  }
  if (isDenormal64(bhi, blo)) {
    if (daz) {
      bhi &= 0x80000000;
      blo = 0;
    } else de = Mxcsr.DE;
  }
  const x = from64(alo, ahi);
  const y = from64(blo, bhi);
  if (kind === FOp.MIN || kind === FOp.MAX) {
    fstat.flags |= de;
    const first = kind === FOp.MIN ? x < y : x > y;
    laneHi = first ? ahi : bhi;
    return first ? alo : blo;
  }
  let t = zeroSign(kind, x, y, exact(kind, x, y), mxcsr);
  if (Number.isNaN(t)) {
    fstat.flags |= Mxcsr.IE;
    laneHi = INDEFINITE64_HI;
    return 0;
  }
  if (kind === FOp.DIV && y === 0 && Number.isFinite(x)) fstat.flags |= Mxcsr.ZE;
  else {
    fstat.flags |= de;
    t = finish(t, false, mxcsr, (kind === FOp.SQRT || Number.isFinite(x)) && Number.isFinite(y));
  }
  const lo = bits64(t);
  laneHi = hi64;
  return lo;
}

/**
 * Compares two lanes for CMPPS/CMPSD/COMISS (the operands as doubles, NaNs as `unordered`): 0 equal, 1 less,
 * 2 greater, 3 unordered. `signalQnan` makes a QNaN raise #I (COMIS, ordered predicates), else only SNaNs do.
 */
export function compareValues(
  x: number,
  y: number,
  aSnan: boolean,
  bSnan: boolean,
  signalQnan: boolean,
): number {
  if (Number.isNaN(x) || Number.isNaN(y)) {
    if (signalQnan || aSnan || bSnan) fstat.flags |= Mxcsr.IE;
    return 3;
  }
  // A denormal operand next to a NaN is not reported (#I or nothing); otherwise #D as `value32` saw it.
  fstat.flags |= pendingDe;
  pendingDe = 0;
  return x === y ? 0 : x < y ? 1 : 2;
}

/** #D seen by `value32`/`value64` for the comparison in progress. */
let pendingDe = 0;

/** A binary32 lane as a double for comparison, with DAZ and the denormal flag. */
export function value32(b: number, mxcsr: number, first = false): number {
  if (first) pendingDe = 0;
  if (isNaN32(b)) return Number.NaN;
  if (isDenormal32(b)) {
    if (mxcsr & Mxcsr.DAZ) return b < 0 ? -0 : 0;
    pendingDe = Mxcsr.DE;
  }
  return from32(b);
}

/** A binary64 lane as a double for comparison, with DAZ and the denormal flag. */
export function value64(lo: number, hi: number, mxcsr: number, first = false): number {
  if (first) pendingDe = 0;
  if (isNaN64(hi, lo)) return Number.NaN;
  if (isDenormal64(hi, lo)) {
    if (mxcsr & Mxcsr.DAZ) return hi < 0 ? -0 : 0;
    pendingDe = Mxcsr.DE;
  }
  return from64(lo, hi);
}

/**
 * Rounds a double `v` to binary32 (CVTSD2SS, CVTPD2PS) or keeps binary64, with MXCSR's rounding and flags;
 * `errSign` is 0 (the input is exact).
 */
export function roundResult(v: number, single: boolean, mxcsr: number, err = 0): number {
  errSign = err;
  return finish(v, single, mxcsr, Number.isFinite(v));
}

/** Rounds a double to an integer by MXCSR.RC (or truncation), exactly. */
export function roundToInt(v: number, rc: number): number {
  switch (rc) {
    case Round.NEAREST: {
      const f = Math.floor(v);
      const diff = v - f;
      if (diff > 0.5) return f + 1;
      if (diff < 0.5) return f;
      return f % 2 === 0 ? f : f + 1;
    }
    case Round.DOWN:
      return Math.floor(v);
    case Round.UP:
      return Math.ceil(v);
    default:
      return Math.trunc(v);
  }
}
