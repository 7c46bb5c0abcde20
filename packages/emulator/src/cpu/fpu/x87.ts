/**
 * The x87 escape opcodes D8-DF (SDM Vol. 2 Appendix A.5, Tables ): decoding of the ModRM forms
 * into loads and stores of every memory format, arithmetic, comparisons, control and environment
 * instructions. Memory operands are converted to 80-bit values in the image's scratch (exactly) and every
 * operation then works on image offsets (x87-arith.ts).
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../decode.js';
import { raise, Vector } from '../exceptions.js';
import { getCf, getPf, getZf } from '../flags.js';
import { effectiveAddress, linearOf, setReg } from '../operands.js';
import { FOp } from '../simd/float-core.js';
import { setArithFlags } from '../simd/operands.js';
import { Flag, Stop } from '../state.js';
import { x87Ready } from './checks.js';
import { f80Out, f80ToInt, int64ToF80, numberToF80 } from './float80.js';
import { Fsw, Fx, rotateDown, rotatePush, stOff, top, x87Init } from './image.js';
import { syncEs } from './save.js';
import {
  arith80,
  compare80,
  compareCc,
  d9Math,
  fxam,
  loadConstant,
  rounded,
  roundX87,
  source,
} from './x87-arith.js';
import {
  abridgedTags,
  clearC1,
  copyRaw,
  fsw,
  fullTagWord,
  isNaNAt,
  isSNaNAt,
  isUnsupportedAt,
  pendingFop,
  popSt,
  pushSlot,
  seAt,
  setCc,
  stackUnderflow,
  stEmpty,
  storeIndefinite,
  storeRaw,
  storeValue,
  tagValid,
  valueAt,
  x87Flags,
} from './x87-regs.js';

const SRC = Fx.SRC;

/** The linear address of the memory operand; NaN after a fault. Also records FDP. */
function operandAddress(c: Cpu, i: Insn, size: number, write: boolean): number {
  const ea = effectiveAddress(c, i);
  const lin = linearOf(c, i.seg, ea, size, write);
  if (c.stop & Stop.ABORT) return Number.NaN;
  return lin;
}

/**
 * Records FIP for a non-control instruction (SDM Vol. 1 8.1.8), and FOP and FDP as current Intel processors
 * do (8.1.9.1, CPUID.(7,0):EBX[6] FDP_EXCPTN_ONLY, which the host CPU of the differential tests has): both
 * read 0 unless the instruction raised an unmasked exception (x87-regs.ts `x87Flags` stores them then).
 */
function note(c: Cpu, i: Insn, first: number): void {
  const w = c.fxI32;
  const ip = c.rip;
  const hi = Math.floor(ip / 4294967296);
  w[Fx.FIP >> 2] = (ip - hi * 4294967296) | 0;
  w[(Fx.FIP >> 2) + 1] = hi | 0;
  c.fxU16[Fx.FOP >> 1] = 0;
  w[Fx.FDP >> 2] = 0;
  w[(Fx.FDP >> 2) + 1] = 0;
  pendingFop.op = ((first & 7) << 8) | (i.mod << 6) | ((i.reg & 7) << 3) | (i.rm & 7);
  pendingFop.dp = i.mod !== 3 ? effectiveAddress(c, i) : 0;
}

/**
 * Loads a memory operand of `format` into scratch as an 80-bit value: 0 m32real, 1 m32int, 2 m64real,
 * 3 m16int, 4 m80real, 5 m64int. Denormal and SNaN real operands set DE/IE here for loads (FLD) to judge.
 * False after a fault.
 */
