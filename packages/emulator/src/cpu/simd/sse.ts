/**
 * The 0F-map MMX and SSE..SSE3 instructions: one entry (`sse`) for every such opcode, which checks the
 * unit is usable (fpu/checks.ts), resolves the mandatory prefix and the operands to image offsets
 * (operands.ts), and runs the family's body: data movement here, packed integers in sse-int.ts, floating
 * point in sse-float.ts, conversions in sse-convert.ts. Prefix/opcode pairs without a meaning raise #UD.
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../decode.js';
import { raise, Vector } from '../exceptions.js';
import { mmxReady, sseReady } from '../fpu/checks.js';
import { Fx, xmmOff } from '../fpu/image.js';
import { getReg, linearOf, readRm, setReg, writeRm } from '../operands.js';
import { Flag, Seg, Stop } from '../state.js';
import { FOp } from './float-core.js';
import {
  copy8,
  copy16,
  memLinear,
  mmOff,
  mmSrc,
  mmWritten,
  mmxUse,
  Pfx,
  prefixOf,
  readMem,
  setArithFlags,
  storeRm,
  xmmSrc,
} from './operands.js';
import { Cvt, convert, intHi, intToScalar, scalarToInt } from './sse-convert.js';
import {
  addSub,
  approx,
  comis,
  floatArith,
  floatCompare,
  horizontal,
  moveMaskFloat,
  shuffleFloat,
  unpackFloat,
} from './sse-float.js';
import { packedInt, Shift, shiftBytes, shiftLanes } from './sse-int.js';

function ud(c: Cpu): void {
  raise(c, Vector.UD, -1);
}

/** The arithmetic kind of 0F 51-5F (-1: not arithmetic). */
function arithKind(b: number): number {
  switch (b) {
    case 0x51:
      return FOp.SQRT;
    case 0x58:
      return FOp.ADD;
    case 0x59:
      return FOp.MUL;
    case 0x5c:
      return FOp.SUB;
    case 0x5d:
      return FOp.MIN;
    case 0x5e:
      return FOp.DIV;
    case 0x5f:
      return FOp.MAX;
    default:
      return -1;
  }
}

/** Packed-integer and shift-by-register opcodes that have an MMX (no prefix) and an XMM (66) form. */
function isPackedInt(b: number): boolean {
  return (
    (b >= 0x60 && b <= 0x6b) ||
    (b >= 0x74 && b <= 0x76) ||
    (b >= 0xd1 &&
      b <= 0xfe &&
      b !== 0xd6 &&
      b !== 0xd7 &&
      b !== 0xe6 &&
      b !== 0xe7 &&
      b !== 0xf0 &&
      b !== 0xf7)
  );
}

