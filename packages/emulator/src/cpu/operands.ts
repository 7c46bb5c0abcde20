/**
 * Operands: registers by number and size, effective addresses (SDM Vol. 2 2.1.5, 2.2.1.6 RIP-relative),
 * segment checks (limits and rights outside 64-bit mode, canonical addresses in it) and the stack.
 * Every memory helper records a fault instead of throwing; callers check `c.stop & Stop.ABORT`.
 */
import type { Cpu } from './cpu.js';
import { type Insn, InsnFlag, NO_REG } from './decode.js';
import { raise, Vector } from './exceptions.js';
import { SegAcc } from './segments.js';
import { Seg, SegAttr, Stop } from './state.js';

const TWO32 = 4294967296;
const CANON = 140737488355328; // 2^47

/** Reads register `n` (byte registers resolved: 16-19 are AH..BH) as an unsigned value of `size` (<= 4). */
export function getReg(c: Cpu, n: number, size: number): number {
  const r = c.r;
  switch (size) {
    case 1:
      return n < 16 ? r[n << 1] & 0xff : (r[(n - 16) << 1] >>> 8) & 0xff;
    case 2:
      return r[n << 1] & 0xffff;
    default:
      return r[n << 1];
  }
}

/** Writes register `n`: 8/16-bit writes merge, 32-bit writes zero the high half (SDM Vol. 1 3.4.1.1). */
export function setReg(c: Cpu, n: number, size: number, lo: number, hi: number): void {
  const r = c.r;
  switch (size) {
    case 1:
      if (n < 16) r[n << 1] = (r[n << 1] & ~0xff) | (lo & 0xff);
      else r[(n - 16) << 1] = (r[(n - 16) << 1] & ~0xff00) | ((lo & 0xff) << 8);
      return;
    case 2:
      r[n << 1] = (r[n << 1] & ~0xffff) | (lo & 0xffff);
      return;
    case 4:
      r[n << 1] = lo;
      r[(n << 1) + 1] = 0;
      return;
    default:
      r[n << 1] = lo;
      r[(n << 1) + 1] = hi;
  }
}

/** A 64-bit register as a number (exact while it is below 2^53 in magnitude, as addresses are). */
export function reg64(c: Cpu, n: number): number {
  return c.r[(n << 1) + 1] * TWO32 + (c.r[n << 1] >>> 0);
}

/** Writes a number (an address) into a 64-bit register. */
export function setReg64(c: Cpu, n: number, v: number): void {
  const hi = Math.floor(v / TWO32);
  c.r[n << 1] = (v - hi * TWO32) | 0;
  c.r[(n << 1) + 1] = hi | 0;
}

/** Both halves of the last 64-bit effective address (exact; LEA reads them). */
let eaLo = 0;
let eaHi = 0;

/** The high half of the last `effectiveAddress` in 64-bit addressing. */
export function lastEaHi(): number {
  return eaHi;
}

/** The low half of the last `effectiveAddress` in 64-bit addressing. */
export function lastEaLo(): number {
  return eaLo;
}

/** A number beyond the canonical range, standing for an address the CPU must refuse. */
const NON_CANONICAL = 2 ** 60;

/**
 * The effective address (offset within the segment) of the memory operand, truncated to the address size.
 * 64-bit addresses are summed exactly in 32-bit halves (kept for LEA) and returned as a number when they are
 * near the canonical range, else as a value `linearOf` refuses.
 */
export function effectiveAddress(c: Cpu, i: Insn): number {
  const r = c.r;
  if (i.asize === 8) {
    let lo = i.disp >>> 0;
    let hi = i.disp >> 31;
    if (i.flags & InsnFlag.RIPREL) {
      const ipHi = Math.floor(c.nextIp / TWO32);
      lo += c.nextIp - ipHi * TWO32;
      hi += ipHi;
    }
    if (i.base !== NO_REG) {
      lo += r[i.base << 1] >>> 0;
      hi += r[(i.base << 1) + 1];
    }
    if (i.index !== NO_REG) {
      const s = i.scale;
      const xl = r[i.index << 1];
      const xh = r[(i.index << 1) + 1];
      lo += (xl << s) >>> 0;
      hi += s === 0 ? xh : (xh << s) | (xl >>> (32 - s));
    }
    hi = (hi + Math.floor(lo / TWO32)) | 0;
    lo >>>= 0;
    eaLo = lo;
    eaHi = hi;
    return hi >= -0x10000 && hi < 0x10000 ? hi * TWO32 + lo : NON_CANONICAL;
  }
  let a = i.disp;
  if (i.base !== NO_REG) a += r[i.base << 1];
  if (i.index !== NO_REG) a += r[i.index << 1] << i.scale;
  if (i.flags & InsnFlag.RIPREL) a += c.nextIp;
  return i.asize === 4 ? a >>> 0 : a & 0xffff;
}

