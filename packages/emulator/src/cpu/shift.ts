/**
 * Shifts and rotates: group 2 (C0, C1, D0-D3: ROL, ROR, RCL, RCR, SHL, SHR, SAL, SAR) and SHLD/SHRD, with the
 * count masking and flag rules of SDM Vol. 2 (SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR, SHLD, SHRD). 64-bit values
 * are shifted as two 32-bit halves. Flags the manual leaves undefined (AF; OF for counts above 1) follow
 * what current Intel cores do for counts of 1.
 */
import type { Cpu } from './cpu.js';
import type { Insn } from './decode.js';
import { getCf, getFlags, LazyOp, setEager, setLazy, setLazy64 } from './flags.js';
import { readRegOp, readRmForWrite, writeBack } from './operands.js';
import { Flag, Stop } from './state.js';

let outHi = 0;

function shl64(lo: number, hi: number, n: number): number {
  if (n === 0) {
    outHi = hi;
    return lo;
  }
  if (n < 32) {
    outHi = (hi << n) | (lo >>> (32 - n));
    return lo << n;
  }
  outHi = n < 64 ? lo << (n - 32) : 0;
  return 0;
}

function shr64(lo: number, hi: number, n: number, arith: boolean): number {
  if (n === 0) {
    outHi = hi;
    return lo;
  }
  if (n < 32) {
    outHi = arith ? hi >> n : hi >>> n;
    return (lo >>> n) | (hi << (32 - n));
  }
  outHi = arith ? hi >> 31 : 0;
  return arith ? hi >> (n - 32) : n < 64 ? hi >>> (n - 32) : 0;
}

function bit64(lo: number, hi: number, k: number): number {
  return k < 32 ? (lo >>> k) & 1 : (hi >>> (k - 32)) & 1;
}

function truncSize(v: number, size: number): number {
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v | 0;
}

/**
 * Shifts or rotates (kind = group 2's reg field) `d` of `size` by `count` (already masked) and records flags;
 * returns the result (high half in `outHi` for 64-bit). Returns `d` unchanged for a zero effective count.
 */
