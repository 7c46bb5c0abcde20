/**
 * Bit operations and atomics: BT/BTS/BTR/BTC (register and immediate offsets, with the memory-operand bit
 * string addressing of SDM Vol. 2 BT), BSF/BSR, XADD, CMPXCHG, CMPXCHG8B/CMPXCHG16B. LOCK changes nothing on
 * a single emulated CPU: the operations are already atomic with respect to it.
 */
import type { Cpu } from './cpu.js';
import type { Insn } from './decode.js';
import { raise, Vector } from './exceptions.js';
import { getFlags, LazyOp, putCf, setLazy, setLazy64 } from './flags.js';
import {
  effectiveAddress,
  getReg,
  linearOf,
  readRegOp,
  readRm,
  readRmForWrite,
  setReg,
  writeBack,
  writeRegOp,
} from './operands.js';
import { Flag, Stop } from './state.js';

/** BT, BTS, BTR, BTC with a register offset (0F A3, AB, B3, BB) or an immediate (0F BA /4-/7). */
export function bitTest(c: Cpu, i: Insn): void {
  const size = i.osize;
  const bits = size * 8;
  const kind = i.op === 0x1ba ? (i.reg & 7) - 4 : (i.op >> 3) & 3; // 0 BT, 1 BTS, 2 BTR, 3 BTC
  if (kind < 0) {
    raise(c, Vector.UD, -1);
    return;
  }
  let offset: number;
  let offsetHi = 0;
  if (i.op === 0x1ba) offset = i.imm & (bits - 1);
  else {
    offset = readRegOp(c, i, size);
    offsetHi = c.hi;
  }
  let lo: number;
  let hi = 0;
  if (i.mod === 3 || i.op === 0x1ba) {
    lo = kind === 0 ? readRm(c, i, size) : readRmForWrite(c, i, size);
    if (c.stop & Stop.ABORT) return;
    hi = c.hi;
  } else {
    // A register bit offset addresses a bit string: signed, in units of the operand size.
    const signed =
      size === 8 ? offsetHi * 4294967296 + (offset >>> 0) : size === 4 ? offset | 0 : (offset << 16) >> 16;
    const unit = Math.floor(signed / bits);
    offset = signed - unit * bits;
    let ea = effectiveAddress(c, i) + unit * size;
    if (i.asize === 4) ea >>>= 0;
    else if (i.asize === 2) ea &= 0xffff;
    const lin = linearOf(c, i.seg, ea, size, kind !== 0);
    if (c.stop & Stop.ABORT) return;
    c.ea = lin;
    lo = c.read(lin, size);
    if (c.stop & Stop.ABORT) return;
    hi = c.hi;
  }
  const n = offset & (bits - 1);
  const bit = n < 32 ? (lo >>> n) & 1 : (hi >>> (n - 32)) & 1;
  if (kind !== 0) {
    let m = n < 32 ? 1 << n : 0;
    let mh = n >= 32 ? 1 << (n - 32) : 0;
    if (size < 4) m &= size === 1 ? 0xff : 0xffff;
    if (kind === 1) {
      lo |= m;
      hi |= mh;
    } else if (kind === 2) {
      lo &= ~m;
      hi &= ~mh;
    } else {
      lo ^= m;
      hi ^= mh;
    }
    mh = 0;
    if (i.mod === 3) setReg(c, size === 1 ? i.rmB : i.rm, size, lo, hi);
    else c.write(c.ea, size, lo, hi);
    if (c.stop & Stop.ABORT) return;
  }
  putCf(c, bit);
}

/** BSF, BSR (0F BC, BD): ZF = 1 and the destination unchanged when the source is zero. */
export function bitScan(c: Cpu, i: Insn): void {
  const size = i.osize;
  const lo = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const hi = size === 8 ? c.hi : 0;
  const flags = getFlags(c) & ~(Flag.ZF | Flag.CF | Flag.OF | Flag.SF | Flag.AF | Flag.PF);
  if ((lo | hi) === 0 || (size < 4 && (lo & (size === 1 ? 0xff : 0xffff)) === 0)) {
    c.flags = flags | Flag.ZF;
    c.lazyMask = 0;
    return;
  }
  let index: number;
  if (i.op === 0x1bc) index = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 32 + 31 - Math.clz32(hi & -hi);
  else index = hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(size === 2 ? lo & 0xffff : lo);
  writeRegOp(c, i, size, index, 0);
  c.flags = flags | (index === 0 ? 0 : 0);
  c.lazyMask = 0;
}