/** Runs one MMX/SSE/SSE2/SSE3 instruction of the 0F map. */
export function sse(c: Cpu, i: Insn): void {
  const b = i.op & 0xff;
  const p = prefixOf(i);
  // MMX forms: packed integers without a prefix, MOVD/MOVQ to and from MMX registers, EMMS, and kin.
  if (
    p === Pfx.NONE &&
    (isPackedInt(b) ||
      (b >= 0x6e && b <= 0x7f && b !== 0x7c && b !== 0x7d) ||
      b === 0xc4 ||
      b === 0xc5 ||
      b === 0xd7 ||
      b === 0xe7 ||
      b === 0xf7)
  ) {
    mmx(c, i, b);
    return;
  }
  if (b === 0xc3) {
    movnti(c, i);
    return;
  }
  if (b === 0xb8) {
    popcnt(c, i, p);
    return;
  }
  if (!sseReady(c)) return;
  if (p !== Pfx.F2 && p !== Pfx.F3 && isPackedInt(b)) {
    if (p !== Pfx.P66) {
      ud(c);
      return;
    }
    const s = xmmSrc(c, i, 16, 16);
    if (s < 0) return;
    packedInt(c, b, xmmOff(i.reg), s, 16);
    return;
  }
  const d = xmmOff(i.reg);
  const kind = arithKind(b);
  if (kind >= 0) {
    const size = p === Pfx.F3 ? 4 : p === Pfx.F2 ? 8 : 16;
    const s = xmmSrc(c, i, size, size === 16 ? 16 : 0);
    if (s < 0) return;
    floatArith(c, kind, p, d, s);
    return;
  }
  switch (b) {
    case 0x10:
    case 0x11:
      movFloat(c, i, p, b === 0x11);
      return;
    case 0x12:
    case 0x13:
    case 0x16:
    case 0x17:
      movHalf(c, i, p, b);
      return;
    case 0x14:
    case 0x15: {
      if (p > Pfx.P66) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) unpackFloat(c, p === Pfx.P66, b === 0x15, d, s);
      return;
    }
    case 0x28:
    case 0x29: {
      if (p > Pfx.P66) {
        ud(c);
        return;
      }
      if (b === 0x28) {
        const s = xmmSrc(c, i, 16, 16);
        if (s >= 0) copy16(c, d, s);
      } else if (i.mod === 3) copy16(c, xmmOff(i.rm), d);
      else storeRm(c, i, d, 16, 16);
      return;
    }
    case 0x2a:
      cvtFromInt(c, i, p, d);
      return;
    case 0x2b:
      if (p > Pfx.P66 || i.mod === 3) {
        ud(c);
        return;
      }
      storeRm(c, i, d, 16, 16);
      return;
    case 0x2c:
    case 0x2d:
      cvtToInt(c, i, p, b === 0x2c);
      return;
    case 0x2e:
    case 0x2f: {
      if (p > Pfx.P66) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, p === Pfx.P66 ? 8 : 4, 0);
      if (s >= 0) comis(c, p === Pfx.P66, d, s, b === 0x2f);
      return;
    }
    case 0x50:
      if (p > Pfx.P66 || i.mod !== 3) {
        ud(c);
        return;
      }
      setReg(c, i.reg, 4, moveMaskFloat(c, p === Pfx.P66, xmmOff(i.rm)), 0);
      return;
    case 0x52:
    case 0x53: {
      if (p === Pfx.P66 || p === Pfx.F2) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, p === Pfx.F3 ? 4 : 16, p === Pfx.F3 ? 0 : 16);
      if (s >= 0) approx(c, b === 0x52, p === Pfx.F3, d, s);
      return;
    }
    case 0x54:
    case 0x55:
    case 0x56:
    case 0x57: {
      if (p > Pfx.P66) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) packedInt(c, b === 0x54 ? 0xdb : b === 0x55 ? 0xdf : b === 0x56 ? 0xeb : 0xef, d, s, 16);
      return;
    }
    case 0x5a: {
      const size = p === Pfx.NONE ? 8 : p === Pfx.P66 ? 16 : p === Pfx.F3 ? 4 : 8;
      const s = xmmSrc(c, i, size, size === 16 ? 16 : 0);
      if (s >= 0)
        convert(
          c,
          p === Pfx.NONE ? Cvt.PS2PD : p === Pfx.P66 ? Cvt.PD2PS : p === Pfx.F3 ? Cvt.SS2SD : Cvt.SD2SS,
          d,
          s,
        );
      return;
    }
    case 0x5b: {
      if (p === Pfx.F2) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) convert(c, p === Pfx.NONE ? Cvt.DQ2PS : p === Pfx.P66 ? Cvt.PS2DQ : Cvt.TPS2DQ, d, s);
      return;
    }
    case 0x6c:
    case 0x6d: {
      // PUNPCKLQDQ, PUNPCKHQDQ: SSE2 only.
      if (p !== Pfx.P66) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) packedInt(c, b, d, s, 16);
      return;
    }
    case 0x6e:
      if (p !== Pfx.P66) {
        ud(c);
        return;
      }
      movdToVector(c, i, d, 16);
      return;
    case 0x6f:
    case 0x7f: {
      if (p === Pfx.F2) {
        ud(c);
        return;
      }
      const align = p === Pfx.P66 ? 16 : 0;
      if (b === 0x6f) {
        const s = xmmSrc(c, i, 16, align);
        if (s >= 0) copy16(c, d, s);
      } else if (i.mod === 3) copy16(c, xmmOff(i.rm), d);
      else storeRm(c, i, d, 16, align);
      return;
    }
    case 0x70: {
      if (p === Pfx.NONE) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) shuffleInt(c, p, d, s, i.imm & 0xff);
      return;
    }
    case 0x71:
    case 0x72:
    case 0x73:
      if (p !== Pfx.P66 || i.mod !== 3) {
        ud(c);
        return;
      }
      shiftImm(c, i, b, xmmOff(i.rm), 16);
      return;
    case 0x7c:
    case 0x7d: {
      if (p !== Pfx.P66 && p !== Pfx.F2) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) horizontal(c, p === Pfx.P66, b === 0x7d, d, s);
      return;
    }
    case 0x7e:
      if (p === Pfx.P66) movdFromVector(c, i, d);
      else if (p === Pfx.F3) {
        const s = xmmSrc(c, i, 8, 0);
        if (s < 0) return;
        copy8(c, d, s);
        c.fxI32[(d >> 2) + 2] = 0;
        c.fxI32[(d >> 2) + 3] = 0;
      } else ud(c);
      return;
    case 0xc2: {
      const size = p === Pfx.F3 ? 4 : p === Pfx.F2 ? 8 : 16;
      const s = xmmSrc(c, i, size, size === 16 ? 16 : 0);
      if (s >= 0) floatCompare(c, p, d, s, i.imm & 0xff);
      return;
    }
    case 0xc4:
      if (p !== Pfx.P66) {
        ud(c);
        return;
      }
      pinsrw(c, i, d, 8);
      return;
    case 0xc5:
      if (p !== Pfx.P66 || i.mod !== 3) {
        ud(c);
        return;
      }
      setReg(c, i.reg, 4, c.fxU16[(xmmOff(i.rm) >> 1) + (i.imm & 7)], 0);
      return;
    case 0xc6: {
      if (p > Pfx.P66) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) shuffleFloat(c, p === Pfx.P66, d, s, i.imm & 0xff);
      return;
    }
    case 0xd0: {
      if (p !== Pfx.P66 && p !== Pfx.F2) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) addSub(c, p === Pfx.P66, d, s);
      return;
    }
    case 0xd6:
      movqD6(c, i, p, d);
      return;
    case 0xd7:
      if (p !== Pfx.P66 || i.mod !== 3) {
        ud(c);
        return;
      }
      setReg(c, i.reg, 4, byteMask(c, xmmOff(i.rm), 16), 0);
      return;
    case 0xe6: {
      if (p === Pfx.NONE) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, p === Pfx.F3 ? 8 : 16, p === Pfx.F3 ? 0 : 16);
      if (s >= 0) convert(c, p === Pfx.P66 ? Cvt.TPD2DQ : p === Pfx.F3 ? Cvt.DQ2PD : Cvt.PD2DQ, d, s);
      return;
    }
    case 0xe7:
      if (p !== Pfx.P66 || i.mod === 3) {
        ud(c);
        return;
      }
      storeRm(c, i, d, 16, 16);
      return;
    case 0xf0: {
      if (p !== Pfx.F2 || i.mod === 3) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, 16, 0);
      if (s >= 0) copy16(c, d, s);
      return;
    }
    case 0xf7:
      if (p !== Pfx.P66 || i.mod !== 3) {
        ud(c);
        return;
      }
      maskMove(c, i, d, xmmOff(i.rm), 16);
      return;
    default:
      ud(c);
  }
}

