/**
 * The three-byte maps 0F 38 and 0F 3A (SDM Vol. 2 Tables ): SSSE3 (MMX and XMM forms), SSE4.1,
 * SSE4.2 and CRC32. Resolves readiness, prefixes and operands, then runs sse4.ts or sse42-string.ts.
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../decode.js';
import { raise, Vector } from '../exceptions.js';
import { mmxReady, sseReady } from '../fpu/checks.js';
import { xmmOff } from '../fpu/image.js';
import { getReg, readRm, setReg, writeRm } from '../operands.js';
import { Stop } from '../state.js';
import { mmOff, mmSrc, mmWritten, mmxUse, Pfx, prefixOf, xmmSrc } from './operands.js';
import { blendImm, dotProduct, insertps, mpsadbw, palignr, pmovx, roundFloat, sse41, ssse3 } from './sse4.js';
import { crc32, pcmpstr } from './sse42-string.js';

function ud(c: Cpu): void {
  raise(c, Vector.UD, -1);
}

function isSsse3(b: number): boolean {
  return b <= 0x0b || (b >= 0x1c && b <= 0x1e);
}

/** Runs one instruction of the 0F 38 or 0F 3A map (and CRC32, decoded to 0x3F0/0x3F1). */
export function sse3Byte(c: Cpu, i: Insn): void {
  const op = i.op;
  if (op === 0x3f0 || op === 0x3f1) {
    crc32Insn(c, i);
    return;
  }
  const b = op & 0xff;
  const p = prefixOf(i);
  if (op < 0x300) {
    if (isSsse3(b) && p === Pfx.NONE) {
      if (!mmxReady(c)) return;
      mmxUse(c);
      const s = mmSrc(c, i, 8);
      if (s < 0) return;
      ssse3(c, b, mmOff(i.reg), s, 8);
      mmWritten(c, i.reg);
      return;
    }
    if (p !== Pfx.P66) {
      ud(c);
      return;
    }
    if (!sseReady(c)) return;
    const d = xmmOff(i.reg);
    if (isSsse3(b)) {
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) ssse3(c, b, d, s, 16);
      return;
    }
    if ((b >= 0x20 && b <= 0x25) || (b >= 0x30 && b <= 0x35)) {
      // PMOVSX/PMOVZX: BW, BD, BQ, WD, WQ, DQ; the memory operand is 8, 4 or 2 bytes.
      const k = b & 7;
      const from = k < 3 ? 1 : k < 5 ? 2 : 4;
      const to = k === 0 ? 2 : k === 1 ? 4 : k === 2 ? 8 : k === 3 ? 4 : 8;
      const s = xmmSrc(c, i, 16 / (to / from), 0);
      if (s >= 0) pmovx(c, d, s, from, to, b < 0x30);
      return;
    }
    if (b === 0x2a) {
      // MOVNTDQA xmm, m128.
      if (i.mod === 3) {
        ud(c);
        return;
      }
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) for (let k = 0; k < 4; k++) c.fxI32[(d >> 2) + k] = c.fxI32[(s >> 2) + k];
      return;
    }
    const s = xmmSrc(c, i, 16, 16);
    if (s < 0) return;
    if (!sse41(c, b, d, s)) ud(c);
    return;
  }
  const imm = i.imm & 0xff;
  if (b === 0x0f && p === Pfx.NONE) {
    // PALIGNR mm, mm/m64, imm8.
    if (!mmxReady(c)) return;
    mmxUse(c);
    const s = mmSrc(c, i, 8);
    if (s < 0) return;
    palignr(c, mmOff(i.reg), s, 8, imm);
    mmWritten(c, i.reg);
    return;
  }
  if (p !== Pfx.P66) {
    ud(c);
    return;
  }
  if (!sseReady(c)) return;
  const d = xmmOff(i.reg);
  switch (b) {
    case 0x08:
    case 0x09:
    case 0x0a:
    case 0x0b: {
      const size = b === 0x0a ? 4 : b === 0x0b ? 8 : 16;
      const s = xmmSrc(c, i, size, size === 16 ? 16 : 0);
      if (s >= 0) roundFloat(c, b, d, s, imm);
      return;
    }
    case 0x0c:
    case 0x0d:
    case 0x0e: {
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) blendImm(c, b, d, s, imm);
      return;
    }
    case 0x0f: {
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) palignr(c, d, s, 16, imm);
      return;
    }
    case 0x14:
    case 0x15:
    case 0x16:
    case 0x17:
      extract(c, i, b, d, imm);
      return;
    case 0x20:
    case 0x22: {
      // PINSRB xmm, r32/m8; PINSRD/PINSRQ xmm, r/m32/64.
      const size = b === 0x20 ? 1 : i.osize === 8 ? 8 : 4;
      let lo: number;
      let hi = 0;
      if (i.mod === 3) {
        lo = c.r[i.rm << 1];
        hi = c.r[(i.rm << 1) + 1];
      } else {
        lo = readRm(c, i, size);
        hi = c.hi;
        if (c.stop & Stop.ABORT) return;
      }
      if (size === 1) c.fxU8[d + (imm & 15)] = lo & 0xff;
      else if (size === 4) c.fxI32[(d >> 2) + (imm & 3)] = lo;
      else {
        c.fxI32[(d >> 2) + 2 * (imm & 1)] = lo;
        c.fxI32[(d >> 2) + 2 * (imm & 1) + 1] = hi;
      }
      return;
    }
    case 0x21: {
      const s = xmmSrc(c, i, 4, 0);
      if (s >= 0) insertps(c, d, s, imm, i.mod !== 3);
      return;
    }
    case 0x40:
    case 0x41: {
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) dotProduct(c, b === 0x41, d, s, imm);
      return;
    }
    case 0x42: {
      const s = xmmSrc(c, i, 16, 16);
      if (s >= 0) mpsadbw(c, d, s, imm);
      return;
    }
    case 0x60:
    case 0x61:
    case 0x62:
    case 0x63: {
      // The string instructions take unaligned memory operands.
      const s = xmmSrc(c, i, 16, 0);
      if (s >= 0) pcmpstr(c, b, d, s, imm, i.osize === 8);
      return;
    }
    default:
      ud(c);
  }
}

