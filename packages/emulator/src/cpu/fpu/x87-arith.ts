/**
 * x87 arithmetic, comparisons, constants and the transcendental instructions (SDM Vol. 1 8.3, Vol. 2 F*).
 * Operands are 80-bit values at image offsets (ST slots, or scratch holding a converted memory operand).
 *
 * Precision: FADD/FSUB/FMUL/FDIV/FSQRT compute in binary64 (JavaScript doubles) from operands rounded to
 * binary64, then round by FCW.RC with exact error terms (simd/float-core.ts), setting PE and C1 as the
 * hardware does, and widen to 80 bits. With FCW.PC = double or single and binary64 operands this is the
 * hardware's result bit for bit (the differential tests check it); with PC = extended (the reset value, and
 * what x86-64 Linux user space runs with) results carry 53 significant bits instead of 64, operands with
 * more than 53 significant bits are rounded first, and results beyond binary64's exponent range overflow
 * or underflow early. Exact everywhere: loads and stores of every format (FST m32/m64 round the full
 * significand), FXCH, FCHS, FABS, comparisons, FXTRACT, FSCALE, FPREM/FPREM1, integer and BCD conversions,
 * the environment. Transcendentals (FSIN..FYL2XP1) use Math's binary64 functions.
 */
import type { Cpu } from '../cpu.js';
import { exact, FOp, lastErrSign, nextDown, nextUp } from '../simd/float-core.js';
import { Round } from './float80.js';
import { Fsw, Fx, stOff } from './image.js';
import {
  copyRaw,
  fcw,
  isDenormalAt,
  isNaNAt,
  isSNaNAt,
  isUnsupportedAt,
  seAt,
  setCc,
  storeIndefinite,
  storeRaw,
  storeValue,
  valueAt,
  x87Flags,
} from './x87-regs.js';

/** What the last {@link roundX87} did: whether the result is inexact and whether its magnitude went up (C1). */
export const rounded = { inexact: false, up: false };

/** Rounds `t` (nearest double, exact error sign `dir`) by FCW's precision and rounding control. */
export function roundX87(c: Cpu, t: number, dir: number): number {
  const cw = fcw(c);
  const rc = (cw >> 10) & 3;
  const single = ((cw >> 8) & 3) === 0;
  let r = single ? Math.fround(t) : t;
  if (single && r !== t) {
    // t exactly between two binary32 values while the true value is not: the error's sign decides.
    if (dir !== 0) {
      const other = t > r ? nextUp(r, true) : nextDown(r, true);
      if (t - r === other - t && dir > 0 === t > r) r = other;
    }
    dir = t > r ? 1 : -1;
  }
  rounded.inexact = dir !== 0;
  rounded.up = false;
  if (dir === 0 || !Number.isFinite(r)) return r;
  // `dir` > 0: the true value is above r. The result ends above the true value (rounded up) or below it.
  let above = dir < 0;
  if (rc === Round.DOWN && dir < 0) {
    r = nextDown(r, single);
    above = false;
  } else if (rc === Round.UP && dir > 0) {
    r = nextUp(r, single);
    above = true;
  } else if (rc === Round.ZERO && ((r > 0 && dir < 0) || (r < 0 && dir > 0))) {
    r = r > 0 ? nextDown(r, single) : nextUp(r, single);
    above = r < 0;
  }
  rounded.up = r > 0 ? above : !above;
  return r;
}

/** A memory operand just converted to scratch was a binary32/binary64 denormal (#D, SDM Vol. 1 8.5.2). */
export const source = { denormal: false };

/**
 * The NaN result of an operation with a NaN operand (SDM Vol. 1 Table 4-7, x87 column): the QNaN of a
 * SNaN/QNaN pair, else the one with the larger significand, quieted. Writes it to `od`; false when #IA is
 * unmasked (nothing written).
 */