/** The MMX forms (no prefix): packed integers on MMX registers, MOVD/MOVQ, PSHUFW, PINSRW/PEXTRW, EMMS. */
function mmx(c: Cpu, i: Insn, b: number): void {
  if (b === 0x77) {
    // EMMS: every register empty (SDM Vol. 2 EMMS); #NM/#UD/#MF as the other MMX instructions.
    if (!mmxReady(c)) return;
    c.fxU8[Fx.FTW] = 0;
    return;
  }
  if (!mmxReady(c)) return;
  if (b === 0x7c || b === 0x7d) {
    ud(c);
    return;
  }
  mmxUse(c);
  const d = mmOff(i.reg);
  if (isPackedInt(b)) {
    if (b === 0x6c || b === 0x6d) {
      ud(c);
      return;
    }
    const s = mmSrc(c, i, 8);
    if (s < 0) return;
    packedInt(c, b, d, s, 8);
    mmWritten(c, i.reg);
    return;
  }
  switch (b) {
    case 0x6e:
      movdToVector(c, i, d, 8);
      mmWritten(c, i.reg);
      return;
    case 0x6f: {
      const s = mmSrc(c, i, 8);
      if (s < 0) return;
      copy8(c, d, s);
      mmWritten(c, i.reg);
      return;
    }
    case 0x70: {
      const s = mmSrc(c, i, 8);
      if (s < 0) return;
      const imm = i.imm & 0xff;
      const u = c.fxU16;
      const t = Fx.TMP >> 1;
      for (let k = 0; k < 4; k++) u[t + k] = u[(s >> 1) + ((imm >> (2 * k)) & 3)];
      copy8(c, d, Fx.TMP);
      mmWritten(c, i.reg);
      return;
    }
    case 0x71:
    case 0x72:
    case 0x73:
      if (i.mod !== 3) {
        ud(c);
        return;
      }
      if (b === 0x73 && ((i.reg & 7) === 3 || (i.reg & 7) === 7)) {
        ud(c);
        return;
      }
      shiftImm(c, i, b, mmOff(i.rm), 8);
      mmWritten(c, i.rm);
      return;
    case 0x7e:
      movdFromVector(c, i, d);
      return;
    case 0x7f:
      if (i.mod === 3) {
        copy8(c, mmOff(i.rm), d);
        mmWritten(c, i.rm);
      } else storeRm(c, i, d, 8, 0);
      return;
    case 0xc4:
      pinsrw(c, i, d, 4);
      mmWritten(c, i.reg);
      return;
    case 0xc5:
      if (i.mod !== 3) {
        ud(c);
        return;
      }
      setReg(c, i.reg, 4, c.fxU16[(mmOff(i.rm) >> 1) + (i.imm & 3)], 0);
      return;
    case 0xd7:
      if (i.mod !== 3) {
        ud(c);
        return;
      }
      setReg(c, i.reg, 4, byteMask(c, mmOff(i.rm), 8), 0);
      return;
    case 0xe7:
      if (i.mod === 3) {
        ud(c);
        return;
      }
      storeRm(c, i, d, 8, 0);
      return;
    case 0xf7:
      if (i.mod !== 3) {
        ud(c);
        return;
      }
      maskMove(c, i, d, mmOff(i.rm), 8);
      return;
    default:
      ud(c);
  }
}

