/**
 * x87 arithmetic, comparisons, constants and the transcendental instructions (SDM Vol. 1 8.3, Vol. 2 F*).
 * Operands are 80-bit values at image offsets (ST slots, or scratch holding a converted memory operand).
 *
 * Precision: results are computed in binary64 (JavaScript doubles) and rounded by FCW.RC with exact error
 * terms (simd/float-core.ts), then widened to 80 bits. With FCW.PC = double (Linux's kernel and many runtimes
 * set it) and PC = single this matches the hardware; with PC = extended (the reset value) results carry 53
 * significant bits instead of 64, and values beyond binary64's exponent range overflow to infinity or
 * underflow early. The precision flag (PE) is not raised by x87 arithmetic. Loads, stores, FXCH, FCHS, FABS,
 * comparisons of loaded values and integer conversions are exact.
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
  seAt,
  setCc,
  storeIndefinite,
  storeValue,
  valueAt,
  x87Flags,
} from './x87-regs.js';

/** Rounds `t` (nearest double, exact error sign `dir`) by FCW's precision and rounding control. */
export function roundX87(c: Cpu, t: number, dir: number): number {
  const cw = fcw(c);
  const rc = (cw >> 10) & 3;
  const single = ((cw >> 8) & 3) === 0;
  let r = single ? Math.fround(t) : t;
  if (single && r !== t) dir = t > r ? 1 : -1;
  if (dir === 0 || !Number.isFinite(r)) return r;
  if (rc === Round.DOWN && dir < 0) r = nextDown(r, single);
  else if (rc === Round.UP && dir > 0) r = nextUp(r, single);
  else if (rc === Round.ZERO && ((r > 0 && dir < 0) || (r < 0 && dir > 0))) r = r > 0 ? nextDown(r, single) : nextUp(r, single);
  return r;
}

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
  if (isNaNAt(c, oa) || (!unary && isNaNAt(c, ob))) return nanResult(c, od, oa, unary ? -1 : ob);
  let flags = 0;
  if (isDenormalAt(c, oa) || (!unary && isDenormalAt(c, ob))) flags |= Fsw.DE;
  const x = valueAt(c, oa);
  const y = unary ? 0 : valueAt(c, ob);
  const t = unary ? exact(FOp.SQRT, 0, x) : exact(kind, x, y);
  if (t !== t) {
    if (!x87Flags(c, flags | Fsw.IE)) return false;
    storeIndefinite(c, od);
    return true;
  }
  if (kind === FOp.DIV && y === 0 && x !== 0) {
    if (!x87Flags(c, flags | Fsw.ZE)) return false;
    storeValue(c, od, t);
    return true;
  }
  if (!x87Flags(c, flags) && flags & (Fsw.DE | Fsw.IE | Fsw.ZE)) return false;
  let r = roundX87(c, t, lastErrSign());
  if (!Number.isFinite(r) && Number.isFinite(x) && Number.isFinite(y)) {
    x87Flags(c, Fsw.OE | Fsw.PE);
    const rc = (fcw(c) >> 10) & 3;
    const pos = r > 0;
    if (rc === Round.ZERO || (rc === Round.DOWN && pos) || (rc === Round.UP && !pos)) r = pos ? Number.MAX_VALUE : -Number.MAX_VALUE;
  }
  storeValue(c, od, r);
  return true;
}

/**
 * Compares the 80-bit values at `oa` and `ob` (FCOM/FUCOM/FCOMI/FTST/FICOM): 0 =, 1 <, 2 >, 3 unordered.
 * Ordered compares (FCOM) signal #IA on any NaN, unordered ones (FUCOM) only on SNaNs. -1 when #IA is
 * unmasked.
 */