function nanResult(c: Cpu, od: number, oa: number, ob: number): boolean {
  const aNaN = isNaNAt(c, oa);
  const bNaN = ob >= 0 && isNaNAt(c, ob);
  const aS = aNaN && isSNaNAt(c, oa);
  const bS = bNaN && isSNaNAt(c, ob);
  if ((aS || bS) && !x87Flags(c, Fsw.IE)) return false;
  let pick = aNaN ? oa : ob;
  if (aNaN && bNaN) {
    if (aS !== bS) pick = aS ? ob : oa;
    else {
      const ah = c.fxI32[(oa >> 2) + 1] >>> 0;
      const bh = c.fxI32[(ob >> 2) + 1] >>> 0;
      const al = c.fxI32[oa >> 2] >>> 0;
      const bl = c.fxI32[ob >> 2] >>> 0;
      pick = bh > ah || (bh === ah && bl > al) ? ob : oa;
    }
  }
  copyRaw(c, od, pick);
  c.fxI32[(od >> 2) + 1] |= 0x40000000;
  return true;
}

/**
 * `od` := a op b for FADD/FSUB/FMUL/FDIV (`kind` from FOp; reversed forms swap the offsets) or FSQRT (b
 * ignored). Returns false when an unmasked exception left the destination unchanged.
 */
export function arith80(c: Cpu, kind: number, od: number, oa: number, ob: number): boolean {
  const unary = kind === FOp.SQRT;
  if (isUnsupportedAt(c, oa) || (!unary && isUnsupportedAt(c, ob))) {
    if (!x87Flags(c, Fsw.IE)) return false;
    storeIndefinite(c, od);
    return true;
  }
  if (isNaNAt(c, oa) || (!unary && isNaNAt(c, ob))) return nanResult(c, od, oa, unary ? -1 : ob);
  let flags = 0;
  if (isDenormalAt(c, oa) || (!unary && isDenormalAt(c, ob)) || (ob === Fx.SRC && source.denormal))
    flags |= Fsw.DE;
  const x = valueAt(c, oa);
  const y = unary ? 0 : valueAt(c, ob);
  const t = unary ? exact(FOp.SQRT, 0, x) : exact(kind, x, y);
  if (Number.isNaN(t)) {
    if (!x87Flags(c, flags | Fsw.IE)) return false;
    storeIndefinite(c, od);
    return true;
  }
  if (kind === FOp.DIV && y === 0 && x !== 0 && Number.isFinite(x)) {
    // #Z alone: a denormal dividend is not reported (measured on the host CPU).
    if (!x87Flags(c, Fsw.ZE)) return false;
    storeValue(c, od, t);
    return true;
  }
  if (!x87Flags(c, flags) && flags & (Fsw.DE | Fsw.IE | Fsw.ZE)) return false;
  let r = roundX87(c, signedZero(c, kind, x, y, t), lastErrSign());
  if (!Number.isFinite(r) && Number.isFinite(x) && Number.isFinite(y)) {
    x87Flags(c, Fsw.OE | Fsw.PE);
    const rc = (fcw(c) >> 10) & 3;
    const pos = r > 0;
    if (rc === Round.ZERO || (rc === Round.DOWN && pos) || (rc === Round.UP && !pos))
      r = pos ? Number.MAX_VALUE : -Number.MAX_VALUE;
    // An infinity is the magnitude rounded up (C1 = 1), the largest finite value rounded down.
    else c.fxU16[Fx.FSW >> 1] |= Fsw.C1;
  } else if (rounded.inexact) {
    x87Flags(c, Fsw.PE);
    if (rounded.up) c.fxU16[Fx.FSW >> 1] |= Fsw.C1;
  }
  storeValue(c, od, r);
  return true;
}

/**
 * The sign of an exact zero sum or difference (IEEE 754 6.3): -0 when rounding down, +0 otherwise, unless
 * both operands are zeros of the same sign.
 */
export function signedZero(c: Cpu, kind: number, x: number, y: number, t: number): number {
  if (t !== 0 || (kind !== FOp.ADD && kind !== FOp.SUB)) return t;
  const y2 = kind === FOp.SUB ? -y : y;
  if (x === 0 && y2 === 0 && Object.is(x, y2)) return t;
  return ((fcw(c) >> 10) & 3) === Round.DOWN ? -0 : 0;
}