/** MOVUPS/MOVUPD/MOVSS/MOVSD, loads (0F 10) and stores (0F 11). */
function movFloat(c: Cpu, i: Insn, p: number, store: boolean): void {
  const d = xmmOff(i.reg);
  const w = c.fxI32;
  if (p <= Pfx.P66) {
    if (!store) {
      const s = xmmSrc(c, i, 16, 0);
      if (s >= 0) copy16(c, d, s);
    } else if (i.mod === 3) copy16(c, xmmOff(i.rm), d);
    else storeRm(c, i, d, 16, 0);
    return;
  }
  const words = p === Pfx.F3 ? 1 : 2;
  if (i.mod === 3) {
    // Register to register: only the low lane moves.
    const from = store ? d : xmmOff(i.rm);
    const to = store ? xmmOff(i.rm) : d;
    for (let k = 0; k < words; k++) w[(to >> 2) + k] = w[(from >> 2) + k];
    return;
  }
  if (store) {
    storeRm(c, i, d, words * 4, 0);
    return;
  }
  // A load from memory zeroes the rest of the register.
  const s = xmmSrc(c, i, words * 4, 0);
  if (s < 0) return;
  for (let k = 0; k < 4; k++) w[(d >> 2) + k] = k < words ? w[(s >> 2) + k] : 0;
}