function loadOperand(c: Cpu, i: Insn, format: number): boolean {
  const size = format === 0 || format === 1 ? 4 : format === 3 ? 2 : format === 4 ? 10 : 8;
  const lin = operandAddress(c, i, size, false);
  if (Number.isNaN(lin)) return false;
  source.denormal = false;
  switch (format) {
    case 0: {
      const b = c.read(lin, 4);
      if (c.stop & Stop.ABORT) return false;
      const exp = (b >>> 23) & 0xff;
      const frac = b & 0x7fffff;
      source.denormal = exp === 0 && frac !== 0;
      if (exp === 0xff && frac !== 0)
        storeRaw(c, SRC, 0, 0x80000000 | (frac << 8) | 0, ((b >>> 16) & 0x8000) | 0x7fff);
      else {
        c.fxI32[Fx.TMP2 >> 2] = b;
        storeValue(c, SRC, c.fxF32[Fx.TMP2 >> 2]);
      }
      return true;
    }
    case 2: {
      const lo = c.read(lin, 8);
      const hi = c.hi;
      if (c.stop & Stop.ABORT) return false;
      const exp = (hi >>> 20) & 0x7ff;
      source.denormal = exp === 0 && ((hi & 0xfffff) !== 0 || lo !== 0);
      if (exp === 0x7ff && ((hi & 0xfffff) !== 0 || lo !== 0)) {
        storeRaw(
          c,
          SRC,
          lo << 11,
          0x80000000 | ((hi & 0xfffff) << 11) | (lo >>> 21) | 0,
          ((hi >>> 16) & 0x8000) | 0x7fff,
        );
      } else {
        c.fxI32[Fx.TMP2 >> 2] = lo;
        c.fxI32[(Fx.TMP2 >> 2) + 1] = hi;
        storeValue(c, SRC, c.fxF64[Fx.TMP2 >> 3]);
      }
      return true;
    }
    case 4: {
      const lo = c.read(lin, 8);
      const hi = c.hi;
      const se = c.read(lin + 8, 2);
      if (c.stop & Stop.ABORT) return false;
      storeRaw(c, SRC, lo, hi, se);
      return true;
    }
    default: {
      let lo: number;
      let hi: number;
      if (format === 5) {
        lo = c.read(lin, 8);
        hi = c.hi;
      } else if (format === 1) {
        lo = c.read(lin, 4);
        hi = lo >> 31;
      } else {
        lo = (c.read(lin, 2) << 16) >> 16;
        hi = lo >> 31;
      }
      if (c.stop & Stop.ABORT) return false;
      int64ToF80(lo, hi);
      storeRaw(c, SRC, f80Out.lo, f80Out.hi, f80Out.se);
      return true;
    }
  }
}

/** FLD of a converted operand at `from` (scratch or a register): push it. */
function fldFrom(c: Cpu, from: number, real: boolean): void {
  if (real && isSNaNAt(c, from)) {
    if (!x87Flags(c, Fsw.IE)) return;
    c.fxI32[(from >> 2) + 1] |= 0x40000000;
  } else if (real && from === SRC && source.denormal) {
    if (!x87Flags(c, Fsw.DE)) return;
  }
  // Copy first: `from` may be ST(7), which the push reuses.
  const lo = c.fxI32[from >> 2];
  const hi = c.fxI32[(from >> 2) + 1];
  const se = seAt(c, from);
  clearC1(c);
  if (!pushSlot(c)) return;
  storeRaw(c, stOff(0), lo, hi, se);
}

/**
 * Stores ST(0) to memory in `format` (0 m32real, 1 m32int, 2 m64real, 3 m16int, 4 m80real, 5 m64int;
 * `truncate` for FISTTP); returns false when nothing was stored (fault or unmasked exception).
 */