/**
 * Compares the 80-bit values at `oa` and `ob` (FCOM/FUCOM/FCOMI/FTST/FICOM): 0 =, 1 <, 2 >, 3 unordered.
 * Ordered compares (FCOM) signal #IA on any NaN, unordered ones (FUCOM) only on SNaNs. -1 when #IA is
 * unmasked.
 */
export function compare80(c: Cpu, oa: number, ob: number, ordered: boolean): number {
  if (isUnsupportedAt(c, oa) || isUnsupportedAt(c, ob)) return x87Flags(c, Fsw.IE) ? 3 : -1;
  const aNaN = isNaNAt(c, oa);
  const bNaN = isNaNAt(c, ob);
  if (aNaN || bNaN) {
    // A NaN operand reports #IA (or nothing), never #D.
    const flags = ordered || isSNaNAt(c, oa) || (bNaN && isSNaNAt(c, ob)) ? Fsw.IE : 0;
    if (!x87Flags(c, flags)) return -1;
    return 3;
  }
  let flags = 0;
  if (isDenormalAt(c, oa) || isDenormalAt(c, ob) || (ob === Fx.SRC && source.denormal)) flags |= Fsw.DE;
  if (!x87Flags(c, flags)) return -1;
  return compareRaw(c, oa, ob);
}

/** Orders two non-NaN 80-bit values exactly on their fields: 0 =, 1 <, 2 >. */
export function compareRaw(c: Cpu, oa: number, ob: number): number {
  const w = c.fxI32;
  const sa = seAt(c, oa);
  const sb = seAt(c, ob);
  const aZero = (sa & 0x7fff) === 0 && w[oa >> 2] === 0 && w[(oa >> 2) + 1] === 0;
  const bZero = (sb & 0x7fff) === 0 && w[ob >> 2] === 0 && w[(ob >> 2) + 1] === 0;
  if (aZero && bZero) return 0;
  const aNeg = !aZero && (sa & 0x8000) !== 0;
  const bNeg = !bZero && (sb & 0x8000) !== 0;
  if (aNeg !== bNeg) return aNeg ? 1 : 2;
  // Same sign: compare magnitudes (exponent, then significand), reversed for negatives.
  let mag = 0;
  if (aZero || bZero) mag = aZero ? -1 : 1;
  else {
    const ea = sa & 0x7fff;
    const eb = sb & 0x7fff;
    const ha = w[(oa >> 2) + 1] >>> 0;
    const hb = w[(ob >> 2) + 1] >>> 0;
    const la = w[oa >> 2] >>> 0;
    const lb = w[ob >> 2] >>> 0;
    mag =
      ea !== eb ? (ea < eb ? -1 : 1) : ha !== hb ? (ha < hb ? -1 : 1) : la !== lb ? (la < lb ? -1 : 1) : 0;
  }
  if (mag === 0) return 0;
  if (aNeg) mag = -mag;
  return mag < 0 ? 1 : 2;
}

/** C3/C2/C0 of a comparison result (FCOM, FTST, FICOM). */
export function compareCc(c: Cpu, rel: number): void {
  const bits = rel === 0 ? Fsw.C3 : rel === 1 ? Fsw.C0 : rel === 2 ? 0 : Fsw.C3 | Fsw.C2 | Fsw.C0;
  setCc(c, bits);
}

/** FXAM: classifies ST(0) into C3, C2, C0 with C1 its sign (SDM Vol. 2 FXAM). */
export function fxam(c: Cpu, empty: boolean): void {
  const o = stOff(0);
  const se = seAt(c, o);
  const sign = se & 0x8000 ? Fsw.C1 : 0;
  const exp = se & 0x7fff;
  const lo = c.fxI32[o >> 2];
  const hi = c.fxI32[(o >> 2) + 1];
  let cls: number;
  if (empty) cls = Fsw.C3 | Fsw.C0;
  else if (exp !== 0 && hi >= 0)
    cls = 0; // unsupported
  else if (exp === 0x7fff) cls = (hi & 0x7fffffff) === 0 && lo === 0 ? Fsw.C2 | Fsw.C0 : Fsw.C0;
  else if (exp === 0) cls = lo === 0 && hi === 0 ? Fsw.C3 : Fsw.C3 | Fsw.C2;
  else cls = hi < 0 ? Fsw.C2 : 0;
  setCc(c, cls | sign);
}