/** MOVLPS/MOVHLPS/MOVLPD/MOVSLDUP/MOVDDUP (12), stores (13), MOVHPS/MOVLHPS/MOVHPD/MOVSHDUP (16), stores (17). */
function movHalf(c: Cpu, i: Insn, p: number, b: number): void {
  const d = xmmOff(i.reg);
  const w = c.fxI32;
  const dk = d >> 2;
  if (b === 0x13 || b === 0x17) {
    if (p > Pfx.P66 || i.mod === 3) {
      ud(c);
      return;
    }
    storeRm(c, i, b === 0x13 ? d : d + 8, 8, 0);
    return;
  }
  if (p === Pfx.F3) {
    // MOVSLDUP (12) / MOVSHDUP (16): duplicate the even or odd singles.
    const s = xmmSrc(c, i, 16, 16);
    if (s < 0) return;
    const o = b === 0x12 ? 0 : 1;
    const a = w[(s >> 2) + o];
    const e = w[(s >> 2) + o + 2];
    w[dk] = a;
    w[dk + 1] = a;
    w[dk + 2] = e;
    w[dk + 3] = e;
    return;
  }
  if (p === Pfx.F2) {
    if (b !== 0x12) {
      ud(c);
      return;
    }
    // MOVDDUP xmm, xmm/m64.
    const s = xmmSrc(c, i, 8, 0);
    if (s < 0) return;
    const lo = w[s >> 2];
    const hi = w[(s >> 2) + 1];
    w[dk] = lo;
    w[dk + 1] = hi;
    w[dk + 2] = lo;
    w[dk + 3] = hi;
    return;
  }
  const half = b === 0x12 ? 0 : 2;
  if (i.mod === 3) {
    if (p === Pfx.P66) {
      ud(c);
      return;
    }
    // MOVHLPS: high half of the source to the low half; MOVLHPS: low half to the high half.
    const sk = xmmOff(i.rm) >> 2;
    const from = b === 0x12 ? 2 : 0;
    w[dk + half] = w[sk + from];
    w[dk + half + 1] = w[sk + from + 1];
    return;
  }
  const s = xmmSrc(c, i, 8, 0);
  if (s < 0) return;
  w[dk + half] = w[s >> 2];
  w[dk + half + 1] = w[(s >> 2) + 1];
}

/** MOVD/MOVQ mm or xmm, r/m32 or r/m64 (0F 6E): zero-extends into the register. */
function movdToVector(c: Cpu, i: Insn, d: number, n: number): void {
  const size = i.osize === 8 ? 8 : 4;
  const lo = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const w = c.fxI32;
  w[d >> 2] = lo;
  w[(d >> 2) + 1] = size === 8 ? c.hi : 0;
  if (n === 16) {
    w[(d >> 2) + 2] = 0;
    w[(d >> 2) + 3] = 0;
  }
}

/** MOVD/MOVQ r/m32 or r/m64, mm or xmm (0F 7E). */
function movdFromVector(c: Cpu, i: Insn, s: number): void {
  const size = i.osize === 8 ? 8 : 4;
  writeRm(c, i, size, c.fxI32[s >> 2], c.fxI32[(s >> 2) + 1]);
}

