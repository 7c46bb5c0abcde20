/**
 * Lazy arithmetic flags (the technique of v86 and Bochs): an instruction that sets flags records its kind,
 * operand size, operands and result; a flag is computed only when something reads it. All flag code lives
 * here so that no instruction family can forget a flag. Formulas: Intel SDM Vol. 1 3.4.3 and Appendix A.
 */
import { ARITH_FLAGS, type CpuState, Flag } from './state.js';

/** Kinds of the last flag-setting operation. */
export const LazyOp = {
  /** dst + src (+0). */
  ADD: 1,
  /** dst + src + 1 (ADC with CF set). */
  ADC1: 2,
  /** dst - src (-0). */
  SUB: 3,
  /** dst - src - 1 (SBB with CF set). */
  SBB1: 4,
  /** AND/OR/XOR/TEST: CF = OF = AF = 0. */
  LOGIC: 5,
  /** Only ZF, SF and PF come from the result; the others were written to `flags` eagerly. */
  RESULT: 6,
} as const;

const PARITY = new Uint8Array(256);
for (let v = 0; v < 256; v++) {
  let bits = 0;
  for (let b = v; b; b >>= 1) bits += b & 1;
  PARITY[v] = bits & 1 ? 0 : Flag.PF;
}

/** Records a flag-setting operation on 8, 16 or 32-bit operands (values already truncated to `size`). */
export function setLazy(c: CpuState, op: number, size: number, res: number, dst: number, src: number): void {
  c.lazyOp = op;
  c.lazySize = size;
  c.lazyRes = res;
  c.lazyDst = dst;
  c.lazySrc = src;
  c.lazyMask = op === LazyOp.RESULT ? Flag.ZF | Flag.SF | Flag.PF : ARITH_FLAGS;
}

/** Records a flag-setting operation on 64-bit operands given as 32-bit halves. */
export function setLazy64(
  c: CpuState,
  op: number,
  res: number,
  resHi: number,
  dst: number,
  dstHi: number,
  src: number,
  srcHi: number,
): void {
  c.lazyOp = op;
  c.lazySize = 8;
  c.lazyRes = res;
  c.lazyResHi = resHi;
  c.lazyDst = dst;
  c.lazyDstHi = dstHi;
  c.lazySrc = src;
  c.lazySrcHi = srcHi;
  c.lazyMask = op === LazyOp.RESULT ? Flag.ZF | Flag.SF | Flag.PF : ARITH_FLAGS;
}

/** INC and DEC: like ADD/SUB of 1 but CF keeps its value (SDM Vol. 2 INC). */
export function setLazyIncDec(
  c: CpuState,
  op: number,
  size: number,
  res: number,
  resHi: number,
  dst: number,
  dstHi: number,
): void {
  const carry = getCf(c);
  c.flags = (c.flags & ~Flag.CF) | carry;
  c.lazyOp = op;
  c.lazySize = size;
  c.lazyRes = res;
  c.lazyResHi = resHi;
  c.lazyDst = dst;
  c.lazyDstHi = dstHi;
  c.lazySrc = 1;
  c.lazySrcHi = 0;
  c.lazyMask = ARITH_FLAGS & ~Flag.CF;
}

/** Writes flags computed eagerly (CF, OF, AF) and leaves ZF/SF/PF to the result, as shifts and multiplies do. */
export function setEager(c: CpuState, eagerMask: number, eagerBits: number): void {
  c.flags = (c.flags & ~eagerMask) | (eagerBits & eagerMask);
}

function ult64(aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  return aHi >>> 0 < bHi >>> 0 || (aHi === bHi && aLo >>> 0 < bLo >>> 0);
}

function topBit(c: CpuState, lo: number, hi: number): number {
  return c.lazySize === 8 ? hi >>> 31 : (lo >>> (c.lazySize * 8 - 1)) & 1;
}

function lazyCf(c: CpuState): number {
  const s = c.lazySize;
  switch (c.lazyOp) {
    case LazyOp.ADD:
      if (s === 8) return ult64(c.lazyRes, c.lazyResHi, c.lazyDst, c.lazyDstHi) ? 1 : 0;
      return c.lazyRes >>> 0 < c.lazyDst >>> 0 ? 1 : 0;
    case LazyOp.ADC1:
      if (s === 8) return ult64(c.lazyDst, c.lazyDstHi, c.lazyRes, c.lazyResHi) ? 0 : 1;
      return c.lazyRes >>> 0 <= c.lazyDst >>> 0 ? 1 : 0;
    case LazyOp.SUB:
      if (s === 8) return ult64(c.lazyDst, c.lazyDstHi, c.lazySrc, c.lazySrcHi) ? 1 : 0;
      return c.lazyDst >>> 0 < c.lazySrc >>> 0 ? 1 : 0;
    case LazyOp.SBB1:
      if (s === 8) return ult64(c.lazySrc, c.lazySrcHi, c.lazyDst, c.lazyDstHi) ? 0 : 1;
      return c.lazyDst >>> 0 <= c.lazySrc >>> 0 ? 1 : 0;
    default:
      return 0;
  }
}