export function compare80(c: Cpu, oa: number, ob: number, ordered: boolean): number {
  const aNaN = isNaNAt(c, oa);
  const bNaN = isNaNAt(c, ob);
  let flags = 0;
  if (isDenormalAt(c, oa) || isDenormalAt(c, ob)) flags |= Fsw.DE;
  if (aNaN || bNaN) {
    if (ordered || isSNaNAt(c, oa) || (bNaN && isSNaNAt(c, ob))) flags |= Fsw.IE;
    if (!x87Flags(c, flags)) return -1;
    return 3;
  }
  if (!x87Flags(c, flags)) return -1;
  const x = valueAt(c, oa);
  const y = valueAt(c, ob);
  return x === y ? 0 : x < y ? 1 : 2;
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
  else if (exp === 0x7fff) cls = (hi & 0x7fffffff) === 0 && lo === 0 ? Fsw.C2 | Fsw.C0 : Fsw.C0;
  else if (exp === 0) cls = lo === 0 && hi === 0 ? Fsw.C3 : Fsw.C3 | Fsw.C2;
  else cls = hi < 0 ? Fsw.C2 : 0;
  setCc(c, cls | sign);
}

/** The constants of D9 E8-EE (FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ) as exact 80-bit fields. */
export const CONSTANTS: readonly (readonly [number, number, number])[] = [
  [0x00000000, 0x80000000, 0x3fff], // 1
  [0xcd1b8afe | 0, 0xd49a784b | 0, 0x4000], // log2(10)
  [0x5c17f0bc, 0xb8aa3b29 | 0, 0x3fff], // log2(e)
  [0x2168c235, 0xc90fdaa2 | 0, 0x4000], // pi
  [0xfbcff799 | 0, 0x9a209a84 | 0, 0x3ffd], // log10(2)
  [0xd1cf79ac | 0, 0xb17217f7 | 0, 0x3ffe], // ln(2)
  [0, 0, 0], // +0
];

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
      // FXTRACT: ST(0) = exponent, push significand.
      if (x === 0) {
        if (!x87Flags(c, Fsw.ZE)) return out;
        out.push = x;
        storeValue(c, o0, -Infinity);
      } else if (!Number.isFinite(x)) {
        out.push = x;
        storeValue(c, o0, Infinity);
      } else {
        const e = Math.floor(Math.log2(Math.abs(x)));
        let m = x / 2 ** e;
        let ex = e;
        if (Math.abs(m) >= 2) {
          m /= 2;
          ex++;
        } else if (Math.abs(m) < 1) {
          m *= 2;
          ex--;
        }
        out.push = m;
        storeValue(c, o0, ex);
      }
      out.effect = 1;
      return out;
    }
    case 0x15: // FPREM1
    case 0x18: {
      // FPREM: partial remainder of ST(0) / ST(1); C2 = 0 (complete), C0, C3, C1 the quotient's low bits.
      const y = valueAt(c, o1);
      if (!Number.isFinite(x) || y === 0 || x !== x || y !== y) {
        if (!x87Flags(c, Fsw.IE)) return out;
        storeIndefinite(c, o0);
        return out;
      }
      let q = x / y;
      q = low === 0x18 ? Math.trunc(q) : roundEven(q);
      const r = low === 0x18 ? x % y : x - q * y;
      const qa = Math.abs(q);
      const bits = (qa % 2 >= 1 ? Fsw.C1 : 0) | (qa % 4 >= 2 ? Fsw.C3 : 0) | (qa % 8 >= 4 ? Fsw.C0 : 0);
      setCc(c, bits);
      storeValue(c, o0, r === 0 ? (x < 0 || Object.is(x, -0) ? -0 : 0) : r);
      return out;
    }
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
      const r = rc === Round.NEAREST ? roundEven(x) : rc === Round.DOWN ? Math.floor(x) : rc === Round.UP ? Math.ceil(x) : Math.trunc(x);
      if (r !== x) x87Flags(c, Fsw.PE);
      storeValue(c, o0, r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r);
      return out;
    }
    case 0x1d: {
      // FSCALE: ST(0) * 2^trunc(ST(1)).
      const y = Math.trunc(valueAt(c, o1));
      storeValue(c, o0, x * 2 ** y);
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

function roundEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