/** 0F D6: 66 MOVQ xmm/m64, xmm; F3 MOVQ2DQ xmm, mm; F2 MOVDQ2Q mm, xmm. */
function movqD6(c: Cpu, i: Insn, p: number, d: number): void {
  const w = c.fxI32;
  if (p === Pfx.P66) {
    if (i.mod !== 3) {
      storeRm(c, i, d, 8, 0);
      return;
    }
    const to = xmmOff(i.rm) >> 2;
    w[to] = w[d >> 2];
    w[to + 1] = w[(d >> 2) + 1];
    w[to + 2] = 0;
    w[to + 3] = 0;
    return;
  }
  if (p === Pfx.NONE || i.mod !== 3) {
    ud(c);
    return;
  }
  // The MMX side makes these x87-to-MMX transitions.
  if (!mmxReady(c)) return;
  mmxUse(c);
  if (p === Pfx.F3) {
    const from = mmOff(i.rm) >> 2;
    w[d >> 2] = w[from];
    w[(d >> 2) + 1] = w[from + 1];
    w[(d >> 2) + 2] = 0;
    w[(d >> 2) + 3] = 0;
  } else {
    copy8(c, mmOff(i.reg), xmmOff(i.rm));
    mmWritten(c, i.reg);
  }
}

/** PSHUFD (66), PSHUFHW (F3), PSHUFLW (F2). */
function shuffleInt(c: Cpu, p: number, d: number, s: number, imm: number): void {
  const t = Fx.TMP;
  if (p === Pfx.P66) {
    const w = c.fxI32;
    for (let k = 0; k < 4; k++) w[(t >> 2) + k] = w[(s >> 2) + ((imm >> (2 * k)) & 3)];
  } else {
    const u = c.fxU16;
    const keep = p === Pfx.F3 ? 0 : 4;
    const move = p === Pfx.F3 ? 4 : 0;
    for (let k = 0; k < 4; k++) u[(t >> 1) + keep + k] = u[(s >> 1) + keep + k];
    for (let k = 0; k < 4; k++) u[(t >> 1) + move + k] = u[(s >> 1) + move + ((imm >> (2 * k)) & 3)];
  }
  copy16(c, d, t);
}

/** The shift-by-immediate groups 0F 71 (words), 72 (dwords), 73 (qwords, and PSRLDQ/PSLLDQ on XMM). */
function shiftImm(c: Cpu, i: Insn, b: number, d: number, n: number): void {
  const r = i.reg & 7;
  const count = i.imm & 0xff;
  const bits = b === 0x71 ? 16 : b === 0x72 ? 32 : 64;
  if (b === 0x73 && (r === 3 || r === 7)) {
    shiftBytes(c, d, Math.min(count, 16), r === 7);
    return;
  }
  if (r === 2) shiftLanes(c, d, n, bits, Shift.SRL, count);
  else if (r === 4 && b !== 0x73) shiftLanes(c, d, n, bits, Shift.SRA, count);
  else if (r === 6) shiftLanes(c, d, n, bits, Shift.SLL, count);
  else ud(c);
}

/** PINSRW mm/xmm, r32/m16, imm8. */
function pinsrw(c: Cpu, i: Insn, d: number, lanes: number): void {
  const v = i.mod === 3 ? getReg(c, i.rm, 2) : readRm(c, i, 2);
  if (c.stop & Stop.ABORT) return;
  c.fxU16[(d >> 1) + (i.imm & (lanes - 1))] = v;
}

/** PMOVMSKB: the top bit of each byte. */
export function byteMask(c: Cpu, s: number, n: number): number {
  const w = c.fxI32;
  let m = 0;
  for (let k = 0; k < n >> 2; k++) {
    // The four top bits, moved to bits 0-3: (b0 + b1 << 8 + ...) * (1 + 2^7 + 2^14 + 2^21) puts them at 21-24.
    const tops = (w[(s >> 2) + k] & 0x80808080) >>> 7;
    m |= ((Math.imul(tops, 0x204081) >>> 21) & 0xf) << (4 * k);
  }
  return m;
}

/**
 * MASKMOVQ / MASKMOVDQU: stores the bytes whose mask byte has its top bit set at DS:rDI (a segment override
 * applies), each a checked byte store (SDM Vol. 2 MASKMOVDQU).
 */
