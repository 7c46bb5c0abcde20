/**
 * Multiply and divide: MUL, IMUL (one, two and three operands), DIV, IDIV (SDM Vol. 2). Products are built
 * from 16-bit partial products so 32x32 and 64x64 multiplies are exact without bigint; 64-bit division uses
 * bigint on its (rare, slow on hardware too) path. A zero divisor or a quotient that does not fit raises #DE.
 * SF, ZF, AF and PF are undefined after MUL/IMUL and are left as the result's, CF = OF = "upper half needed".
 */
import type { Cpu } from './cpu.js';
import type { Insn } from './decode.js';
import { divided, divideU128 } from './divide128.js';
import { raise, Vector } from './exceptions.js';
import { LazyOp, setEager, setLazy, setLazy64 } from './flags.js';
import { getReg, readRegOp, readRm, setReg, writeRegOp } from './operands.js';
import { Flag, Stop } from './state.js';

let mulHi = 0;

/**
 * The high 32 bits of the unsigned 64-bit product of two 32-bit values (compiled blocks build 64-bit IMUL's
 * low half from it and two `Math.imul`s).
 */
export function mulHighU32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0;
}

/** Unsigned 32x32 -> 64: returns the low half, high half in `mulHi`. */
function mulu32(a: number, b: number): number {
  mulHi = mulHighU32(a, b);
  return Math.imul(a, b);
}

/** 128-bit product words (least significant first) of the last `mul64`. */
const prod = new Int32Array(4);

function mul64(aLo: number, aHi: number, bLo: number, bHi: number, signed: boolean): void {
  const ll = mulu32(aLo, bLo);
  const llH = mulHi;
  const lhL = mulu32(aLo, bHi);
  const lhH = mulHi;
  const hlL = mulu32(aHi, bLo);
  const hlH = mulHi;
  const hhL = mulu32(aHi, bHi);
  const hhH = mulHi;
  let w1 = (llH >>> 0) + (lhL >>> 0) + (hlL >>> 0);
  const c1 = Math.floor(w1 / 4294967296);
  w1 >>>= 0;
  let w2 = (lhH >>> 0) + (hlH >>> 0) + (hhL >>> 0) + c1;
  const c2 = Math.floor(w2 / 4294967296);
  w2 >>>= 0;
  let w3 = ((hhH >>> 0) + c2) >>> 0;
  if (signed) {
    // Two's-complement correction of the unsigned product's high 64 bits.
    if (aHi < 0) {
      const t = w2 - (bLo >>> 0);
      w2 = t >>> 0;
      w3 = (w3 - (bHi >>> 0) - (t < 0 ? 1 : 0)) >>> 0;
    }
    if (bHi < 0) {
      const t = w2 - (aLo >>> 0);
      w2 = t >>> 0;
      w3 = (w3 - (aHi >>> 0) - (t < 0 ? 1 : 0)) >>> 0;
    }
  }
  prod[0] = ll;
  prod[1] = w1;
  prod[2] = w2;
  prod[3] = w3;
}

function mulFlags(c: Cpu, overflow: boolean, size: number, lo: number, hi: number): void {
  const v = overflow ? Flag.CF | Flag.OF : 0;
  setEager(c, Flag.CF | Flag.OF | Flag.AF, v);
  if (size === 8) setLazy64(c, LazyOp.RESULT, lo, hi, 0, 0, 0, 0);
  else setLazy(c, LazyOp.RESULT, size, lo, 0, 0);
}

function sext(v: number, size: number): number {
  return size === 1 ? (v << 24) >> 24 : size === 2 ? (v << 16) >> 16 : v | 0;
}

/** Group 3's MUL, IMUL, DIV, IDIV (F6/F7 /4-/7) on the accumulator. */
export function mulDivGroup(c: Cpu, i: Insn): void {
  const size = i.osize;
  const s = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const sh = c.hi;
  switch (i.reg & 7) {
    case 4:
      mulAcc(c, size, s, sh, false);
      return;
    case 5:
      mulAcc(c, size, s, sh, true);
      return;
    case 6:
      divAcc(c, size, s, sh, false);
      return;
    default:
      divAcc(c, size, s, sh, true);
      return;
  }
}

