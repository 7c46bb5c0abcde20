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

/** Result of {@link f80ToInt}: the integer as a bigint, or null when it is NaN or out of range. */
export interface IntResult {
  value: bigint;
  inexact: boolean;
  /** The magnitude was rounded up (x87 C1). */
  up: boolean;
}

const intOut: IntResult = { value: 0n, inexact: false, up: false };

/**
 * The 80-bit value rounded to an integer by `rc` and checked against [-2^(width-1), 2^(width-1)), exactly
 * (bigint: FIST/FISTP/FISTTP are rare, exactness matters). Returns null for NaN, infinity or out of range.
 */
export function f80ToInt(lo: number, hi: number, se: number, rc: number, width: number): IntResult | null {
  const exp = se & 0x7fff;
  // NaNs, infinities and unsupported formats (integer bit clear with a nonzero exponent) convert to nothing.
  if (exp === 0x7fff || (exp !== 0 && hi >= 0)) return null;
  const neg = (se & 0x8000) !== 0;
  const m = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const shift = (exp === 0 ? 1 : exp) - 16383 - 63;
  let q: bigint;
  let inexact = false;
  let up = false;
  if (shift >= 0) {
    if (shift > 64) return null;
    q = m << BigInt(shift);
  } else {
    const s = BigInt(-shift);
    q = s >= 128n ? 0n : m >> s;
    const rem = s >= 128n ? m : m - (q << s);
    if (rem !== 0n) {
      inexact = true;
      const half = 1n << (s - 1n);
      const before = q;
      if (rc === Round.NEAREST) {
        if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
      } else if (rc === Round.UP) {
        if (!neg) q += 1n;
      } else if (rc === Round.DOWN) {
        if (neg) q += 1n;
      }
      up = q !== before;
    }
  }
  const v = neg ? -q : q;
  const limit = 1n << BigInt(width - 1);
  if (v < -limit || v >= limit) return null;
  intOut.value = v;
  intOut.inexact = inexact;
  intOut.up = up;
  return intOut;
}