function storeOperand(c: Cpu, i: Insn, format: number, truncate: boolean): boolean {
  const size = format === 0 || format === 1 ? 4 : format === 3 ? 2 : format === 4 ? 10 : 8;
  const lin = operandAddress(c, i, size, true);
  if (Number.isNaN(lin)) return false;
  if (!c.probeWrite(lin, size)) return false;
  const o = stOff(0);
  if (stEmpty(c, 0)) {
    if (!stackUnderflow(c, -1)) return false;
    storeIndefinite(c, Fx.TMP);
  } else copyRaw(c, Fx.TMP, o);
  const t = Fx.TMP;
  const lo = c.fxI32[t >> 2];
  const hi = c.fxI32[(t >> 2) + 1];
  const se = seAt(c, t);
  clearC1(c);
  switch (format) {
    case 4:
      c.write(lin, 8, lo, hi);
      c.write(lin + 8, 2, se, 0);
      return true;
    case 0:
    case 2: {
      let b0 = 0;
      let b1 = 0;
      if (isUnsupportedAt(c, t)) {
        if (!x87Flags(c, Fsw.IE)) return false;
        storeIndefinite(c, t);
      }
      if (isNaNAt(c, t)) {
        if (isSNaNAt(c, t) && !x87Flags(c, Fsw.IE)) return false;
        const sign = se & 0x8000 ? 0x80000000 : 0;
        if (format === 0) b0 = sign | 0x7fc00000 | ((hi >>> 8) & 0x3fffff);
        else {
          b1 = sign | 0x7ff80000 | ((hi >>> 11) & 0x7ffff);
          b0 = (hi << 21) | (lo >>> 11);
        }
      } else {
        const v = valueAt(c, t);
        const cw = c.fxU16[Fx.FCW >> 1];
        // Round to the memory format by FCW.RC (through the double: exact for 53-bit significands).
        const saved = cw;
        c.fxU16[Fx.FCW >> 1] = format === 0 ? cw & ~0x300 : (cw & ~0x300) | 0x200;
        const r = roundX87(c, v, lastDir(c, t, v));
        c.fxU16[Fx.FCW >> 1] = saved;
        if (!Number.isFinite(r) && Number.isFinite(v)) {
          if (!x87Flags(c, Fsw.OE | Fsw.PE)) return false;
        } else if (rounded.inexact) {
          if (!x87Flags(c, Fsw.PE)) return false;
          if (rounded.up) c.fxU16[Fx.FSW >> 1] |= Fsw.C1;
        }
        if (format === 0) {
          c.fxF32[Fx.TMP2 >> 2] = r;
          b0 = c.fxI32[Fx.TMP2 >> 2];
        } else {
          c.fxF64[Fx.TMP2 >> 3] = r;
          b0 = c.fxI32[Fx.TMP2 >> 2];
          b1 = c.fxI32[(Fx.TMP2 >> 2) + 1];
        }
      }
      if (format === 0) c.write(lin, 4, b0, 0);
      else c.write(lin, 8, b0, b1);
      return true;
    }
    default: {
      const width = format === 1 ? 32 : format === 3 ? 16 : 64;
      const rc = truncate ? 3 : (c.fxU16[Fx.FCW >> 1] >> 10) & 3;
      const res = f80ToInt(lo, hi, se, rc, width);
      let vlo: number;
      let vhi: number;
      if (res === null) {
        if (!x87Flags(c, Fsw.IE)) return false;
        vlo = width === 64 ? 0 : width === 32 ? 0x80000000 | 0 : 0x8000;
        vhi = width === 64 ? 0x80000000 | 0 : 0;
      } else {
        if (res.inexact) {
          if (!x87Flags(c, Fsw.PE)) return false;
          if (res.up) c.fxU16[Fx.FSW >> 1] |= Fsw.C1;
        }
        vlo = res.lo;
        vhi = res.hi;
      }
      if (width === 16) c.write(lin, 2, vlo & 0xffff, 0);
      else if (width === 32) c.write(lin, 4, vlo, 0);
      else c.write(lin, 8, vlo, vhi);
      return true;
    }
  }
}

/**
 * The sign of (exact 80-bit value at `o`) - `v`, where `v` is its nearest double: the bits below the
 * double's 53 decide it (so FST m32/m64 rounds the full 64-bit significand correctly by RC).
 */
function lastDir(c: Cpu, o: number, v: number): number {
  if (!Number.isFinite(v) || v === 0) return 0;
  numberToF80(v);
  const lo = c.fxI32[o >> 2] >>> 0;
  const hi = c.fxI32[(o >> 2) + 1] >>> 0;
  const se = seAt(c, o);
  const same = f80Out.se === se && f80Out.hi >>> 0 === hi && f80Out.lo >>> 0 === lo;
  if (same) return 0;
  // Same sign; compare magnitudes on (exponent, significand).
  const e1 = se & 0x7fff;
  const e2 = f80Out.se & 0x7fff;
  const bigger = e1 !== e2 ? e1 > e2 : hi !== f80Out.hi >>> 0 ? hi > f80Out.hi >>> 0 : lo > f80Out.lo >>> 0;
  const neg = (se & 0x8000) !== 0;
  return bigger !== neg ? 1 : -1;
}

/** The arithmetic of the reg field of D8/DC/DA/DE: FADD FMUL FCOM FCOMP FSUB FSUBR FDIV FDIVR. */
const ARITH = [FOp.ADD, FOp.MUL, -1, -1, FOp.SUB, FOp.SUB, FOp.DIV, FOp.DIV];

/** ST(d) := ST(d) op operand-at-`ob` (or reversed for /5 and /7), with the empty-register checks. */
function arithOp(c: Cpu, r: number, d: number, ob: number, other: number): boolean {
  if (stEmpty(c, d) || (other >= 0 && stEmpty(c, other))) return stackUnderflow(c, d);
  clearC1(c);
  const od = stOff(d);
  const reversed = r === 5 || r === 7;
  return arith80(c, ARITH[r], od, reversed ? ob : od, reversed ? od : ob);
}

