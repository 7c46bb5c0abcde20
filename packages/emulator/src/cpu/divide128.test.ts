/**
 * The 128-by-64-bit division of DIV r/m64 against BigInt: random operands, and operands built from the digit
 * values where long division goes wrong (0, 1, and the edges around 2^15 and 2^16 in each base-2^16 digit),
 * which reach the estimate corrections and the add-back step; divisors of one to four digits.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test/support/seeded-random.js';
import { divided, divideU128 } from './divide128.js';

const M64 = (1n << 64n) - 1n;

/** Divides with divideU128 and returns [quotient, remainder] as BigInts. */
function divide(n: bigint, d: bigint): [bigint, bigint] {
  const part = (v: bigint, k: number) => Number((v >> BigInt(32 * k)) & 0xffffffffn);
  divideU128(part(n, 3), part(n, 2), part(n, 1), part(n, 0), part(d, 1), part(d, 0));
  const u = (x: number) => BigInt(x >>> 0);
  return [(u(divided[1]) << 32n) | u(divided[0]), (u(divided[3]) << 32n) | u(divided[2])];
}

/** Seeded 32-bit values (the same cases every run). */
function rng(seed: number): () => number {
  const random = seededRandom(seed);
  return () => Math.floor(random() * 2 ** 32);
}

const EDGE_DIGITS = [0n, 1n, 2n, 0x7fffn, 0x8000n, 0x8001n, 0xfffen, 0xffffn];

/** A value of `digits` base-2^16 digits, each an edge value. */
function edgeValue(next: () => number, digits: number): bigint {
  let v = 0n;
  for (let k = 0; k < digits; k++) v = (v << 16n) | EDGE_DIGITS[next() % EDGE_DIGITS.length];
  return v;
}

/**
 * Checks one division against BigInt when its quotient fits 64 bits (DIV's precondition); returns whether it
 * did, so a test can count the divisions it really checked.
 */
function check(n: bigint, d: bigint): boolean {
  if (d === 0n || n >> 64n >= d) return false;
  const [q, r] = divide(n, d);
  if (q !== n / d || r !== n % d) expect({ n, d, q, r }).toEqual({ n, d, q: n / d, r: n % d });
  return true;
}

describe('128-by-64-bit division', () => {
  it('matches BigInt on random dividends and divisors of every length', () => {
    const next = rng(12345);
    const word = () => (BigInt(next()) << 32n) | BigInt(next());
    let checked = 0;
    for (let k = 0; k < 40000; k++) {
      // Shifted by up to 63 bits, so some divisors are a digit or two; a shift can leave 0, which becomes 1.
      const d = word() >> BigInt(next() % 64) || 1n;
      if (check(((word() % d) << 64n) | word(), d)) checked++;
    }
    expect(checked).toBe(40000);
  });

  it('matches BigInt on edge-digit operands (estimate corrections, add-back)', () => {
    const next = rng(777);
    let checked = 0;
    for (let k = 0; k < 60000; k++) {
      const d = edgeValue(next, 1 + (next() % 4));
      const n = edgeValue(next, 8);
      if (d !== 0n && check(n % (d << 64n), d)) checked++;
    }
    // Zero divisors (each digit 0 with chance 1/8) are the only ones left out.
    expect(checked).toBeGreaterThan(50000);
  });

  it('handles the extremes', () => {
    let checked = 0;
    for (const d of [1n, 2n, 3n, 0xffffn, 0x10000n, 0xffffffffn, 0x100000000n, 1n << 63n, M64, M64 - 1n]) {
      for (const n of [0n, 1n, d - 1n, d, (d << 64n) - 1n, ((d - 1n) << 64n) | M64, M64, d * d]) {
        if (check(n, d)) checked++;
      }
    }
    // Every pair fits DIV's precondition (d * d does: its high half is below d).
    expect(checked).toBe(80);
    expect(divide(((1n << 63n) << 64n) - 1n, M64)).toEqual([1n << 63n, (1n << 63n) - 1n]);
  });

  it('gets the add-back step (Knuth D6) right', () => {
    // Edge-digit divisions whose corrected estimate is still one too high (found by counting the add-backs of
    // edge-digit operands: about one division in ninety takes it).
    expect(check(0x800080007fff0001ffff800180008000n, 0x8000800180007fffn)).toBe(true);
    expect(check(0x7fff800000000001fffe00017ffffffen, 0x7fff80007fff8001n)).toBe(true);
    expect(check(0x7ffd8003fffe00020002fffen, 0xffff0001fffen)).toBe(true);
  });
});