/**
 * The linear address of `size` bytes at offset `off` in segment `seg`, after the segment checks; records #GP
 * or #SS on failure (SDM Vol. 3A 5.3, 3.3.7.1).
 */
export function linearOf(c: Cpu, seg: number, off: number, size: number, write: boolean): number {
  if (c.long64) {
    const lin = seg >= Seg.FS ? c.segBase[seg] + off : off;
    if (lin < -CANON || lin + size > CANON) {
      raise(c, seg === Seg.SS ? Vector.SS : Vector.GP, 0);
      return 0;
    }
    return lin;
  }
  const acc = c.segAcc[seg];
  if (!(acc & (write ? SegAcc.WRITE : SegAcc.READ))) {
    raise(c, seg === Seg.SS ? Vector.SS : Vector.GP, 0);
    return 0;
  }
  const limit = c.segLimit[seg];
  if (acc & SegAcc.EXPAND_DOWN) {
    const upper = c.segAttr[seg] & SegAttr.DB ? 0xffffffff : 0xffff;
    if (off <= limit || off + size - 1 > upper) {
      raise(c, seg === Seg.SS ? Vector.SS : Vector.GP, 0);
      return 0;
    }
  } else if (off + size - 1 > limit) {
    raise(c, seg === Seg.SS ? Vector.SS : Vector.GP, 0);
    return 0;
  }
  return (c.segBase[seg] + off) >>> 0;
}

/** Reads the r/m operand; memory operands leave their linear address in `c.ea` for a later `writeBack`. */
export function readRm(c: Cpu, i: Insn, size: number): number {
  if (i.mod === 3) {
    if (size === 8) c.hi = c.r[(i.rm << 1) + 1];
    return getReg(c, size === 1 ? i.rmB : i.rm, size);
  }
  const lin = linearOf(c, i.seg, effectiveAddress(c, i), size, false);
  if (c.stop & Stop.ABORT) return 0;
  c.ea = lin;
  return c.read(lin, size);
}

/** Reads the r/m operand of a read-modify-write instruction: the segment must also be writable. */
export function readRmForWrite(c: Cpu, i: Insn, size: number): number {
  if (i.mod === 3) return readRm(c, i, size);
  const lin = linearOf(c, i.seg, effectiveAddress(c, i), size, true);
  if (c.stop & Stop.ABORT) return 0;
  c.ea = lin;
  const v = c.read(lin, size);
  return v;
}

/** Writes the r/m operand read by `readRmForWrite` (same register or `c.ea`). */
export function writeBack(c: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  if (i.mod === 3) setReg(c, size === 1 ? i.rmB : i.rm, size, lo, hi);
  else c.write(c.ea, size, lo, hi);
}

/** Writes the r/m operand (a plain store). */
export function writeRm(c: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  if (i.mod === 3) {
    setReg(c, size === 1 ? i.rmB : i.rm, size, lo, hi);
    return;
  }
  const lin = linearOf(c, i.seg, effectiveAddress(c, i), size, true);
  if (c.stop & Stop.ABORT) return;
  c.write(lin, size, lo, hi);
}

/** Reads the reg-field register operand. */
export function readRegOp(c: Cpu, i: Insn, size: number): number {
  if (size === 8) c.hi = c.r[(i.reg << 1) + 1];
  return getReg(c, size === 1 ? i.regB : i.reg, size);
}

/** Writes the reg-field register operand. */
export function writeRegOp(c: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  setReg(c, size === 1 ? i.regB : i.reg, size, lo, hi);
}

// ---- Stack (SDM Vol. 1 6.2) -------------------------------------------------------------------------

/** Stack-pointer width in bytes: 8 in 64-bit mode, else by SS.B. */
export function stackSize(c: Cpu): number {
  return c.long64 ? 8 : c.segAttr[Seg.SS] & SegAttr.DB ? 4 : 2;
}

/** The stack pointer as a number of the stack width. */
export function getSp(c: Cpu): number {
  const w = stackSize(c);
  return w === 8 ? reg64(c, 4) : w === 4 ? c.r[8] >>> 0 : c.r[8] & 0xffff;
}