/**
 * The constants of D9 E8-EE (FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ): the significand rounded to
 * nearest, the exponent, and where the true value lies against it (+1 above, -1 below, 0 exact), so FCW.RC
 * rounds the irrational ones as the hardware does (SDM Vol. 1 8.3.8).
 */
export const CONSTANTS: readonly (readonly [number, number, number, number])[] = [
  [0x00000000, 0x80000000 | 0, 0x3fff, 0], // 1
  [0xcd1b8afe | 0, 0xd49a784b | 0, 0x4000, 1], // log2(10)
  [0x5c17f0bc, 0xb8aa3b29 | 0, 0x3fff, -1], // log2(e)
  [0x2168c235, 0xc90fdaa2 | 0, 0x4000, -1], // pi
  [0xfbcff799 | 0, 0x9a209a84 | 0, 0x3ffd, -1], // log10(2)
  [0xd1cf79ac | 0, 0xb17217f7 | 0, 0x3ffe, -1], // ln(2)
  [0, 0, 0, 0], // +0
];

/** Writes constant `k` rounded by FCW.RC to `o`. */
export function loadConstant(c: Cpu, k: number, o: number): void {
  const [lo, hi, se, trueSide] = CONSTANTS[k];
  const rc = (fcw(c) >> 10) & 3;
  let l = lo >>> 0;
  let h = hi >>> 0;
  // Positive constants: up adds an ulp when the true value is above, down and zero drop one when below.
  if (trueSide > 0 && rc === Round.UP) {
    l = (l + 1) >>> 0;
    if (l === 0) h = (h + 1) >>> 0;
  } else if (trueSide < 0 && (rc === Round.DOWN || rc === Round.ZERO)) {
    if (l === 0) h = (h - 1) >>> 0;
    l = (l - 1) >>> 0;
  }
  c.fxI32[o >> 2] = l | 0;
  c.fxI32[(o >> 2) + 1] = h | 0;
  c.fxU16[(o + 8) >> 1] = se;
}

/**
 * The D9 E0-FF group's computational instructions on ST(0) (and ST(1)): FCHS, FABS, F2XM1, FYL2X, FPTAN,
 * FPATAN, FXTRACT, FPREM1, FPREM, FYL2XP1, FSQRT, FSINCOS, FRNDINT, FSCALE, FSIN, FCOS. Transcendentals use
 * Math's binary64 functions (accurate to about 1 ulp of a double, not the x87's 80-bit results).
 * Returns the stack effect: 0, -1 (pop), +1 (push of `pushValue`).
 */