/** FCOM/FCOMP/FUCOM family: compares ST(0) with the operand at `ob` and pops `pops` times. */
function compareOp(c: Cpu, ob: number, other: number, ordered: boolean, pops: number, eflags: boolean): void {
  if (stEmpty(c, 0) || (other >= 0 && stEmpty(c, other))) {
    if (!stackUnderflow(c, -1)) return;
    if (eflags) setArithFlags(c, Flag.ZF | Flag.PF | Flag.CF);
    else setCc(c, Fsw.C3 | Fsw.C2 | Fsw.C0);
  } else {
    const rel = compare80(c, stOff(0), ob, ordered);
    if (rel < 0) return;
    if (eflags) {
      setArithFlags(
        c,
        rel === 3 ? Flag.ZF | Flag.PF | Flag.CF : rel === 0 ? Flag.ZF : rel === 1 ? Flag.CF : 0,
      );
      clearC1(c);
    } else compareCc(c, rel);
  }
  for (let k = 0; k < pops; k++) popSt(c);
}

/** Runs one x87 instruction (D8-DF). */
export function x87(c: Cpu, i: Insn): void {
  const first = i.op & 7;
  const r = i.reg & 7;
  const mem = i.mod !== 3;
  // The no-wait control instructions: FNSTENV, FNSTCW (D9 /6 /7), FNCLEX, FNINIT (DB E2, E3), FNSAVE,
  // FNSTSW (DD /6 /7), FNSTSW AX (DF E0).
  const noWait =
    (first === 1 && mem && r >= 6) ||
    (first === 3 && !mem && r === 4) ||
    (first === 5 && mem && r >= 6) ||
    (first === 7 && !mem && r === 4);
  if (!x87Ready(c, !noWait)) return;
  if (mem) x87Memory(c, i, first, r);
  else x87Register(c, i, first, r, i.rm & 7);
}

function x87Memory(c: Cpu, i: Insn, first: number, r: number): void {
  switch (first) {
    case 0: // D8: arithmetic with m32real.
    case 4: // DC: with m64real.
    case 2: // DA: with m32int.
    case 6: {
      // DE: with m16int.
      const format = first === 0 ? 0 : first === 4 ? 2 : first === 2 ? 1 : 3;
      note(c, i, first);
      if (!loadOperand(c, i, format)) return;
      if (r === 2 || r === 3) compareOp(c, SRC, -1, true, r === 3 ? 1 : 0, false);
      else arithOp(c, r, 0, SRC, -1);
      return;
    }
    case 1:
      switch (r) {
        case 0:
          note(c, i, first);
          if (loadOperand(c, i, 0)) fldFrom(c, SRC, true);
          return;
        case 2:
        case 3:
          note(c, i, first);
          if (storeOperand(c, i, 0, false) && r === 3) popSt(c);
          return;
        case 4:
          loadEnv(c, i, false);
          return;
        case 5: {
          const lin = operandAddress(c, i, 2, false);
          if (Number.isNaN(lin)) return;
          const v = c.read(lin, 2);
          if (c.stop & Stop.ABORT) return;
          c.fxU16[Fx.FCW >> 1] = v | 0x40;
          syncEs(c);
          return;
        }
        case 6:
          storeEnv(c, i, false);
          return;
        case 7: {
          const lin = operandAddress(c, i, 2, true);
          if (!Number.isNaN(lin)) c.write(lin, 2, c.fxU16[Fx.FCW >> 1], 0);
          return;
        }
        default:
          raise(c, Vector.UD, -1);
          return;
      }
    case 3:
      switch (r) {
        case 0:
          note(c, i, first);
          if (loadOperand(c, i, 1)) fldFrom(c, SRC, false);
          return;
        case 1:
        case 2:
        case 3:
          note(c, i, first);
          if (storeOperand(c, i, 1, r === 1) && r !== 2) popSt(c);
          return;
        case 5:
          note(c, i, first);
          // An 80-bit SNaN loads without #IA (no conversion takes place).
          if (loadOperand(c, i, 4)) fldFrom(c, SRC, false);
          return;
        case 7:
          note(c, i, first);
          if (storeOperand(c, i, 4, false)) popSt(c);
          return;
        default:
          raise(c, Vector.UD, -1);
          return;
      }
    case 5:
      switch (r) {
        case 0:
          note(c, i, first);
          if (loadOperand(c, i, 2)) fldFrom(c, SRC, true);
          return;
        case 1:
          note(c, i, first);
          if (storeOperand(c, i, 5, true)) popSt(c);
          return;
        case 2:
        case 3:
          note(c, i, first);
          if (storeOperand(c, i, 2, false) && r === 3) popSt(c);
          return;
        case 4:
          loadEnv(c, i, true);
          return;
        case 6:
          storeEnv(c, i, true);
          return;
        case 7: {
          const lin = operandAddress(c, i, 2, true);
          if (!Number.isNaN(lin)) c.write(lin, 2, c.fxU16[Fx.FSW >> 1], 0);
          return;
        }
        default:
          raise(c, Vector.UD, -1);
          return;
      }
    default:
      // DF: m16int and m64int loads and stores, packed BCD.
      switch (r) {
        case 0:
          note(c, i, first);
          if (loadOperand(c, i, 3)) fldFrom(c, SRC, false);
          return;
        case 1:
        case 2:
        case 3:
          note(c, i, first);
          if (storeOperand(c, i, 3, r === 1) && r !== 2) popSt(c);
          return;
        case 4:
          note(c, i, first);
          bcdLoad(c, i);
          return;
        case 5:
          note(c, i, first);
          if (loadOperand(c, i, 5)) fldFrom(c, SRC, false);
          return;
        case 6:
          note(c, i, first);
          bcdStore(c, i);
          return;
        default:
          note(c, i, first);
          if (storeOperand(c, i, 5, false)) popSt(c);
          return;
      }
  }
}