function maskMove(c: Cpu, i: Insn, d: number, m: number, n: number): void {
  const u = c.fxU8;
  const asize = i.asize;
  const di = asize === 2 ? c.r[14] & 0xffff : c.r[14] >>> 0;
  const off = asize === 8 ? c.r[15] * 4294967296 + di : di;
  const seg = i.segOverride ? i.seg : Seg.DS;
  for (let k = 0; k < n; k++) {
    if (!(u[m + k] & 0x80)) continue;
    const at = asize === 8 ? off + k : asize === 4 ? (off + k) >>> 0 : (off + k) & 0xffff;
    const lin = linearOf(c, seg, at, 1, true);
    if (c.stop & Stop.ABORT) return;
    c.write(lin, 1, u[d + k], 0);
    if (c.stop & Stop.ABORT) return;
  }
}

/** MOVNTI m32/m64, r32/r64 (0F C3): a plain store here (no caches to bypass). */
function movnti(c: Cpu, i: Insn): void {
  if (i.mod === 3 || prefixOf(i) > Pfx.P66) {
    ud(c);
    return;
  }
  const size = i.osize === 8 ? 8 : 4;
  writeRm(c, i, size, c.r[i.reg << 1], c.r[(i.reg << 1) + 1]);
}

/** POPCNT r, r/m (F3 0F B8): ZF when the source is zero, the other flags cleared (SDM Vol. 2 POPCNT). */
function popcnt(c: Cpu, i: Insn, p: number): void {
  if (p !== Pfx.F3) {
    ud(c);
    return;
  }
  const size = i.osize;
  const lo = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  let n = ones(size === 2 ? lo & 0xffff : lo);
  if (size === 8) n += ones(c.hi);
  setReg(c, i.reg, size, n, 0);
  setArithFlags(c, n === 0 ? Flag.ZF : 0);
}

function ones(v: number): number {
  let x = v - ((v >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** 0F 2A: CVTPI2PS, CVTPI2PD (from MMX or m64), CVTSI2SS, CVTSI2SD (from r/m32 or r/m64). */
function cvtFromInt(c: Cpu, i: Insn, p: number, d: number): void {
  if (p === Pfx.F3 || p === Pfx.F2) {
    const size = i.osize === 8 ? 8 : 4;
    const lo = readRm(c, i, size);
    if (c.stop & Stop.ABORT) return;
    intToScalar(c, d, lo, size === 8 ? c.hi : lo >> 31, size * 8, p === Pfx.F2);
    return;
  }
  let s: number;
  if (i.mod === 3) {
    if (!mmxReady(c)) return;
    mmxUse(c);
    s = mmOff(i.rm);
  } else {
    const lin = memLinear(c, i, 8, false, 0);
    if (Number.isNaN(lin) || !readMem(c, lin, Fx.SRC, 8)) return;
    s = Fx.SRC;
  }
  convert(c, p === Pfx.NONE ? Cvt.PI2PS : Cvt.PI2PD, d, s);
}

/** 0F 2C/2D: CVT(T)PS2PI, CVT(T)PD2PI (to MMX), CVT(T)SS2SI, CVT(T)SD2SI (to r32/r64). */
function cvtToInt(c: Cpu, i: Insn, p: number, truncate: boolean): void {
  if (p === Pfx.F3 || p === Pfx.F2) {
    const s = xmmSrc(c, i, p === Pfx.F3 ? 4 : 8, 0);
    if (s < 0) return;
    const width = i.osize === 8 ? 64 : 32;
    const lo = scalarToInt(c, s, p === Pfx.F2, truncate, width);
    if (Number.isNaN(lo)) return;
    setReg(c, i.reg, width / 8, lo, intHi);
    return;
  }
  const s = xmmSrc(c, i, p === Pfx.NONE ? 8 : 16, p === Pfx.NONE ? 0 : 16);
  if (s < 0) return;
  if (!mmxReady(c)) return;
  mmxUse(c);
  const kind = p === Pfx.NONE ? (truncate ? Cvt.TPS2PI : Cvt.PS2PI) : truncate ? Cvt.TPD2PI : Cvt.PD2PI;
  convert(c, kind, mmOff(i.reg), s);
  if (!(c.stop & Stop.ABORT)) mmWritten(c, i.reg);
}
