/**
 * SSE4.2: the packed string comparisons PCMPESTRI, PCMPESTRM, PCMPISTRI, PCMPISTRM (SDM Vol. 2 4.1 "Imm8
 * Control Byte Operation for PCMPESTRI / PCMPESTRM / PCMPISTRI / PCMPISTRM") and CRC32 (the CRC-32C
 * polynomial, bit-reflected, as the instruction defines it).
 */
import type { Cpu } from '../cpu.js';
import { xmmOff } from '../fpu/image.js';
import { Flag } from '../state.js';
import { setArithFlags } from './operands.js';

/** An element of a string operand: unsigned or signed bytes or words. */
function element(c: Cpu, o: number, k: number, format: number): number {
  switch (format) {
    case 0:
      return c.fxU8[o + k];
    case 1:
      return c.fxU16[(o >> 1) + k];
    case 2:
      return c.fxI8[o + k];
    default:
      return c.fxI16[(o >> 1) + k];
  }
}

/** The implicit length: the index of the first zero element, or the element count. */
function implicitLength(c: Cpu, o: number, n: number, format: number): number {
  for (let k = 0; k < n; k++) if (element(c, o, k, format) === 0) return k;
  return n;
}

/** The explicit length from a register value: its absolute value, saturated to the element count. */
function explicitLength(lo: number, hi: number, wide: boolean, n: number): number {
  if (wide) {
    // 64-bit: negative values count from their magnitude; anything past n saturates.
    if (hi < 0) {
      if (hi !== -1 || lo >>> 0 < 0x80000000) return n;
      const v = -(lo | 0);
      return Math.min(v, n);
    }
    if (hi !== 0 || lo >>> 0 >= n) return n;
    return lo >>> 0;
  }
  const v = Math.abs(lo | 0);
  return v > n || v < 0 ? n : v;
}

/**
 * Runs PCMPxSTRx: `op` is the 0F 3A byte (60 ESTRM, 61 ESTRI, 62 ISTRM, 63 ISTRI), `a` the register operand
 * (xmm1), `b` the r/m operand, `imm` the control byte; `wide` is REX.W (64-bit explicit lengths).
 */
export function pcmpstr(c: Cpu, op: number, a: number, b: number, imm: number, wide: boolean): void {
  const format = imm & 3;
  const words = (format & 1) !== 0;
  const n = words ? 8 : 16;
  const explicit = op === 0x60 || op === 0x61;
  const la = explicit ? explicitLength(c.r[0], c.r[1], wide, n) : implicitLength(c, a, n, format);
  const lb = explicit ? explicitLength(c.r[4], c.r[5], wide, n) : implicitLength(c, b, n, format);
  const agg = (imm >> 2) & 3;
  let res1 = 0;
  for (let j = 0; j < n; j++) {
    let bit = false;
    switch (agg) {
      case 0: {
        // Equal any: b[j] is one of a's valid elements.
        if (j < lb) {
          const v = element(c, b, j, format);
          for (let i = 0; i < la; i++) {
            if (element(c, a, i, format) === v) {
              bit = true;
              break;
            }
          }
        }
        break;
      }
      case 1: {
        // Ranges: a holds pairs [low, high]; b[j] falls in one of them.
        if (j < lb) {
          const v = element(c, b, j, format);
          for (let i = 0; i + 1 < la; i += 2) {
            if (v >= element(c, a, i, format) && v <= element(c, a, i + 1, format)) {
              bit = true;
              break;
            }
          }
        }
        break;
      }
      case 2: {
        // Equal each: both invalid is true, one invalid is false.
        const va = j < la;
        const vb = j < lb;
        bit = va && vb ? element(c, a, j, format) === element(c, b, j, format) : !va && !vb;
        break;
      }
      default: {
        // Equal ordered: a (as a substring) starts at b[j]; an invalid a element matches anything.
        bit = true;
        for (let k = 0; k < n - j; k++) {
          const va = k < la;
          const vb = j + k < lb;
          let m: boolean;
          if (!va) m = true;
          else if (!vb) m = false;
          else m = element(c, a, k, format) === element(c, b, j + k, format);
          if (!m) {
            bit = false;
            break;
          }
        }
      }
    }
    if (bit) res1 |= 1 << j;
  }
  const all = (1 << n) - 1;
  const polarity = (imm >> 4) & 3;
  let res2 = res1;
  if (polarity === 1) res2 = ~res1 & all;
  else if (polarity === 3) res2 = (res1 ^ ((1 << lb) - 1)) & all;
  let f = 0;
  if (res2 !== 0) f |= Flag.CF;
  if (lb < n) f |= Flag.ZF;
  if (la < n) f |= Flag.SF;
  if (res2 & 1) f |= Flag.OF;
  setArithFlags(c, f);
  if (op === 0x61 || op === 0x63) {
    // Index into ECX (RCX's upper half cleared).
    let index = n;
    if (res2 !== 0) index = imm & 0x40 ? 31 - Math.clz32(res2) : 31 - Math.clz32(res2 & -res2);
    c.r[2] = index;
    c.r[3] = 0;
    return;
  }
  // Mask into XMM0: bits, or expanded to bytes/words of ones.
  const x0 = xmmOff(0);
  const w = c.fxI32;
  if (!(imm & 0x40)) {
    w[x0 >> 2] = res2;
    w[(x0 >> 2) + 1] = 0;
    w[(x0 >> 2) + 2] = 0;
    w[(x0 >> 2) + 3] = 0;
    return;
  }
  for (let k = 0; k < n; k++) {
    const v = res2 & (1 << k) ? 0xffff : 0;
    if (words) c.fxU16[(x0 >> 1) + k] = v;
    else c.fxU8[x0 + k] = v & 0xff;
  }
}

const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let v = n;
  for (let k = 0; k < 8; k++) v = v & 1 ? (v >>> 1) ^ 0x82f63b78 : v >>> 1;
  CRC_TABLE[n] = v;
}

/** Folds `bytes` bytes of `lo`/`hi` (little-endian) into the CRC-32C accumulator `crc`. */
export function crc32(crc: number, lo: number, hi: number, bytes: number): number {
  let v = crc;
  for (let k = 0; k < bytes; k++) {
    const b = (k < 4 ? lo >>> (8 * k) : hi >>> (8 * (k - 4))) & 0xff;
    v = CRC_TABLE[(v ^ b) & 0xff] ^ (v >>> 8);
  }
  return v | 0;
}
