/**
 * Conversions between the x87's 80-bit extended format (SDM Vol. 1 4.2.2: sign and 15-bit exponent in one
 * 16-bit word, then a 64-bit significand with an explicit integer bit) and JavaScript doubles, binary32 and
 * integers. Loads and stores of m80 copy the bytes (bit-exact); integer loads and stores convert exactly.
 * Arithmetic goes through doubles: results are rounded to 53 bits, not to the 64 bits of the x87's default
 * precision control (documented in x87-arith.ts).
 */

const bits = new Float64Array(1);
const words = new Int32Array(bits.buffer);
const TWO32 = 4294967296;

/** Significand (low, high words) and sign/exponent of the last `toF80` conversion. */
export const f80Out = { lo: 0, hi: 0, se: 0 };

/** The 80-bit value (significand `lo`, `hi`, sign/exponent `se`) as a double, rounded to nearest. */
export function f80ToNumber(lo: number, hi: number, se: number): number {
  const exp = se & 0x7fff;
  const neg = (se & 0x8000) !== 0;
  if (exp === 0x7fff) {
    if ((hi & 0x7fffffff) === 0 && lo === 0) return neg ? -Infinity : Infinity;
    // A NaN keeps its payload's top 51 bits and its quiet bit (bit 62 of the significand).
    words[1] = (neg ? 0x80000000 : 0) | 0x7ff00000 | ((hi >>> 11) & 0xfffff);
    words[0] = (hi << 21) | (lo >>> 11);
    if ((words[1] & 0xfffff) === 0 && words[0] === 0) words[1] |= 0x80000;
    return bits[0];
  }
  const m = (hi >>> 0) * TWO32 + (lo >>> 0);
  if (m === 0) return neg ? -0 : 0;
  // The unbiased exponent of bit 63 is exp - 16383 (denormals: 1 - 16383).
  let e = (exp === 0 ? 1 : exp) - 16383 - 63;
  let v = m;
  // Scale in steps a double can represent, so nothing overflows or underflows early.
  while (e > 1000) {
    v *= 2 ** 1000;
    e -= 1000;
    if (!Number.isFinite(v)) break;
  }
  while (e < -1000) {
    // Two halvings can round twice around the double's denormal range; below 2^-1074 it is zero anyway.
    v *= 2 ** -1000;
    e += 1000;
    if (v === 0) break;
  }
  v *= 2 ** e;
  return neg ? -v : v;
}

/** A double as an 80-bit value in {@link f80Out} (exact: every double is representable). */
export function numberToF80(v: number): void {
  bits[0] = v;
  const hiw = words[1];
  const low = words[0];
  const sign = hiw & 0x80000000 ? 0x8000 : 0;
  const exp = (hiw >>> 20) & 0x7ff;
  const fracHi = hiw & 0xfffff;
  if (exp === 0x7ff) {
    f80Out.se = sign | 0x7fff;
    f80Out.hi = 0x80000000 | (fracHi << 11) | (low >>> 21) | 0;
    f80Out.lo = low << 11;
    return;
  }
  if (exp === 0) {
    if (fracHi === 0 && low === 0) {
      f80Out.se = sign;
      f80Out.hi = 0;
      f80Out.lo = 0;
      return;
    }
    // A double denormal is a normal 80-bit number: shift its fraction up to the integer bit.
    let h = fracHi;
    let l = low >>> 0;
    let e = 1 - 1023;
    while ((h & 0x100000) === 0) {
      h = (h << 1) | (l >>> 31);
      l = (l << 1) >>> 0;
      e--;
    }
    f80Out.se = sign | (e + 16383);
    f80Out.hi = (h << 11) | (l >>> 21) | 0;
    f80Out.lo = l << 11;
    return;
  }
  f80Out.se = sign | (exp - 1023 + 16383);
  f80Out.hi = 0x80000000 | (fracHi << 11) | (low >>> 21) | 0;
  f80Out.lo = low << 11;
}

/** A signed 64-bit integer (two's complement halves) as an exact 80-bit value in {@link f80Out}. */
export function int64ToF80(lo: number, hi: number): void {
  let sign = 0;
  let l = lo >>> 0;
  let h = hi >>> 0;
  if (hi < 0) {
    sign = 0x8000;
    l = (~l + 1) >>> 0;
    h = (~h + (l === 0 ? 1 : 0)) >>> 0;
  }
  if (h === 0 && l === 0) {
    f80Out.se = sign;
    f80Out.hi = 0;
    f80Out.lo = 0;
    return;
  }
  const shift = h !== 0 ? Math.clz32(h) : 32 + Math.clz32(l);
  if (shift >= 32) {
    h = l << (shift - 32);
    l = 0;
  } else if (shift > 0) {
    h = (h << shift) | (l >>> (32 - shift));
    l = l << shift;
  }
  f80Out.se = sign | (16383 + 63 - shift);
  f80Out.hi = h | 0;
  f80Out.lo = l | 0;
}