export function d9Math(c: Cpu, low: number): { effect: number; push: number } {
  const o0 = stOff(0);
  const o1 = stOff(1);
  const x = valueAt(c, o0);
  out.effect = 0;
  switch (low) {
    case 0x0: // FCHS
      c.fxU16[(o0 + 8) >> 1] ^= 0x8000;
      return out;
    case 0x1: // FABS
      c.fxU16[(o0 + 8) >> 1] &= 0x7fff;
      return out;
    case 0x10: // F2XM1
      storeValue(c, o0, roundX87(c, 2 ** x - 1, 0));
      return out;
    case 0x11: {
      // FYL2X: ST(1) = ST(1) * log2(ST(0)), pop.
      const y = valueAt(c, o1);
      if (x < 0 || (x === 0 && y === 0)) {
        if (!x87Flags(c, Fsw.IE)) return out;
        storeIndefinite(c, o1);
      } else if (x === 0) {
        if (!x87Flags(c, Fsw.ZE)) return out;
        storeValue(c, o1, y > 0 ? -Infinity : Infinity);
      } else storeValue(c, o1, roundX87(c, y * Math.log2(x), 0));
      out.effect = -1;
      return out;
    }
    case 0x12: // FPTAN: ST(0) = tan, push 1.
      if (!Number.isFinite(x)) {
        if (!x87Flags(c, Fsw.IE)) return out;
        storeIndefinite(c, o0);
        return out;
      }
      storeValue(c, o0, Math.tan(x));
      out.effect = 1;
      out.push = 1;
      return out;
    case 0x13: // FPATAN: ST(1) = atan2(ST(1), ST(0)), pop.
      storeValue(c, o1, Math.atan2(valueAt(c, o1), x));
      out.effect = -1;
      return out;
    case 0x14: {
      // FXTRACT: ST(0) = exponent, push the significand (exact, on the fields; x87.ts pushes TMP).
      const se = seAt(c, o0);
      let lo = c.fxI32[o0 >> 2];
      let hi = c.fxI32[(o0 >> 2) + 1];
      const exp = se & 0x7fff;
      out.effect = 1;
      out.push = Number.NaN;
      if (isUnsupportedAt(c, o0)) {
        if (!x87Flags(c, Fsw.IE)) {
          out.effect = 0;
          return out;
        }
        storeIndefinite(c, o0);
        storeIndefinite(c, Fx.TMP);
        return out;
      }
      if (isNaNAt(c, o0)) {
        if (isSNaNAt(c, o0) && !x87Flags(c, Fsw.IE)) {
          out.effect = 0;
          return out;
        }
        c.fxI32[(o0 >> 2) + 1] |= 0x40000000;
        copyRaw(c, Fx.TMP, o0);
        return out;
      }
      if (lo === 0 && hi === 0) {
        // A zero (or a pseudo-zero: exponent set, significand 0) has no significand to normalise.
        if (!x87Flags(c, Fsw.ZE)) {
          out.effect = 0;
          return out;
        }
        copyRaw(c, Fx.TMP, o0);
        storeValue(c, o0, -Infinity);
        return out;
      }
      if (exp === 0x7fff) {
        copyRaw(c, Fx.TMP, o0);
        storeValue(c, o0, Infinity);
        return out;
      }
      let e = (exp === 0 ? 1 : exp) - 16383;
      if (exp === 0 && !x87Flags(c, Fsw.DE)) {
        out.effect = 0;
        return out;
      }
      while (hi >= 0) {
        hi = (hi << 1) | (lo >>> 31);
        lo <<= 1;
        e--;
      }
      c.fxI32[Fx.TMP >> 2] = lo;
      c.fxI32[(Fx.TMP >> 2) + 1] = hi;
      c.fxU16[(Fx.TMP + 8) >> 1] = (se & 0x8000) | 0x3fff;
      storeValue(c, o0, e);
      return out;
    }
    case 0x15: // FPREM1
    case 0x18: // FPREM
      partialRemainder(c, low === 0x15);
      return out;
    case 0x19: {
      // FYL2XP1: ST(1) = ST(1) * log2(ST(0) + 1), pop.
      const y = valueAt(c, o1);
      storeValue(c, o1, roundX87(c, (y * Math.log1p(x)) / Math.LN2, 0));
      out.effect = -1;
      return out;
    }
    case 0x1a: // FSQRT
      arith80(c, FOp.SQRT, o0, o0, -1);
      return out;
    case 0x1b: // FSINCOS: ST(0) = sin, push cos.
      if (!Number.isFinite(x)) {
        if (!x87Flags(c, Fsw.IE)) return out;
        storeIndefinite(c, o0);
        return out;
      }
      out.push = Math.cos(x);
      storeValue(c, o0, Math.sin(x));
      out.effect = 1;
      return out;
    case 0x1c: {
      // FRNDINT by FCW.RC.
      if (isNaNAt(c, o0)) return out;
      const rc = (fcw(c) >> 10) & 3;
      const r =
        rc === Round.NEAREST
          ? roundEven(x)
          : rc === Round.DOWN
            ? Math.floor(x)
            : rc === Round.UP
              ? Math.ceil(x)
              : Math.trunc(x);
      if (r !== x) {
        x87Flags(c, Fsw.PE);
        if (Math.abs(r) > Math.abs(x)) c.fxU16[Fx.FSW >> 1] |= Fsw.C1;
      }
      storeValue(c, o0, r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r);
      return out;
    }
    case 0x1d: {
      // FSCALE: ST(0) * 2^trunc(ST(1)), scaled in steps so a huge ST(1) saturates instead of making NaN.
      if (isNaNAt(c, o0) || isNaNAt(c, o1)) {
        nanResult(c, o0, o0, o1);
        return out;
      }
      const y = Math.trunc(valueAt(c, o1));
      if ((x === 0 && y === Infinity) || (!Number.isFinite(x) && y === -Infinity)) {
        if (x87Flags(c, Fsw.IE)) storeIndefinite(c, o0);
        return out;
      }
      if (x === 0 || !Number.isFinite(x)) return out;
      if (!Number.isFinite(y)) {
        // Scaling by an infinite exponent is exact: an infinity or a zero, no flags.
        storeValue(c, o0, y > 0 ? x * Infinity : x * 0);
        return out;
      }
      scaleRaw(c, o0, Math.max(-100000, Math.min(100000, y)));
      return out;
    }
    case 0x1e: // FSIN
    case 0x1f: // FCOS
      if (!Number.isFinite(x)) {
        if (!x87Flags(c, Fsw.IE)) return out;
        storeIndefinite(c, o0);
        return out;
      }
      storeValue(c, o0, low === 0x1e ? Math.sin(x) : Math.cos(x));
      setCc(c, c.fxU16[Fx.FSW >> 1] & (Fsw.C0 | Fsw.C3));
      return out;
    default:
      return out;
  }
}

