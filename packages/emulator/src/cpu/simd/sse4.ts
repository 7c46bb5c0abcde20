/**
 * SSSE3 and SSE4.1 integer and blend instructions (SDM Vol. 2; 0F 38 and 0F 3A maps): PSHUFB, horizontal
 * adds, PMADDUBSW, PSIGN, PMULHRSW, PABS, PALIGNR on MMX and XMM registers (`n` 8 or 16 bytes); PBLENDVB,
 * BLENDV, PTEST, PMOVSX/ZX, PMULDQ, PCMPEQQ/PCMPGTQ, PACKUSDW, PMIN/PMAX, PMULLD, PHMINPOSUW, blends with an
 * immediate, ROUND*, DPPS/DPPD, MPSADBW, INSERTPS on XMM registers. Operands are image offsets (operands.ts).
 */
import type { Cpu } from '../cpu.js';
import { simdExceptions } from '../fpu/checks.js';
import { Fx, Mxcsr, xmmOff } from '../fpu/image.js';
import { Flag } from '../state.js';
import {
  bits32,
  bits64,
  FOp,
  from32,
  from64,
  fstat,
  hi64,
  isNaN32,
  isNaN64,
  isSNaN32,
  isSNaN64,
  lane32,
  lane64,
  laneHi,
  roundToInt,
} from './float-core.js';
import { setArithFlags } from './operands.js';
import { mulHiU32 } from './sse-int.js';

function commit(c: Cpu, d: number, n: number): void {
  const w = c.fxI32;
  for (let k = 0; k < n >> 2; k++) w[(d >> 2) + k] = w[(Fx.TMP >> 2) + k];
}

function satS16(v: number): number {
  return v > 32767 ? 32767 : Math.max(v, -32768);
}

/** SSSE3 0F 38 00-0B and 1C-1E on `n` bytes. Returns false for other opcodes. */
export function ssse3(c: Cpu, op: number, d: number, s: number, n: number): boolean {
  const u8 = c.fxU8;
  const i8 = c.fxI8;
  const i16 = c.fxI16;
  const i32 = c.fxI32;
  const t = Fx.TMP;
  switch (op) {
    case 0x00: // PSHUFB
      for (let k = 0; k < n; k++) {
        const sel = u8[s + k];
        u8[t + k] = sel & 0x80 ? 0 : u8[d + (sel & (n - 1))];
      }
      commit(c, d, n);
      return true;
    case 0x01: // PHADDW
    case 0x03: // PHADDSW
    case 0x05: // PHSUBW
    case 0x07: {
      // PHSUBSW
      const half = n >> 2;
      const sub = op === 0x05 || op === 0x07;
      const sat = op === 0x03 || op === 0x07;
      for (let k = 0; k < half; k++) {
        for (let side = 0; side < 2; side++) {
          const base = (side === 0 ? d : s) >> 1;
          const a = i16[base + 2 * k];
          const b = i16[base + 2 * k + 1];
          const v = sub ? a - b : a + b;
          i16[(t >> 1) + side * half + k] = sat ? satS16(v) : v;
        }
      }
      commit(c, d, n);
      return true;
    }
    case 0x02: // PHADDD
    case 0x06: {
      // PHSUBD
      const half = n >> 3;
      for (let k = 0; k < half; k++) {
        for (let side = 0; side < 2; side++) {
          const base = (side === 0 ? d : s) >> 2;
          const a = i32[base + 2 * k];
          const b = i32[base + 2 * k + 1];
          i32[(t >> 2) + side * half + k] = op === 0x02 ? (a + b) | 0 : (a - b) | 0;
        }
      }
      commit(c, d, n);
      return true;
    }
    case 0x04: // PMADDUBSW: unsigned bytes of d times signed bytes of s, pairs added with saturation.
      for (let k = 0; k < n >> 1; k++) {
        const v = u8[d + 2 * k] * i8[s + 2 * k] + u8[d + 2 * k + 1] * i8[s + 2 * k + 1];
        i16[(t >> 1) + k] = satS16(v);
      }
      commit(c, d, n);
      return true;
    case 0x08: // PSIGNB
      for (let k = 0; k < n; k++) i8[d + k] = i8[s + k] < 0 ? -i8[d + k] : i8[s + k] === 0 ? 0 : i8[d + k];
      return true;
    case 0x09: // PSIGNW
      for (let k = 0; k < n >> 1; k++) {
        const x = i16[(s >> 1) + k];
        i16[(d >> 1) + k] = x < 0 ? -i16[(d >> 1) + k] : x === 0 ? 0 : i16[(d >> 1) + k];
      }
      return true;
    case 0x0a: // PSIGND
      for (let k = 0; k < n >> 2; k++) {
        const x = i32[(s >> 2) + k];
        i32[(d >> 2) + k] = x < 0 ? -i32[(d >> 2) + k] | 0 : x === 0 ? 0 : i32[(d >> 2) + k];
      }
      return true;
    case 0x0b: // PMULHRSW
      for (let k = 0; k < n >> 1; k++) {
        const p = i16[(d >> 1) + k] * i16[(s >> 1) + k];
        i16[(d >> 1) + k] = ((p >> 14) + 1) >> 1;
      }
      return true;
    case 0x1c: // PABSB
      for (let k = 0; k < n; k++) u8[d + k] = Math.abs(i8[s + k]);
      return true;
    case 0x1d: // PABSW
      for (let k = 0; k < n >> 1; k++) c.fxU16[(d >> 1) + k] = Math.abs(i16[(s >> 1) + k]);
      return true;
    case 0x1e: // PABSD
      for (let k = 0; k < n >> 2; k++) i32[(d >> 2) + k] = Math.abs(i32[(s >> 2) + k]) | 0;
      return true;
    default:
      return false;
  }
}