function lazyOf(c: CpuState): number {
  const { lazyRes: r, lazyDst: d, lazySrc: s, lazyResHi: rh, lazyDstHi: dh, lazySrcHi: sh } = c;
  switch (c.lazyOp) {
    case LazyOp.ADD:
    case LazyOp.ADC1:
      return topBit(c, (d ^ r) & (s ^ r), (dh ^ rh) & (sh ^ rh));
    case LazyOp.SUB:
    case LazyOp.SBB1:
      return topBit(c, (d ^ s) & (d ^ r), (dh ^ sh) & (dh ^ rh));
    default:
      return 0;
  }
}

/** CF as 0 or 1. */
export function getCf(c: CpuState): number {
  return c.lazyMask & Flag.CF ? lazyCf(c) : c.flags & Flag.CF;
}

/** ZF as 0 or 1. */
export function getZf(c: CpuState): number {
  if (!(c.lazyMask & Flag.ZF)) return (c.flags >> 6) & 1;
  if (c.lazySize === 8) return (c.lazyRes | c.lazyResHi) === 0 ? 1 : 0;
  return c.lazyRes === 0 ? 1 : 0;
}

/** SF as 0 or 1. */
export function getSf(c: CpuState): number {
  return c.lazyMask & Flag.SF ? topBit(c, c.lazyRes, c.lazyResHi) : (c.flags >> 7) & 1;
}

/** OF as 0 or 1. */
export function getOf(c: CpuState): number {
  return c.lazyMask & Flag.OF ? lazyOf(c) : (c.flags >> 11) & 1;
}

/** PF as 0 or 1. */
export function getPf(c: CpuState): number {
  return c.lazyMask & Flag.PF ? PARITY[c.lazyRes & 0xff] >> 2 : (c.flags >> 2) & 1;
}

/** AF as 0 or 1. */
export function getAf(c: CpuState): number {
  if (!(c.lazyMask & Flag.AF)) return (c.flags >> 4) & 1;
  if (c.lazyOp === LazyOp.LOGIC) return 0;
  return ((c.lazyRes ^ c.lazyDst ^ c.lazySrc) >> 4) & 1;
}

/** The whole RFLAGS value, lazy flags materialized. */
export function getFlags(c: CpuState): number {
  if (c.lazyMask === 0) return c.flags;
  return (
    (c.flags & ~ARITH_FLAGS) |
    getCf(c) |
    (getPf(c) << 2) |
    (getAf(c) << 4) |
    (getZf(c) << 6) |
    (getSf(c) << 7) |
    (getOf(c) << 11)
  );
}

/** Replaces RFLAGS (the caller has already masked bits the instruction may not change). */
export function setFlags(c: CpuState, value: number): void {
  c.flags = (value | Flag.FIXED) & ~(0x8 | 0x20 | 0x8000) & 0x3f7fff;
  c.lazyMask = 0;
}

/** Sets or clears CF, materializing the others (CLC, STC, CMC, BT and friends). */
export function putCf(c: CpuState, cf: number): void {
  c.flags = (getFlags(c) & ~Flag.CF) | (cf & 1);
  c.lazyMask = 0;
}

/**
 * Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc; SDM Vol. 1 Appendix B) as a boolean.
 */
export function condition(c: CpuState, cc: number): boolean {
  let v: boolean;
  switch (cc >> 1) {
    case 0:
      v = getOf(c) === 1;
      break;
    case 1:
      v = getCf(c) === 1;
      break;
    case 2:
      v = getZf(c) === 1;
      break;
    case 3:
      v = (getCf(c) | getZf(c)) === 1;
      break;
    case 4:
      v = getSf(c) === 1;
      break;
    case 5:
      v = getPf(c) === 1;
      break;
    case 6:
      v = getSf(c) !== getOf(c);
      break;
    default:
      v = getZf(c) === 1 || getSf(c) !== getOf(c);
      break;
  }
  return cc & 1 ? !v : v;
}