function shiftOp(c: Cpu, kind: number, size: number, d: number, dh: number, count: number): number {
  const bits = size * 8;
  if (size === 8) {
    switch (kind) {
      case 0:
      case 1: {
        const n = count & 63;
        const left = kind === 0 ? n : (64 - n) & 63;
        const a = shl64(d, dh, left);
        const ah = outHi;
        const b = shr64(d, dh, (64 - left) & 63, false);
        const bh = outHi;
        const lo = left === 0 ? d : a | b;
        const hi = left === 0 ? dh : ah | bh;
        outHi = hi;
        const cf = kind === 0 ? lo & 1 : hi >>> 31;
        const of = kind === 0 ? (hi >>> 31) ^ cf : (hi >>> 31) ^ ((hi >>> 30) & 1);
        rotateFlags(c, cf, of);
        return lo;
      }
      case 2:
      case 3:
        return rotateCarry64(c, kind === 2, d, dh, count);
      case 4:
      case 6: {
        const lo = shl64(d, dh, count);
        const hi = outHi;
        const cf = bit64(d, dh, 64 - count);
        const of = (hi >>> 31) ^ cf;
        setEager(c, Flag.CF | Flag.OF | Flag.AF, cf | (of << 11));
        setLazy64(c, LazyOp.RESULT, lo, hi, 0, 0, 0, 0);
        outHi = hi;
        return lo;
      }
      default: {
        const arith = kind === 7;
        const lo = shr64(d, dh, count, arith);
        const hi = outHi;
        const cf = bit64(d, dh, count - 1);
        const of = arith ? 0 : dh >>> 31;
        setEager(c, Flag.CF | Flag.OF | Flag.AF, cf | (of << 11));
        setLazy64(c, LazyOp.RESULT, lo, hi, 0, 0, 0, 0);
        outHi = hi;
        return lo;
      }
    }
  }
  const mask = size === 4 ? 0xffffffff : (1 << bits) - 1;
  const u = d & mask;
  switch (kind) {
    case 0:
    case 1: {
      const n = count % bits;
      const r =
        n === 0
          ? u
          : kind === 0
            ? ((u << n) | (u >>> (bits - n))) & mask
            : ((u >>> n) | (u << (bits - n))) & mask;
      const res = truncSize(r, size);
      const msb = (r >>> (bits - 1)) & 1;
      const cf = kind === 0 ? r & 1 : msb;
      const of = kind === 0 ? msb ^ cf : msb ^ ((r >>> (bits - 2)) & 1);
      rotateFlags(c, cf, of);
      return res;
    }
    case 2:
    case 3: {
      const n = count % (bits + 1);
      let v = u;
      let cf = getCf(c);
      for (let k = 0; k < n; k++) {
        if (kind === 2) {
          const out = (v >>> (bits - 1)) & 1;
          v = ((v << 1) | cf) & mask;
          cf = out;
        } else {
          const out = v & 1;
          v = (v >>> 1) | (cf << (bits - 1));
          cf = out;
        }
      }
      const msb = (v >>> (bits - 1)) & 1;
      const of = kind === 2 ? msb ^ cf : msb ^ ((v >>> (bits - 2)) & 1);
      if (n !== 0) rotateFlags(c, cf, of);
      return truncSize(v, size);
    }
    case 4:
    case 6: {
      // Integer shifts only (count is 1-31 here): `2 ** count` and `%` on doubles cost more than the rest
      // of the instruction. For 8/16-bit operands a count at or past the width leaves 0.
      const res = truncSize(u << count, size);
      const cf = count > bits ? 0 : (u >>> (bits - count)) & 1;
      const of = ((res >>> (bits - 1)) & 1) ^ cf;
      setEager(c, Flag.CF | Flag.OF | Flag.AF, cf | (of << 11));
      setLazy(c, LazyOp.RESULT, size, res, 0, 0);
      return res;
    }
    default: {
      const arith = kind === 7;
      const sv = size === 4 ? d | 0 : size === 2 ? (u << 16) >> 16 : (u << 24) >> 24;
      const r = arith ? sv >> count : u >>> count;
      const res = truncSize(r, size);
      const cf =
        count > bits ? (arith ? sv >>> 31 : 0) : arith ? (sv >> (count - 1)) & 1 : (u >>> (count - 1)) & 1;
      const of = arith ? 0 : (u >>> (bits - 1)) & 1;
      setEager(c, Flag.CF | Flag.OF | Flag.AF, cf | (of << 11));
      setLazy(c, LazyOp.RESULT, size, res, 0, 0);
      return res;
    }
  }
}

function rotateCarry64(c: Cpu, left: boolean, d: number, dh: number, count: number): number {
  let lo = d;
  let hi = dh;
  let cf = getCf(c);
  for (let k = 0; k < count; k++) {
    if (left) {
      const out = hi >>> 31;
      hi = (hi << 1) | (lo >>> 31);
      lo = (lo << 1) | cf;
      cf = out;
    } else {
      const out = lo & 1;
      lo = (lo >>> 1) | (hi << 31);
      hi = (hi >>> 1) | (cf << 31);
      cf = out;
    }
  }
  const msb = hi >>> 31;
  rotateFlags(c, cf, left ? msb ^ cf : msb ^ ((hi >>> 30) & 1));
  outHi = hi;
  return lo;
}

function rotateFlags(c: Cpu, cf: number, of: number): void {
  // Rotates change only CF and OF: materialize the rest first.
  c.flags = (getFlags(c) & ~(Flag.CF | Flag.OF)) | cf | (of << 11);
  c.lazyMask = 0;
}