function mulAcc(c: Cpu, size: number, s: number, sh: number, signed: boolean): void {
  const a = getReg(c, 0, size);
  if (size === 1 || size === 2) {
    const p = signed ? sext(a, size) * sext(s, size) : a * s;
    const bits = size * 8;
    const lo = p & ((1 << bits) - 1);
    const hi = (p >> bits) & ((1 << bits) - 1);
    if (size === 1) setReg(c, 0, 2, p & 0xffff, 0);
    else {
      setReg(c, 0, 2, lo, 0);
      setReg(c, 2, 2, hi, 0);
    }
    const overflow = signed ? p !== sext(lo, size) : hi !== 0;
    mulFlags(c, overflow, size, lo, 0);
    return;
  }
  if (size === 4) {
    const lo = mulu32(a, s);
    let hi = mulHi;
    if (signed) {
      if (a < 0) hi = (hi - s) | 0;
      if (s < 0) hi = (hi - a) | 0;
    }
    setReg(c, 0, 4, lo, 0);
    setReg(c, 2, 4, hi, 0);
    mulFlags(c, signed ? hi !== lo >> 31 : hi !== 0, 4, lo, 0);
    return;
  }
  mul64(c.r[0], c.r[1], s, sh, signed);
  c.r[0] = prod[0];
  c.r[1] = prod[1];
  c.r[4] = prod[2];
  c.r[5] = prod[3];
  const overflow = signed
    ? prod[2] !== prod[1] >> 31 || prod[3] !== prod[1] >> 31
    : (prod[2] | prod[3]) !== 0;
  mulFlags(c, overflow, 8, prod[0], prod[1]);
}