/** PALIGNR: the concatenation d:s shifted right by `imm` bytes, low `n` bytes kept. */
export function palignr(c: Cpu, d: number, s: number, n: number, imm: number): void {
  const u8 = c.fxU8;
  const t = Fx.TMP;
  for (let k = 0; k < n; k++) {
    const at = k + imm;
    u8[t + k] = at < n ? u8[s + at] : at < 2 * n ? u8[d + at - n] : 0;
  }
  commit(c, d, n);
}

/** Sign- or zero-extension of PMOVSX and PMOVZX (0F 38 20-25, 30-35): `from`/`to` lane sizes in bytes. */
export function pmovx(c: Cpu, d: number, s: number, from: number, to: number, signed: boolean): void {
  const count = 16 / to;
  const t = Fx.TMP;
  const w = c.fxI32;
  for (let k = 0; k < count; k++) {
    let v: number;
    if (from === 1) v = signed ? c.fxI8[s + k] : c.fxU8[s + k];
    else if (from === 2) v = signed ? c.fxI16[(s >> 1) + k] : c.fxU16[(s >> 1) + k];
    else v = signed ? c.fxI32[(s >> 2) + k] : c.fxI32[(s >> 2) + k] >>> 0;
    if (to === 2) c.fxI16[(t >> 1) + k] = v;
    else if (to === 4) w[(t >> 2) + k] = v;
    else {
      w[(t >> 2) + 2 * k] = v;
      w[(t >> 2) + 2 * k + 1] = v < 0 ? -1 : 0;
    }
  }
  commit(c, d, 16);
}