/** Sets the stack pointer, keeping the bits above the stack width (16-bit stacks change only SP). */
export function setSp(c: Cpu, v: number): void {
  const w = stackSize(c);
  if (w === 8) setReg64(c, 4, v);
  else if (w === 4) {
    c.r[8] = v | 0;
    c.r[9] = 0;
  } else c.r[8] = (c.r[8] & ~0xffff) | (v & 0xffff);
}

function wrapSp(c: Cpu, v: number): number {
  const w = stackSize(c);
  return w === 8 ? v : w === 4 ? v >>> 0 : v & 0xffff;
}

/** Pushes `size` bytes; returns false when it faulted (RSP unchanged). */
export function push(c: Cpu, size: number, lo: number, hi: number): boolean {
  if (c.long64) {
    if (size !== 8) return pushWidth(c, size, lo, hi);
    // The 64-bit stack, in RSP's halves (no width dispatch, no float split): SS has no base or limit here.
    const r = c.r;
    const spLo = (r[8] >>> 0) - 8;
    const spHi = spLo < 0 ? (r[9] - 1) | 0 : r[9];
    const lin = spHi * TWO32 + (spLo >>> 0);
    if (lin < -CANON || lin + 8 > CANON) {
      raise(c, Vector.SS, 0);
      return false;
    }
    c.write(lin, 8, lo, hi);
    if (c.stop & Stop.ABORT) return false;
    r[8] = spLo | 0;
    r[9] = spHi;
    return true;
  }
  if (c.segAttr[Seg.SS] & SegAttr.DB) {
    // The common 32-bit stack, without the width dispatch of getSp/wrapSp/setSp (same result).
    const sp = ((c.r[8] >>> 0) - size) >>> 0;
    const lin = linearOf(c, Seg.SS, sp, size, true);
    if (c.stop & Stop.ABORT) return false;
    c.write(lin, size, lo, hi);
    if (c.stop & Stop.ABORT) return false;
    c.r[8] = sp | 0;
    c.r[9] = 0;
    return true;
  }
  return pushWidth(c, size, lo, hi);
}

/** `push` for any stack width (16-bit stacks, 2-byte pushes). */
function pushWidth(c: Cpu, size: number, lo: number, hi: number): boolean {
  const sp = wrapSp(c, getSp(c) - size);
  const lin = linearOf(c, Seg.SS, sp, size, true);
  if (c.stop & Stop.ABORT) return false;
  c.write(lin, size, lo, hi);
  if (c.stop & Stop.ABORT) return false;
  setSp(c, sp);
  return true;
}

/** Reads the value `offset` bytes above the top of the stack without popping. */
export function peek(c: Cpu, offset: number, size: number): number {
  const lin = linearOf(c, Seg.SS, wrapSp(c, getSp(c) + offset), size, false);
  if (c.stop & Stop.ABORT) return 0;
  return c.read(lin, size);
}

/** Pops `size` bytes (high half of 8 in `c.hi`); on a fault RSP is unchanged. */
export function pop(c: Cpu, size: number): number {
  if (c.long64) {
    if (size !== 8) return popWidth(c, size);
    // The 64-bit stack, as `push`.
    const r = c.r;
    const spLo = r[8] >>> 0;
    const spHi = r[9];
    const lin = spHi * TWO32 + spLo;
    if (lin < -CANON || lin + 8 > CANON) {
      raise(c, Vector.SS, 0);
      return 0;
    }
    const v = c.read(lin, 8);
    if (c.stop & Stop.ABORT) return 0;
    const next = spLo + 8;
    r[8] = next | 0;
    r[9] = next >= TWO32 ? (spHi + 1) | 0 : spHi;
    return v;
  }
  if (c.segAttr[Seg.SS] & SegAttr.DB) {
    // The common 32-bit stack, as `push`.
    const sp = c.r[8] >>> 0;
    const lin = linearOf(c, Seg.SS, sp, size, false);
    if (c.stop & Stop.ABORT) return 0;
    const v = c.read(lin, size);
    if (c.stop & Stop.ABORT) return 0;
    c.r[8] = (sp + size) | 0;
    c.r[9] = 0;
    return v;
  }
  return popWidth(c, size);
}

/** `pop` for any stack width. */
function popWidth(c: Cpu, size: number): number {
  const sp = getSp(c);
  const lin = linearOf(c, Seg.SS, sp, size, false);
  if (c.stop & Stop.ABORT) return 0;
  const v = c.read(lin, size);
  if (c.stop & Stop.ABORT) return 0;
  setSp(c, wrapSp(c, sp + size));
  return v;
}

/** Adds to the stack pointer (RET imm, LEAVE, ENTER). */
export function addSp(c: Cpu, n: number): void {
  setSp(c, wrapSp(c, getSp(c) + n));
}