function divAcc(c: Cpu, size: number, s: number, sh: number, signed: boolean): void {
  if (size === 8 ? (s | sh) === 0 : s === 0) {
    raise(c, Vector.DE, -1);
    return;
  }
  if (size === 1 || size === 2) {
    const bits = size * 8;
    const dividend = size === 1 ? getReg(c, 0, 2) : getReg(c, 2, 2) * 65536 + getReg(c, 0, 2);
    const n = signed ? (size === 1 ? (dividend << 16) >> 16 : dividend | 0) : dividend;
    const d = signed ? sext(s, size) : s;
    const q = Math.trunc(n / d);
    const r = n - q * d;
    const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    const min = signed ? -(2 ** (bits - 1)) : 0;
    if (q > max || q < min) {
      raise(c, Vector.DE, -1);
      return;
    }
    if (size === 1) setReg(c, 0, 2, (q & 0xff) | ((r & 0xff) << 8), 0);
    else {
      setReg(c, 0, 2, q, 0);
      setReg(c, 2, 2, r, 0);
    }
    return;
  }
  if (size === 4) {
    const edx = c.r[4];
    const eax = c.r[0];
    if (!signed && edx === 0) {
      const n = eax >>> 0;
      const d = s >>> 0;
      const q = Math.floor(n / d);
      setReg(c, 0, 4, q, 0);
      setReg(c, 2, 4, n - q * d, 0);
      return;
    }
    const n = signed
      ? (BigInt(edx) << 32n) | BigInt(eax >>> 0)
      : (BigInt(edx >>> 0) << 32n) | BigInt(eax >>> 0);
    const d = signed ? BigInt(s | 0) : BigInt(s >>> 0);
    const q = n / d;
    const r = n % d;
    if (signed ? q > 0x7fffffffn || q < -0x80000000n : q > 0xffffffffn) {
      raise(c, Vector.DE, -1);
      return;
    }
    setReg(c, 0, 4, Number(BigInt.asIntN(32, q)), 0);
    setReg(c, 2, 4, Number(BigInt.asIntN(32, r)), 0);
    return;
  }
  // RDX zero and both operands below 2^52 (the kernel's do_div and most 64-bit divisions): in doubles, no BigInt.
  // The floor of the rounded quotient is exact: n / d = k - e with e >= 1 / d rounds up to k only when
  // n >= 2^53. So is q * d, below n.
  const ah = c.r[1] >>> 0;
  if (c.r[4] === 0 && c.r[5] === 0 && ah < 0x100000 && sh >>> 0 < 0x100000) {
    const n = ah * 4294967296 + (c.r[0] >>> 0);
    const d = (sh >>> 0) * 4294967296 + (s >>> 0);
    const q = Math.floor(n / d);
    const rem = n - q * d;
    c.r[0] = q | 0;
    c.r[1] = Math.floor(q / 4294967296);
    c.r[4] = rem | 0;
    c.r[5] = Math.floor(rem / 4294967296);
    return;
  }
  if (!signed) {
    // RDX:RAX / r/m64 in base-2^16 digits (divide128.ts): Linux's multi-precision code divides this way about a
    // million times a boot. The quotient fits 64 bits exactly when RDX is below the divisor; else #DE.
    const n3 = c.r[5] >>> 0;
    const n2 = c.r[4] >>> 0;
    const d1 = sh >>> 0;
    const d0 = s >>> 0;
    if (n3 > d1 || (n3 === d1 && n2 >= d0)) {
      raise(c, Vector.DE, -1);
      return;
    }
    divideU128(n3, n2, c.r[1] >>> 0, c.r[0] >>> 0, d1, d0);
    c.r[0] = divided[0];
    c.r[1] = divided[1];
    c.r[4] = divided[2];
    c.r[5] = divided[3];
    return;
  }
  // IDIV r/m64: BigInt, truncating toward zero as IDIV does.
  const hiWord = (BigInt(c.r[5] >>> 0) << 32n) | BigInt(c.r[4] >>> 0);
  const loWord = (BigInt(c.r[1] >>> 0) << 32n) | BigInt(c.r[0] >>> 0);
  const n = BigInt.asIntN(128, (hiWord << 64n) | loWord);
  const d = BigInt.asIntN(64, (BigInt(sh >>> 0) << 32n) | BigInt(s >>> 0));
  const q = n / d;
  const r = n % d;
  if (q > 0x7fffffffffffffffn || q < -0x8000000000000000n) {
    raise(c, Vector.DE, -1);
    return;
  }
  const qu = BigInt.asUintN(64, q);
  const ru = BigInt.asUintN(64, r);
  c.r[0] = Number(qu & 0xffffffffn) | 0;
  c.r[1] = Number(qu >> 32n) | 0;
  c.r[4] = Number(ru & 0xffffffffn) | 0;
  c.r[5] = Number(ru >> 32n) | 0;
}

/** IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69, 6B): the product truncated to the operand size. */
export function imulReg(c: Cpu, i: Insn): void {
  const size = i.osize;
  const s = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const sh = c.hi;
  let b: number;
  let bh: number;
  if (i.op === 0x1af) {
    b = readRegOp(c, i, size);
    bh = c.hi;
  } else {
    b = i.imm;
    bh = i.imm >> 31;
  }
  if (size === 2) {
    const p = sext(s, 2) * sext(b, 2);
    const lo = p & 0xffff;
    writeRegOp(c, i, 2, lo, 0);
    mulFlags(c, p !== sext(lo, 2), 2, lo, 0);
    return;
  }
  if (size === 4) {
    const lo = mulu32(s, b);
    let hi = mulHi;
    if (s < 0) hi = (hi - b) | 0;
    if (b < 0) hi = (hi - s) | 0;
    writeRegOp(c, i, 4, lo, 0);
    mulFlags(c, hi !== lo >> 31, 4, lo, 0);
    return;
  }
  mul64(s, sh, b, bh, true);
  writeRegOp(c, i, 8, prod[0], prod[1]);
  mulFlags(c, prod[2] !== prod[1] >> 31 || prod[3] !== prod[1] >> 31, 8, prod[0], prod[1]);
}