/** PEXTRB (14), PEXTRW (15), PEXTRD/PEXTRQ (16), EXTRACTPS (17) to a register or memory. */
function extract(c: Cpu, i: Insn, b: number, s: number, imm: number): void {
  let size: number;
  let lo: number;
  let hi = 0;
  if (b === 0x14) {
    size = 1;
    lo = c.fxU8[s + (imm & 15)];
  } else if (b === 0x15) {
    size = 2;
    lo = c.fxU16[(s >> 1) + (imm & 7)];
  } else if (b === 0x16 && i.osize === 8) {
    size = 8;
    lo = c.fxI32[(s >> 2) + 2 * (imm & 1)];
    hi = c.fxI32[(s >> 2) + 2 * (imm & 1) + 1];
  } else {
    size = 4;
    lo = c.fxI32[(s >> 2) + (imm & 3)];
  }
  if (i.mod === 3) {
    // A register destination is zero-extended (r32, or r64 in 64-bit mode).
    setReg(c, i.rm, size === 8 ? 8 : 4, lo, hi);
    return;
  }
  writeRm(c, i, size, lo, hi);
}

/** CRC32 r32/r64, r/m8 (F2 0F 38 F0) and r/m16/32/64 (F1): accumulates CRC-32C into the destination. */
function crc32Insn(c: Cpu, i: Insn): void {
  const bytes = i.op === 0x3f0 ? 1 : i.osize;
  const lo = bytes === 1 ? readRm1(c, i) : readRm(c, i, bytes);
  const hi = bytes === 8 ? c.hi : 0;
  if (c.stop & Stop.ABORT) return;
  const v = crc32(c.r[i.reg << 1], lo, hi, bytes);
  // The destination is 32 bits (its 64-bit form's upper half is cleared).
  setReg(c, i.reg, 4, v, 0);
}

function readRm1(c: Cpu, i: Insn): number {
  if (i.mod === 3) return getReg(c, i.rmB, 1);
  return readRm(c, i, 1);
}