/** XADD (0F C0, C1). */
export function xadd(c: Cpu, i: Insn): void {
  const size = i.osize;
  const d = readRmForWrite(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const dh = c.hi;
  const s = readRegOp(c, i, size);
  const sh = c.hi;
  let lo: number;
  let hi = 0;
  if (size === 8) {
    const l = (d >>> 0) + (s >>> 0);
    lo = l | 0;
    hi = (dh + sh + (l >= 4294967296 ? 1 : 0)) | 0;
  } else lo = size === 4 ? (d + s) | 0 : (d + s) & (size === 1 ? 0xff : 0xffff);
  // SRC = DEST, then DEST = sum: with one register as both, the sum wins (SDM Vol. 2 XADD).
  if (i.mod === 3) {
    writeRegOp(c, i, size, d, dh);
    writeBack(c, i, size, lo, hi);
  } else {
    writeBack(c, i, size, lo, hi);
    if (c.stop & Stop.ABORT) return;
    writeRegOp(c, i, size, d, dh);
  }
  if (size === 8) setLazy64(c, LazyOp.ADD, lo, hi, d, dh, s, sh);
  else setLazy(c, LazyOp.ADD, size, lo, d, s);
}

/** CMPXCHG (0F B0, B1): the destination is written in both cases, as the processor does. */
export function cmpxchg(c: Cpu, i: Insn): void {
  const size = i.osize;
  const d = readRmForWrite(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const dh = c.hi;
  const a = getReg(c, 0, size);
  const ah = c.r[1];
  const equal = size === 8 ? a === d && ah === dh : a === d;
  if (equal) {
    const s = readRegOp(c, i, size);
    writeBack(c, i, size, s, c.hi);
  } else if (i.mod !== 3) {
    // A memory destination is written back unchanged (the locked cycle); a register one is left alone.
    writeBack(c, i, size, d, dh);
  }
  if (c.stop & Stop.ABORT) return;
  if (!equal) setReg(c, 0, size, d, dh);
  if (size === 8) {
    const l = (a >>> 0) - (d >>> 0);
    setLazy64(c, LazyOp.SUB, l | 0, (ah - dh - (l < 0 ? 1 : 0)) | 0, a, ah, d, dh);
  } else {
    const r = size === 4 ? (a - d) | 0 : (a - d) & (size === 1 ? 0xff : 0xffff);
    setLazy(c, LazyOp.SUB, size, r, a, d);
  }
}

/** Group 9 (0F C7): CMPXCHG8B and, with REX.W, CMPXCHG16B (/1). Other forms are not implemented (#UD). */
export function group9(c: Cpu, i: Insn): void {
  if ((i.reg & 7) !== 1 || i.mod === 3) {
    raise(c, Vector.UD, -1);
    return;
  }
  const wide = i.osize === 8;
  const size = wide ? 16 : 8;
  const ea = effectiveAddress(c, i);
  const lin = linearOf(c, i.seg, ea, size, true);
  if (c.stop & Stop.ABORT) return;
  if (wide && lin % 16 !== 0) {
    raise(c, Vector.GP, 0);
    return;
  }
  if (!c.probeWrite(lin, 8) || (wide && !c.probeWrite(lin + 8, 8))) return;
  const m0 = c.read(lin, 4);
  const m1 = c.read(lin + 4, 4);
  const m2 = wide ? c.read(lin + 8, 4) : 0;
  const m3 = wide ? c.read(lin + 12, 4) : 0;
  if (c.stop & Stop.ABORT) return;
  const r = c.r;
  const equal = wide ? m0 === r[0] && m1 === r[1] && m2 === r[4] && m3 === r[5] : m0 === r[0] && m1 === r[4];
  if (equal) {
    if (wide) {
      c.write(lin, 8, r[6], r[7]);
      c.write(lin + 8, 8, r[2], r[3]);
    } else c.write(lin, 8, r[6], r[2]);
  } else {
    c.write(lin, 4, m0, 0);
    if (wide) {
      r[0] = m0;
      r[1] = m1;
      r[4] = m2;
      r[5] = m3;
    } else {
      setReg(c, 0, 4, m0, 0);
      setReg(c, 2, 4, m1, 0);
    }
  }
  if (c.stop & Stop.ABORT) return;
  const f = getFlags(c) & ~Flag.ZF;
  c.flags = f | (equal ? Flag.ZF : 0);
  c.lazyMask = 0;
}