/** Group 2: C0/C1 (count imm8), D0/D1 (count 1), D2/D3 (count CL). */
export function shiftGroup(c: Cpu, i: Insn): void {
  const size = i.osize;
  const raw = i.op <= 0xc1 ? i.imm : i.op <= 0xd1 ? 1 : c.r[2];
  const count = raw & (size === 8 ? 63 : 31);
  const d = readRmForWrite(c, i, size);
  if (c.stop & Stop.ABORT) return;
  if (count === 0) {
    // No flags change, but a 32-bit register destination is still written (zero-extended) in 64-bit mode.
    if (size === 4 && i.mod === 3) writeBack(c, i, 4, d, 0);
    return;
  }
  const dh = c.hi;
  // Flags are set by shiftOp before the write; keep a copy to restore if the write faults. Only a memory
  // destination can fault, and materializing the lazy flags on every register shift is costly.
  const saved = i.mod === 3 ? 0 : getFlags(c);
  const res = shiftOp(c, i.reg & 7, size, d, dh, count);
  writeBack(c, i, size, res, outHi);
  if (i.mod !== 3 && c.stop & Stop.ABORT) {
    c.flags = saved;
    c.lazyMask = 0;
  }
}

/** SHLD/SHRD (0F A4/A5, AC/AD): shift r/m, filling from the register operand. */
export function doubleShift(c: Cpu, i: Insn): void {
  const size = i.osize;
  const left = i.op === 0x1a4 || i.op === 0x1a5;
  const raw = i.op === 0x1a4 || i.op === 0x1ac ? i.imm : c.r[2];
  const count = raw & (size === 8 ? 63 : 31);
  const d = readRmForWrite(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const dh = c.hi;
  const s = readRegOp(c, i, size);
  const sh = c.hi;
  if (count === 0) {
    if (size === 4 && i.mod === 3) writeBack(c, i, 4, d, 0);
    return;
  }
  let lo: number;
  let hi = 0;
  let cf: number;
  if (size === 8) {
    if (left) {
      const l1 = shl64(d, dh, count);
      const h1 = outHi;
      const l2 = shr64(s, sh, 64 - count, false);
      hi = h1 | outHi;
      lo = l1 | l2;
      cf = bit64(d, dh, 64 - count);
    } else {
      const l1 = shr64(d, dh, count, false);
      const h1 = outHi;
      const l2 = shl64(s, sh, 64 - count);
      hi = h1 | outHi;
      lo = l1 | l2;
      cf = bit64(d, dh, count - 1);
    }
    const of = ((hi ^ dh) >>> 31) & 1;
    writeBack(c, i, size, lo, hi);
    if (c.stop & Stop.ABORT) return;
    setEager(c, Flag.CF | Flag.OF | Flag.AF, cf | (of << 11));
    setLazy64(c, LazyOp.RESULT, lo, hi, 0, 0, 0, 0);
    return;
  }
  const bits = size * 8;
  const mask = size === 4 ? 0xffffffff : 0xffff;
  const u = d & mask;
  const v = s & mask;
  let r: number;
  if (count > bits) {
    // 16-bit operands with counts 17-31: undefined result; take the 32-bit concatenation's behaviour.
    r = left
      ? ((u << (count - bits)) | (v >>> (2 * bits - count))) & mask
      : ((u >>> (count - bits)) | (v << (2 * bits - count))) & mask;
    cf = 0;
  } else if (left) {
    r = ((u << count) | (count === bits ? v : v >>> (bits - count))) & mask;
    cf = (u >>> (bits - count)) & 1;
  } else {
    r = ((u >>> count) | (count === bits ? v : v << (bits - count))) & mask;
    if (count === bits) r = v;
    cf = (u >>> (count - 1)) & 1;
  }
  if (left && count === bits) r = v;
  const res = truncSize(r, size);
  const of = ((res ^ u) >>> (bits - 1)) & 1;
  writeBack(c, i, size, res, 0);
  if (c.stop & Stop.ABORT) return;
  setEager(c, Flag.CF | Flag.OF | Flag.AF, cf | (of << 11));
  setLazy(c, LazyOp.RESULT, size, res, 0, 0);
}