function x87Register(c: Cpu, i: Insn, first: number, r: number, k: number): void {
  switch (first) {
    case 0:
      note(c, i, first);
      if (r === 2 || r === 3) compareOp(c, stOff(k), k, true, r === 3 ? 1 : 0, false);
      else arithOp(c, r, 0, stOff(k), k);
      return;
    case 4:
      // DC: ST(i) := ST(i) op ST(0); the reg field's SUB/SUBR and DIV/DIVR name the reverse of D8's.
      note(c, i, first);
      if (r === 2 || r === 3) compareOp(c, stOff(k), k, true, r === 3 ? 1 : 0, false);
      else arithOp(c, r === 4 ? 5 : r === 5 ? 4 : r === 6 ? 7 : r === 7 ? 6 : r, k, stOff(0), 0);
      return;
    case 6:
      // DE: the same, then pop (FADDP, FMULP, FSUBRP, FSUBP, FDIVRP, FDIVP); DE D9 is FCOMPP.
      note(c, i, first);
      if (r === 3) {
        if (k !== 1) {
          raise(c, Vector.UD, -1);
          return;
        }
        compareOp(c, stOff(1), 1, true, 2, false);
        return;
      }
      if (r === 2) {
        compareOp(c, stOff(k), k, true, 1, false);
        return;
      }
      if (arithOp(c, r === 4 ? 5 : r === 5 ? 4 : r === 6 ? 7 : r === 7 ? 6 : r, k, stOff(0), 0)) popSt(c);
      return;
    case 1:
      d9Register(c, i, r, k);
      return;
    case 2:
      note(c, i, first);
      if (r === 5 && k === 1) {
        compareOp(c, stOff(1), 1, false, 2, false); // FUCOMPP
        return;
      }
      if (r < 4) fcmov(c, r, k, false);
      else raise(c, Vector.UD, -1);
      return;
    case 3:
      if (r < 4) {
        note(c, i, first);
        fcmov(c, r, k, true);
      } else if (r === 4) {
        if (k === 2) {
          // FNCLEX.
          c.fxU16[Fx.FSW >> 1] &= ~(0x7f | Fsw.ES | Fsw.B);
        } else if (k === 3) x87Init(c);
        else if (k > 4) raise(c, Vector.UD, -1);
        // E0, E1, E4: FENI, FDISI, FSETPM of old coprocessors, no-ops here.
      } else if (r === 5 || r === 6) {
        note(c, i, first);
        compareOp(c, stOff(k), k, r === 6, 0, true); // FUCOMI, FCOMI
      } else raise(c, Vector.UD, -1);
      return;
    case 5:
      note(c, i, first);
      switch (r) {
        case 0: // FFREE
          c.fxU8[Fx.FTW] &= ~(1 << ((top(c) + k) & 7));
          return;
        case 1: // FXCH alias
          fxch(c, k);
          return;
        case 2: // FST ST(i)
        case 3: // FSTP ST(i)
          if (stEmpty(c, 0)) {
            if (!stackUnderflow(c, -1)) return;
            storeIndefinite(c, stOff(k));
          } else copyRaw(c, stOff(k), stOff(0));
          tagValid(c, k);
          clearC1(c);
          if (r === 3) popSt(c);
          return;
        case 4: // FUCOM
        case 5: // FUCOMP
          compareOp(c, stOff(k), k, false, r === 5 ? 1 : 0, false);
          return;
        default:
          raise(c, Vector.UD, -1);
          return;
      }
    default:
      // DF.
      if (r === 4) {
        if (k !== 0) {
          raise(c, Vector.UD, -1);
          return;
        }
        setReg(c, 0, 2, c.fxU16[Fx.FSW >> 1], 0); // FNSTSW AX
        return;
      }
      note(c, i, first);
      if (r === 5 || r === 6) {
        compareOp(c, stOff(k), k, r === 6, 1, true); // FUCOMIP, FCOMIP
        return;
      }
      if (r === 0) {
        // FFREEP (undocumented but on every Intel CPU): free ST(i), pop.
        c.fxU8[Fx.FTW] &= ~(1 << ((top(c) + k) & 7));
        popSt(c);
        return;
      }
      if (r === 1) {
        fxch(c, k);
        return;
      }
      if (r === 2 || r === 3) {
        if (stEmpty(c, 0)) {
          if (!stackUnderflow(c, -1)) return;
          storeIndefinite(c, stOff(k));
        } else copyRaw(c, stOff(k), stOff(0));
        tagValid(c, k);
        popSt(c);
        return;
      }
      raise(c, Vector.UD, -1);
  }
}