const out = { effect: 0, push: 0 };

/** The 80-bit value at `o` as an exact integer significand and binary exponent: value = m * 2^e. */
function decompose(c: Cpu, o: number): { m: bigint; e: number; neg: boolean } {
  const se = seAt(c, o);
  const m = (BigInt(c.fxI32[(o >> 2) + 1] >>> 0) << 32n) | BigInt(c.fxI32[o >> 2] >>> 0);
  const exp = se & 0x7fff;
  return { m, e: (exp === 0 ? 1 : exp) - 16383 - 63, neg: (se & 0x8000) !== 0 };
}

/** Writes sign * m * 2^e (|m| < 2^64 after normalising) exactly as an 80-bit value at `o`. */
function compose(c: Cpu, o: number, neg: boolean, m: bigint, e: number): void {
  if (m === 0n) {
    storeRaw(c, o, 0, 0, neg ? 0x8000 : 0);
    return;
  }
  let mm = m;
  let ee = e;
  while (mm >= 1n << 64n) {
    mm >>= 1n;
    ee++;
  }
  while (mm < 1n << 63n) {
    mm <<= 1n;
    ee--;
  }
  let exp = ee + 63 + 16383;
  if (exp <= 0) {
    // A denormal result: shift back right (exact: remainders of representable operands are representable).
    mm >>= BigInt(1 - exp);
    exp = 0;
  }
  storeRaw(c, o, Number(mm & 0xffffffffn) | 0, Number(mm >> 32n) | 0, (neg ? 0x8000 : 0) | exp);
}

/**
 * FSCALE on the fields: the exponent moves by `n`, exactly while the result stays in the 80-bit range (FSCALE
 * does not round to FCW.PC). Beyond it: #O with RC's masked response (infinity or the largest finite value,
 * C1 telling which), or a denormal/zero with #U and rounding by RC.
 */