/** x87 rounding-control values (FCW bits 10-11, MXCSR bits 13-14). */
export const Round = { NEAREST: 0, DOWN: 1, UP: 2, ZERO: 3 } as const;

/** Result of {@link f80ToInt}: the integer's two's-complement halves and how it was rounded. */
export interface IntResult {
  lo: number;
  hi: number;
  inexact: boolean;
  /** The magnitude was rounded up (x87 C1). */
  up: boolean;
}

const intOut: IntResult = { lo: 0, hi: 0, inexact: false, up: false };

/** Unsigned compare of two 64-bit values given as halves: -1, 0, 1. */
function cmp64(ahi: number, alo: number, bhi: number, blo: number): number {
  if (ahi !== bhi) return ahi >>> 0 < bhi >>> 0 ? -1 : 1;
  if (alo !== blo) return alo >>> 0 < blo >>> 0 ? -1 : 1;
  return 0;
}

/**
 * The 80-bit value rounded to an integer by `rc` and checked against [-2^(width-1), 2^(width-1)), exactly,
 * on 32-bit halves (FIST/FISTP/FISTTP run without allocating). Returns null for NaN, infinity, unsupported
 * formats and out-of-range values.
 */
export function f80ToInt(lo: number, hi: number, se: number, rc: number, width: number): IntResult | null {
  const exp = se & 0x7fff;
  // NaNs, infinities and unsupported formats (integer bit clear with a nonzero exponent) convert to nothing.
  if (exp === 0x7fff || (exp !== 0 && hi >= 0)) return null;
  const neg = (se & 0x8000) !== 0;
  const mlo = lo >>> 0;
  const mhi = hi >>> 0;
  const shift = (exp === 0 ? 1 : exp) - 16383 - 63;
  // A normal significand has bit 63 set: any left shift is at least 2^64.
  if (shift > 0) return null;
  let qlo = 0;
  let qhi = 0;
  /** The discarded bits against half a unit: -1 below, 0 exactly half, 1 above; 2 none discarded. */
  let frac = 2;
  if (shift === 0) {
    qlo = mlo;
    qhi = mhi;
  } else {
    const s = -shift;
    const zero = mlo === 0 && mhi === 0;
    if (s > 64) frac = zero ? 2 : -1;
    else if (s === 64) frac = zero ? 2 : cmp64(mhi, mlo, 0x80000000, 0);
    else {
      let remLo: number;
      let remHi: number;
      let halfLo: number;
      let halfHi: number;
      if (s < 32) {
        qlo = ((mlo >>> s) | (mhi << (32 - s))) >>> 0;
        qhi = mhi >>> s;
        remLo = mlo & ((1 << s) - 1);
        remHi = 0;
        halfLo = (1 << (s - 1)) >>> 0;
        halfHi = 0;
      } else {
        qlo = s === 32 ? mhi : mhi >>> (s - 32);
        qhi = 0;
        remLo = mlo;
        remHi = s === 32 ? 0 : mhi & ((1 << (s - 32)) - 1);
        halfLo = s === 32 ? 0x80000000 : 0;
        halfHi = s === 32 ? 0 : 1 << (s - 33);
      }
      if (remLo !== 0 || remHi !== 0) frac = cmp64(remHi, remLo, halfHi, halfLo);
    }
  }
  let up = false;
  if (frac !== 2) {
    if (rc === Round.NEAREST) up = frac > 0 || (frac === 0 && (qlo & 1) === 1);
    else if (rc === Round.UP) up = !neg;
    else if (rc === Round.DOWN) up = neg;
    if (up) {
      qlo = (qlo + 1) >>> 0;
      if (qlo === 0) qhi = (qhi + 1) >>> 0;
    }
  }
  // The magnitude must fit: below 2^(width-1), or exactly 2^(width-1) when negative.
  const limitHi = width === 64 ? 0x80000000 : 0;
  const limitLo = width === 64 ? 0 : width === 32 ? 0x80000000 : 0x8000;
  const c = cmp64(qhi, qlo, limitHi, limitLo);
  if (c > 0 || (c === 0 && !neg)) return null;
  if (neg) {
    qlo = (~qlo + 1) >>> 0;
    qhi = (~qhi + (qlo === 0 ? 1 : 0)) >>> 0;
  }
  intOut.lo = qlo | 0;
  intOut.hi = qhi | 0;
  intOut.inexact = frac !== 2;
  intOut.up = up;
  return intOut;
}