function fxch(c: Cpu, k: number): void {
  if (stEmpty(c, 0) || stEmpty(c, k)) {
    if (!stackUnderflow(c, -1)) return;
    if (stEmpty(c, 0)) storeIndefinite(c, stOff(0));
    if (stEmpty(c, k)) storeIndefinite(c, stOff(k));
    tagValid(c, 0);
    tagValid(c, k);
  }
  copyRaw(c, Fx.TMP, stOff(0));
  copyRaw(c, stOff(0), stOff(k));
  copyRaw(c, stOff(k), Fx.TMP);
  clearC1(c);
}

/** FCMOVcc (DA C0-DF, DB C0-DF): B, E, BE, U and their negations from EFLAGS. */
function fcmov(c: Cpu, r: number, k: number, negate: boolean): void {
  if (stEmpty(c, 0) || stEmpty(c, k)) {
    stackUnderflow(c, 0);
    return;
  }
  let cond = r === 0 ? getCf(c) : r === 1 ? getZf(c) : r === 2 ? getCf(c) | getZf(c) : getPf(c);
  if (negate) cond ^= 1;
  clearC1(c);
  if (cond) copyRaw(c, stOff(0), stOff(k));
}

function d9Register(c: Cpu, i: Insn, r: number, k: number): void {
  switch (r) {
    case 0: {
      // FLD ST(i).
      note(c, i, 1);
      if (stEmpty(c, k)) {
        // An empty source is a stack underflow; masked, the real indefinite is pushed.
        if (!stackUnderflow(c, -1)) return;
        storeIndefinite(c, Fx.SRC);
        fldFrom(c, Fx.SRC, false);
        return;
      }
      fldFrom(c, stOff(k), false);
      return;
    }
    case 1:
      note(c, i, 1);
      fxch(c, k);
      return;
    case 2:
      if (k !== 0) {
        raise(c, Vector.UD, -1);
        return;
      }
      note(c, i, 1); // FNOP
      return;
    case 3:
      // D9 D8+i: FSTP1, an alias of FSTP ST(i).
      note(c, i, 1);
      if (stEmpty(c, 0)) {
        if (!stackUnderflow(c, -1)) return;
        storeIndefinite(c, stOff(k));
      } else copyRaw(c, stOff(k), stOff(0));
      tagValid(c, k);
      popSt(c);
      return;
    case 4:
      note(c, i, 1);
      if (k === 0 || k === 1) {
        if (stEmpty(c, 0)) {
          stackUnderflow(c, 0);
          return;
        }
        clearC1(c);
        d9Math(c, k);
      } else if (k === 4) {
        // FTST: compare ST(0) with +0.
        storeRaw(c, Fx.SRC, 0, 0, 0);
        compareOp(c, Fx.SRC, -1, true, 0, false);
      } else if (k === 5) fxam(c, stEmpty(c, 0));
      else raise(c, Vector.UD, -1);
      return;
    case 5: {
      if (k === 7) {
        raise(c, Vector.UD, -1);
        return;
      }
      note(c, i, 1);
      loadConstant(c, k, Fx.SRC);
      fldFrom(c, Fx.SRC, false);
      return;
    }
    default: {
      // D9 F0-FF.
      note(c, i, 1);
      const low = 0x10 | ((r & 1) << 3) | k;
      if (low === 0x16) {
        // FDECSTP.
        rotatePush(c);
        clearC1(c);
        return;
      }
      if (low === 0x17) {
        // FINCSTP.
        rotateDown(c);
        clearC1(c);
        return;
      }
      const two =
        low === 0x11 || low === 0x13 || low === 0x15 || low === 0x18 || low === 0x19 || low === 0x1d;
      const pushes = low === 0x12 || low === 0x14 || low === 0x1b;
      if (stEmpty(c, 0) || (two && stEmpty(c, 1))) {
        // Stack underflow; masked, the result registers get the real indefinite (the pushing ones push it).
        if (!stackUnderflow(c, 0)) return;
        if (pushes) {
          storeIndefinite(c, Fx.SRC);
          fldFrom(c, Fx.SRC, false);
        } else if (low === 0x11 || low === 0x13 || low === 0x19) {
          storeIndefinite(c, stOff(1));
          tagValid(c, 1);
          popSt(c);
        }
        return;
      }
      if (pushes && !stEmpty(c, 7)) {
        setCc(c, fsw(c) | Fsw.C1);
        x87Flags(c, Fsw.IE | Fsw.SF);
        return;
      }
      clearC1(c);
      const res = d9Math(c, low);
      if (res.effect < 0) popSt(c);
      else if (res.effect > 0) {
        pushSlot(c);
        // FXTRACT leaves its exact significand in TMP; the others push a computed value.
        if (low === 0x14) copyRaw(c, stOff(0), Fx.TMP);
        else storeValue(c, stOff(0), res.push);
      }
    }
  }
}