function scaleRaw(c: Cpu, o: number, n: number): void {
  const se = seAt(c, o);
  const neg = (se & 0x8000) !== 0;
  const a = decompose(c, o);
  if (isDenormalAt(c, o) && !x87Flags(c, Fsw.DE)) return;
  // Normalise: value = m * 2^e with the top bit of m at bit 63.
  let m = a.m;
  let e = a.e + n;
  while (m < 1n << 63n) {
    m <<= 1n;
    e--;
  }
  const exp = e + 63 + 16383;
  const rc = (fcw(c) >> 10) & 3;
  if (exp > 0x7ffe) {
    x87Flags(c, Fsw.OE | Fsw.PE);
    const toInf = rc === Round.NEAREST || (rc === Round.UP && !neg) || (rc === Round.DOWN && neg);
    if (toInf) {
      storeRaw(c, o, 0, 0x80000000 | 0, (neg ? 0x8000 : 0) | 0x7fff);
      c.fxU16[Fx.FSW >> 1] |= Fsw.C1;
    } else storeRaw(c, o, -1, -1, (neg ? 0x8000 : 0) | 0x7ffe);
    return;
  }
  if (exp >= 1) {
    storeRaw(c, o, Number(m & 0xffffffffn) | 0, Number(m >> 32n) | 0, (neg ? 0x8000 : 0) | exp);
    return;
  }
  // Denormal range: shift right by 1 - exp and round by RC.
  const shift = BigInt(Math.min(1 - exp, 70));
  let q = m >> shift;
  const rem = m - (q << shift);
  if (rem !== 0n) {
    const half = 1n << (shift - 1n);
    const before = q;
    if (rc === Round.NEAREST) {
      if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
    } else if ((rc === Round.UP && !neg) || (rc === Round.DOWN && neg)) q += 1n;
    x87Flags(c, Fsw.UE | Fsw.PE);
    if (q !== before) c.fxU16[Fx.FSW >> 1] |= Fsw.C1;
  }
  // A carry into bit 63 makes the smallest normal (exponent 1).
  const normal = q >= 1n << 63n;
  storeRaw(
    c,
    o,
    Number(q & 0xffffffffn) | 0,
    Number((q >> 32n) & 0xffffffffn) | 0,
    (neg ? 0x8000 : 0) | (normal ? 1 : 0),
  );
}

/**
 * FPREM (truncating quotient) and FPREM1 (IEEE: nearest-even quotient), exactly on the 64-bit significands
 * (SDM Vol. 2 FPREM): a complete remainder when the exponents differ by less than 64, else a partial one
 * with C2 set, reducing by 2^(D-N) with N = 32 + D mod 32. C0, C3, C1 get the quotient's three low bits.
 */
function partialRemainder(c: Cpu, ieee: boolean): void {
  const o0 = stOff(0);
  const o1 = stOff(1);
  if (isNaNAt(c, o0) || isNaNAt(c, o1)) {
    nanResult(c, o0, o0, o1);
    setCc(c, 0);
    return;
  }
  const e0 = seAt(c, o0) & 0x7fff;
  const e1 = seAt(c, o1) & 0x7fff;
  const zero1 = e1 === 0 && c.fxI32[o1 >> 2] === 0 && c.fxI32[(o1 >> 2) + 1] === 0;
  if (e0 === 0x7fff || zero1) {
    if (x87Flags(c, Fsw.IE)) storeIndefinite(c, o0);
    setCc(c, 0);
    return;
  }
  if ((isDenormalAt(c, o0) || isDenormalAt(c, o1)) && !x87Flags(c, Fsw.DE)) return;
  const zero0 = e0 === 0 && c.fxI32[o0 >> 2] === 0 && c.fxI32[(o0 >> 2) + 1] === 0;
  if (zero0 || e1 === 0x7fff) {
    setCc(c, 0);
    return;
  }
  const a = decompose(c, o0);
  const b = decompose(c, o1);
  // Align both to the smaller exponent: A / B is the exact quotient.
  const base = Math.min(a.e, b.e);
  const A = a.m << BigInt(a.e - base);
  const B = b.m << BigInt(b.e - base);
  const expA = e0 === 0 ? 1 : e0;
  const expB = e1 === 0 ? 1 : e1;
  const D = expA - expB;
  if (D < 64) {
    let q = A / B;
    let r = A - q * B;
    if (ieee) {
      const twice = 2n * r;
      if (twice > B || (twice === B && (q & 1n) === 1n)) {
        q += 1n;
        r -= B;
      }
    }
    const neg = r < 0n ? !a.neg : a.neg;
    compose(c, o0, neg, r < 0n ? -r : r, base);
    const qa = Number(q & 7n);
    setCc(c, (qa & 1 ? Fsw.C1 : 0) | (qa & 2 ? Fsw.C3 : 0) | (qa & 4 ? Fsw.C0 : 0));
    return;
  }
  const n = 32 + (D % 32);
  const scale = BigInt(D - n);
  const qq = A / (B << scale);
  const r = A - ((qq * B) << scale);
  compose(c, o0, a.neg, r, base);
  setCc(c, Fsw.C2);
}

function roundEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