/** SSE4.1/4.2 0F 38 opcodes on XMM registers with a 66 prefix. Returns false for other opcodes. */
export function sse41(c: Cpu, op: number, d: number, s: number): boolean {
  const u8 = c.fxU8;
  const i8 = c.fxI8;
  const u16 = c.fxU16;
  const i32 = c.fxI32;
  const x0 = xmmOff(0);
  switch (op) {
    case 0x10: // PBLENDVB: XMM0's byte sign bits pick s.
      for (let k = 0; k < 16; k++) if (u8[x0 + k] & 0x80) u8[d + k] = u8[s + k];
      return true;
    case 0x14: // BLENDVPS
      for (let k = 0; k < 4; k++) if (i32[(x0 >> 2) + k] < 0) i32[(d >> 2) + k] = i32[(s >> 2) + k];
      return true;
    case 0x15: // BLENDVPD
      for (let k = 0; k < 2; k++) {
        if (i32[(x0 >> 2) + 2 * k + 1] < 0) {
          i32[(d >> 2) + 2 * k] = i32[(s >> 2) + 2 * k];
          i32[(d >> 2) + 2 * k + 1] = i32[(s >> 2) + 2 * k + 1];
        }
      }
      return true;
    case 0x17: {
      // PTEST: ZF = (d AND s) == 0, CF = (NOT d AND s) == 0; other flags cleared.
      let and = 0;
      let andn = 0;
      for (let k = 0; k < 4; k++) {
        and |= i32[(d >> 2) + k] & i32[(s >> 2) + k];
        andn |= ~i32[(d >> 2) + k] & i32[(s >> 2) + k];
      }
      setArithFlags(c, (and === 0 ? Flag.ZF : 0) | (andn === 0 ? Flag.CF : 0));
      return true;
    }
    case 0x28: // PMULDQ: signed low dwords of each qword, 64-bit products.
      for (let q = 0; q < 2; q++) {
        const a = i32[(d >> 2) + 2 * q];
        const b = i32[(s >> 2) + 2 * q];
        // The signed high half from the unsigned one: subtract the other operand for each negative one.
        const hi = (mulHiU32(a >>> 0, b >>> 0) - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0;
        i32[(d >> 2) + 2 * q] = Math.imul(a, b);
        i32[(d >> 2) + 2 * q + 1] = hi;
      }
      return true;
    case 0x29: // PCMPEQQ
    case 0x37: // PCMPGTQ
      for (let q = 0; q < 2; q++) {
        const alo = i32[(d >> 2) + 2 * q] >>> 0;
        const ahi = i32[(d >> 2) + 2 * q + 1];
        const blo = i32[(s >> 2) + 2 * q] >>> 0;
        const bhi = i32[(s >> 2) + 2 * q + 1];
        const r = op === 0x29 ? alo === blo && ahi === bhi : ahi > bhi || (ahi === bhi && alo > blo);
        i32[(d >> 2) + 2 * q] = r ? -1 : 0;
        i32[(d >> 2) + 2 * q + 1] = r ? -1 : 0;
      }
      return true;
    case 0x2b: {
      // PACKUSDW
      const t = Fx.TMP >> 1;
      for (let k = 0; k < 4; k++) {
        const a = i32[(d >> 2) + k];
        const b = i32[(s >> 2) + k];
        u16[t + k] = a < 0 ? 0 : Math.min(a, 65535);
        u16[t + 4 + k] = b < 0 ? 0 : Math.min(b, 65535);
      }
      commit(c, d, 16);
      return true;
    }
    case 0x38: // PMINSB
      for (let k = 0; k < 16; k++) if (i8[s + k] < i8[d + k]) i8[d + k] = i8[s + k];
      return true;
    case 0x39: // PMINSD
      for (let k = 0; k < 4; k++)
        if (i32[(s >> 2) + k] < i32[(d >> 2) + k]) i32[(d >> 2) + k] = i32[(s >> 2) + k];
      return true;
    case 0x3a: // PMINUW
      for (let k = 0; k < 8; k++)
        if (u16[(s >> 1) + k] < u16[(d >> 1) + k]) u16[(d >> 1) + k] = u16[(s >> 1) + k];
      return true;
    case 0x3b: // PMINUD
      for (let k = 0; k < 4; k++)
        if (i32[(s >> 2) + k] >>> 0 < i32[(d >> 2) + k] >>> 0) i32[(d >> 2) + k] = i32[(s >> 2) + k];
      return true;
    case 0x3c: // PMAXSB
      for (let k = 0; k < 16; k++) if (i8[s + k] > i8[d + k]) i8[d + k] = i8[s + k];
      return true;
    case 0x3d: // PMAXSD
      for (let k = 0; k < 4; k++)
        if (i32[(s >> 2) + k] > i32[(d >> 2) + k]) i32[(d >> 2) + k] = i32[(s >> 2) + k];
      return true;
    case 0x3e: // PMAXUW
      for (let k = 0; k < 8; k++)
        if (u16[(s >> 1) + k] > u16[(d >> 1) + k]) u16[(d >> 1) + k] = u16[(s >> 1) + k];
      return true;
    case 0x3f: // PMAXUD
      for (let k = 0; k < 4; k++)
        if (i32[(s >> 2) + k] >>> 0 > i32[(d >> 2) + k] >>> 0) i32[(d >> 2) + k] = i32[(s >> 2) + k];
      return true;
    case 0x40: // PMULLD
      for (let k = 0; k < 4; k++) i32[(d >> 2) + k] = Math.imul(i32[(d >> 2) + k], i32[(s >> 2) + k]);
      return true;
    case 0x41: {
      // PHMINPOSUW: the smallest unsigned word and its index; the rest zero.
      let min = u16[s >> 1];
      let at = 0;
      for (let k = 1; k < 8; k++) {
        if (u16[(s >> 1) + k] < min) {
          min = u16[(s >> 1) + k];
          at = k;
        }
      }
      i32[d >> 2] = min | (at << 16);
      i32[(d >> 2) + 1] = 0;
      i32[(d >> 2) + 2] = 0;
      i32[(d >> 2) + 3] = 0;
      return true;
    }
    default:
      return false;
  }
}

/** BLENDPS (0C), BLENDPD (0D), PBLENDW (0E): the immediate's bits pick lanes of s. */
export function blendImm(c: Cpu, op: number, d: number, s: number, imm: number): void {
  const lane = op === 0x0c ? 4 : op === 0x0d ? 8 : 2;
  const u8 = c.fxU8;
  for (let k = 0; k < 16 / lane; k++) {
    if (!(imm & (1 << k))) continue;
    for (let j = 0; j < lane; j++) u8[d + k * lane + j] = u8[s + k * lane + j];
  }
}

/** MPSADBW: eight sums of absolute differences of 4-byte groups (SDM Vol. 2 MPSADBW). */
export function mpsadbw(c: Cpu, d: number, s: number, imm: number): void {
  const u8 = c.fxU8;
  const dOff = ((imm >> 2) & 1) * 4;
  const sOff = (imm & 3) * 4;
  const t = Fx.TMP >> 1;
  for (let k = 0; k < 8; k++) {
    let sum = 0;
    for (let j = 0; j < 4; j++) sum += Math.abs(u8[d + dOff + k + j] - u8[s + sOff + j]);
    c.fxU16[t + k] = sum;
  }
  commit(c, d, 16);
}

/** INSERTPS: one single from s (or memory), placed by imm, then lanes zeroed by imm's mask. */
export function insertps(c: Cpu, d: number, s: number, imm: number, fromMemory: boolean): void {
  const w = c.fxI32;
  const v = fromMemory ? w[s >> 2] : w[(s >> 2) + ((imm >> 6) & 3)];
  w[(d >> 2) + ((imm >> 4) & 3)] = v;
  for (let k = 0; k < 4; k++) if (imm & (1 << k)) w[(d >> 2) + k] = 0;
}

/** ROUNDPS/PD/SS/SD: to an integer value by imm[1:0] or MXCSR.RC (imm[2]); imm[3] suppresses #P. */
export function roundFloat(c: Cpu, op: number, d: number, s: number, imm: number): void {
  const w = c.fxI32;
  const mx = w[Fx.MXCSR >> 2];
  const rc = imm & 4 ? (mx >> Mxcsr.RC_SHIFT) & 3 : imm & 3;
  const single = op === 0x08 || op === 0x0a;
  const count = op === 0x08 ? 4 : op === 0x09 ? 2 : 1;
  const t = Fx.TMP >> 2;
  for (let k = 0; k < 4; k++) w[t + k] = w[(d >> 2) + k];
  fstat.flags = 0;
  for (let k = 0; k < count; k++) {
    if (single) {
      const b = w[(s >> 2) + k];
      if (isNaN32(b)) {
        if (isSNaN32(b)) fstat.flags |= Mxcsr.IE;
        w[t + k] = b | 0x400000;
        continue;
      }
      const x = (b & 0x7f800000) === 0 && mx & Mxcsr.DAZ ? (b < 0 ? -0 : 0) : from32(b);
      const r = roundKeepSign(x, rc);
      if (r !== x && !(imm & 8)) fstat.flags |= Mxcsr.PE;
      w[t + k] = bits32(r);
    } else {
      const lo = w[(s >> 2) + 2 * k];
      const hi = w[(s >> 2) + 2 * k + 1];
      if (isNaN64(hi, lo)) {
        if (isSNaN64(hi, lo)) fstat.flags |= Mxcsr.IE;
        w[t + 2 * k] = lo;
        w[t + 2 * k + 1] = hi | 0x80000;
        continue;
      }
      const x = (hi & 0x7ff00000) === 0 && mx & Mxcsr.DAZ ? (hi < 0 ? -0 : 0) : from64(lo, hi);
      const r = roundKeepSign(x, rc);
      if (r !== x && !(imm & 8)) fstat.flags |= Mxcsr.PE;
      w[t + 2 * k] = bits64(r);
      w[t + 2 * k + 1] = hi64;
    }
  }
  if (!simdExceptions(c, fstat.flags)) return;
  commit(c, d, 16);
}

function roundKeepSign(x: number, rc: number): number {
  if (!Number.isFinite(x)) return x;
  const r = roundToInt(x, rc);
  return r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r;
}

/** DPPS's four products (kept between calls: no allocation per instruction). */
const products = new Int32Array(4);

/**
 * DPPS: products of the lanes imm[7:4] selects, summed as (p0 + p1) + (p2 + p3), each step rounded, written
 * to the lanes imm[3:0] selects; DPPD likewise with two lanes (SDM Vol. 2 DPPS/DPPD).
 */
export function dotProduct(c: Cpu, double: boolean, d: number, s: number, imm: number): void {
  const w = c.fxI32;
  const mx = w[Fx.MXCSR >> 2];
  const t = Fx.TMP >> 2;
  fstat.flags = 0;
  if (!double) {
    const p = products;
    for (let k = 0; k < 4; k++)
      p[k] = imm & (16 << k) ? lane32(FOp.MUL, w[(d >> 2) + k], w[(s >> 2) + k], mx) : 0;
    // Each destination lane adds in its own operand order, which only shows in which NaN propagates
    // (measured on the host CPU): even lanes add p1 + p0 and p3 + p2, odd ones p0 + p1 and p2 + p3; the low
    // two lanes add the low pair's sum first, the high two the high pair's.
    for (let k = 0; k < 4; k++) {
      const even = (k & 1) === 0;
      const lo = even ? lane32(FOp.ADD, p[1], p[0], mx) : lane32(FOp.ADD, p[0], p[1], mx);
      const hi = even ? lane32(FOp.ADD, p[3], p[2], mx) : lane32(FOp.ADD, p[2], p[3], mx);
      const sum = k < 2 ? lane32(FOp.ADD, lo, hi, mx) : lane32(FOp.ADD, hi, lo, mx);
      w[t + k] = imm & (1 << k) ? sum : 0;
    }
  } else {
    let p0lo = 0;
    let p0hi = 0;
    let p1lo = 0;
    let p1hi = 0;
    if (imm & 16) {
      p0lo = lane64(FOp.MUL, w[d >> 2], w[(d >> 2) + 1], w[s >> 2], w[(s >> 2) + 1], mx);
      p0hi = laneHi;
    }
    if (imm & 32) {
      p1lo = lane64(FOp.MUL, w[(d >> 2) + 2], w[(d >> 2) + 3], w[(s >> 2) + 2], w[(s >> 2) + 3], mx);
      p1hi = laneHi;
    }
    // Lane 0 adds p0 + p1, lane 1 p1 + p0 (which NaN propagates; measured on the host CPU).
    for (let k = 0; k < 2; k++) {
      const lo =
        k === 0 ? lane64(FOp.ADD, p0lo, p0hi, p1lo, p1hi, mx) : lane64(FOp.ADD, p1lo, p1hi, p0lo, p0hi, mx);
      const hi = laneHi;
      w[t + 2 * k] = imm & (1 << k) ? lo : 0;
      w[t + 2 * k + 1] = imm & (1 << k) ? hi : 0;
    }
  }
  if (!simdExceptions(c, fstat.flags)) return;
  commit(c, d, 16);
}