/** FLDENV (`withRegs` false) / FRSTOR: the 14- or 28-byte environment (protected-mode layout), then ST0-7. */
function loadEnv(c: Cpu, i: Insn, withRegs: boolean): void {
  const small = i.osize === 2;
  const envSize = small ? 14 : 28;
  const size = envSize + (withRegs ? 80 : 0);
  const lin = operandAddress(c, i, size, false);
  if (Number.isNaN(lin)) return;
  const step = small ? 2 : 4;
  const cw = c.read(lin, 2);
  const sw = c.read(lin + step, 2);
  const tw = c.read(lin + 2 * step, 2);
  const ip = c.read(lin + 3 * step, small ? 2 : 4);
  const opWord = small ? 0 : c.read(lin + 16, 4) >>> 16;
  const dp = c.read(lin + (small ? 10 : 20), small ? 2 : 4);
  if (c.stop & Stop.ABORT) return;
  if (withRegs) {
    // Read all eight registers into the image's scratch first (a fault leaves the state alone).
    for (let k = 0; k < 8; k++) {
      c.read(lin + envSize + 10 * k, 1);
      c.read(lin + envSize + 10 * k + 9, 1);
      if (c.stop & Stop.ABORT) return;
    }
  }
  c.fxU16[Fx.FCW >> 1] = cw | 0x40;
  // The slots are ST-relative: moving TOP rotates them so each physical register keeps its contents (FLDENV
  // loads no registers; FRSTOR overwrites them below anyway).
  const newTop = (sw >> 11) & 7;
  while (top(c) !== newTop) rotateDown(c);
  c.fxU16[Fx.FSW >> 1] = sw;
  c.fxU8[Fx.FTW] = abridgedTags(tw);
  c.fxU16[Fx.FOP >> 1] = opWord & 0x7ff;
  c.fxI32[Fx.FIP >> 2] = ip;
  c.fxI32[(Fx.FIP >> 2) + 1] = 0;
  c.fxI32[Fx.FDP >> 2] = dp;
  c.fxI32[(Fx.FDP >> 2) + 1] = 0;
  if (withRegs) {
    for (let k = 0; k < 8; k++) {
      const a = lin + envSize + 10 * k;
      const lo = c.read(a, 4);
      const mid = c.read(a + 4, 4);
      const se = c.read(a + 8, 2);
      storeRaw(c, stOff(k), lo, mid, se);
    }
  }
  syncEs(c);
}

