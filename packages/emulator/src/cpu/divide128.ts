/**
 * Unsigned division of a 128-bit dividend by a 64-bit divisor without BigInt, for DIV r/m64 (SDM Vol. 2 DIV):
 * Linux's multi-precision code (`mpihelp_divrem`, the RSA self-tests of a boot) divides RDX:RAX this way close to
 * a million times a boot, and BigInt allocates at every step. The numbers are split into base-2^16 digits and
 * divided by long division with estimated quotient digits (Knuth, TAOCP Vol. 2, 4.3.1, Algorithm D), so every
 * product and partial remainder stays below 2^32: exact in int32 and double arithmetic.
 */

/** The dividend's eight digits, least significant first, and a ninth for the normalizing shift. */
const U = new Int32Array(9);
/** The divisor's four digits. */
const V = new Int32Array(4);
/** The quotient's digits. */
const Q = new Int32Array(8);

/** The last {@link divideU128}'s quotient and remainder as 32-bit halves: [q low, q high, r low, r high]. */
export const divided = new Int32Array(4);

const B = 65536;

/**
 * Divides n3:n2:n1:n0 (32-bit halves, most significant first) by d1:d0. The caller has checked that the divisor
 * is not zero and that n3:n2 is below it, so the quotient fits 64 bits (else DIV raises #DE). The result is in
 * {@link divided}.
 */
export function divideU128(n3: number, n2: number, n1: number, n0: number, d1: number, d0: number): void {
  U[0] = n0 & 0xffff;
  U[1] = n0 >>> 16;
  U[2] = n1 & 0xffff;
  U[3] = n1 >>> 16;
  U[4] = n2 & 0xffff;
  U[5] = n2 >>> 16;
  U[6] = n3 & 0xffff;
  U[7] = n3 >>> 16;
  U[8] = 0;
  V[0] = d0 & 0xffff;
  V[1] = d0 >>> 16;
  V[2] = d1 & 0xffff;
  V[3] = d1 >>> 16;
  let n = 4;
  while (V[n - 1] === 0) n--;
  // Quotient digits above 8 - n stay zero (the long division below sets the others).
  for (let j = 9 - n; j < 8; j++) Q[j] = 0;
  if (n === 1) {
    // One divisor digit: each step divides a number below 2^32 by it.
    const v = V[0];
    let rem = 0;
    for (let j = 7; j >= 0; j--) {
      const t = rem * B + U[j];
      const q = Math.floor(t / v);
      Q[j] = q;
      rem = t - q * v;
    }
    finish(rem, 0);
    return;
  }
  // Shift both so the divisor's top digit has its high bit set: the estimate below is then at most 2 too high.
  const s = Math.clz32(V[n - 1]) - 16;
  if (s > 0) {
    for (let i = n - 1; i > 0; i--) V[i] = ((V[i] << s) | (V[i - 1] >>> (16 - s))) & 0xffff;
    V[0] = (V[0] << s) & 0xffff;
    U[8] = U[7] >>> (16 - s);
    for (let i = 7; i > 0; i--) U[i] = ((U[i] << s) | (U[i - 1] >>> (16 - s))) & 0xffff;
    U[0] = (U[0] << s) & 0xffff;
  }
  const top = V[n - 1];
  const next = V[n - 2];
  for (let j = 8 - n; j >= 0; j--) {
    // Estimate the digit from the top two digits of the partial remainder and the divisor's top digit, then
    // correct it with the divisor's second digit (never more than twice).
    const head = U[j + n] * B + U[j + n - 1];
    let qhat = Math.floor(head / top);
    let rhat = head - qhat * top;
    while (qhat >= B || qhat * next > rhat * B + U[j + n - 2]) {
      qhat--;
      rhat += top;
      if (rhat >= B) break;
    }
    // Subtract qhat times the divisor from the partial remainder's digits j .. j + n.
    let borrow = 0;
    for (let i = 0; i < n; i++) {
      const p = qhat * V[i];
      const t = U[i + j] - borrow - (p & 0xffff);
      U[i + j] = t & 0xffff;
      borrow = (p >>> 16) - (t >> 16);
    }
    const t = U[j + n] - borrow;
    U[j + n] = t & 0xffff;
    if (t < 0) {
      // The estimate was one too high (rare): add the divisor back.
      qhat--;
      let carry = 0;
      for (let i = 0; i < n; i++) {
        const sum = U[i + j] + V[i] + carry;
        U[i + j] = sum & 0xffff;
        carry = sum >>> 16;
      }
      U[j + n] = (U[j + n] + carry) & 0xffff;
    }
    Q[j] = qhat;
  }
  // The remainder is in the low n digits, still shifted left by s.
  const r0 = ((U[0] >>> s) | (U[1] << (16 - s))) & 0xffff;
  const r1 = ((U[1] >>> s) | (U[2] << (16 - s))) & 0xffff;
  const r2 = n > 2 ? ((U[2] >>> s) | (U[3] << (16 - s))) & 0xffff : 0;
  const r3 = n > 3 ? (U[3] >>> s) & 0xffff : 0;
  finish(r0 | (r1 << 16), r2 | (r3 << 16));
}

function finish(remLo: number, remHi: number): void {
  divided[0] = Q[0] | (Q[1] << 16);
  divided[1] = Q[2] | (Q[3] << 16);
  divided[2] = remLo;
  divided[3] = remHi;
}