/** FNSTENV (masks all exceptions afterwards) / FNSAVE (then FNINIT). */
function storeEnv(c: Cpu, i: Insn, withRegs: boolean): void {
  const small = i.osize === 2;
  const envSize = small ? 14 : 28;
  const size = envSize + (withRegs ? 80 : 0);
  const lin = operandAddress(c, i, size, true);
  if (Number.isNaN(lin) || !c.probeWrite(lin, size)) return;
  const step = small ? 2 : 4;
  const fill = small ? 0 : 0xffff0000 | 0;
  c.write(lin, step, c.fxU16[Fx.FCW >> 1] | fill, 0);
  c.write(lin + step, step, c.fxU16[Fx.FSW >> 1] | fill, 0);
  c.write(lin + 2 * step, step, fullTagWord(c) | fill, 0);
  c.write(lin + 3 * step, step, c.fxI32[Fx.FIP >> 2], 0);
  c.write(lin + 4 * step, step, small ? 0 : (c.fxU16[Fx.FOP >> 1] << 16) | 0, 0);
  c.write(lin + 5 * step, step, c.fxI32[Fx.FDP >> 2], 0);
  c.write(lin + 6 * step, step, small ? 0 : fill, 0);
  if (withRegs) {
    for (let k = 0; k < 8; k++) {
      const o = stOff(k);
      const a = lin + envSize + 10 * k;
      c.write(a, 8, c.fxI32[o >> 2], c.fxI32[(o >> 2) + 1]);
      c.write(a + 8, 2, seAt(c, o), 0);
    }
    x87Init(c);
    return;
  }
  c.fxU16[Fx.FCW >> 1] |= 0x3f;
}

/** FBLD m80bcd: 18 packed BCD digits and a sign byte, pushed as an exact integer. */
function bcdLoad(c: Cpu, i: Insn): void {
  const lin = operandAddress(c, i, 10, false);
  if (Number.isNaN(lin)) return;
  let v = 0n;
  for (let k = 8; k >= 0; k--) {
    const b = c.read(lin + k, 1);
    v = v * 100n + BigInt((b >> 4) * 10 + (b & 15));
  }
  const sign = c.read(lin + 9, 1);
  if (c.stop & Stop.ABORT) return;
  if (sign & 0x80) v = -v;
  int64ToF80(Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n)));
  storeRaw(c, Fx.SRC, f80Out.lo, f80Out.hi, f80Out.se);
  if (v === 0n && sign & 0x80) c.fxU16[(Fx.SRC + 8) >> 1] = 0x8000;
  fldFrom(c, Fx.SRC, false);
}

/** FBSTP m80bcd: ST(0) rounded by RC to 18 BCD digits, then pop; out of range is the BCD indefinite. */
function bcdStore(c: Cpu, i: Insn): void {
  const lin = operandAddress(c, i, 10, true);
  if (Number.isNaN(lin) || !c.probeWrite(lin, 10)) return;
  if (stEmpty(c, 0)) {
    if (!stackUnderflow(c, -1)) return;
  }
  const o = stOff(0);
  const res = f80ToInt(
    c.fxI32[o >> 2],
    c.fxI32[(o >> 2) + 1],
    seAt(c, o),
    (c.fxU16[Fx.FCW >> 1] >> 10) & 3,
    64,
  );
  // BCD is rare: the digits come from a bigint of the converted integer.
  const value = res === null ? 0n : BigInt.asIntN(64, (BigInt(res.hi >>> 0) << 32n) | BigInt(res.lo >>> 0));
  const limit = 10n ** 18n;
  if (stEmpty(c, 0) || res === null || value >= limit || value <= -limit) {
    if (!x87Flags(c, Fsw.IE)) return;
    // The packed BCD indefinite: FFFF C000 0000 0000 0000H.
    c.write(lin, 8, 0, 0xc0000000 | 0);
    c.write(lin + 8, 2, 0xffff, 0);
    popSt(c);
    return;
  }
  if (res.inexact) {
    if (!x87Flags(c, Fsw.PE)) return;
    if (res.up) c.fxU16[Fx.FSW >> 1] |= Fsw.C1;
  }
  let v = value < 0n ? -value : value;
  for (let k = 0; k < 9; k++) {
    const lo = Number(v % 10n);
    v /= 10n;
    const hi = Number(v % 10n);
    v /= 10n;
    c.write(lin + k, 1, (hi << 4) | lo, 0);
  }
  c.write(lin + 9, 1, (seAt(c, o) & 0x8000) !== 0 ? 0x80 : 0, 0);
  popSt(c);
}
