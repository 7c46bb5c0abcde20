/**
 * Data movement: MOV in all encodings, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CBW/CWD families, CMOVcc, SETcc, XLAT,
 * BSWAP, PUSH/POP of registers, immediates, memory and segment registers, PUSHA/POPA, MOV to and from segment
 * registers, LDS/LES/LSS/LFS/LGS (SDM Vol. 2).
 */
import type { Cpu } from './cpu.js';
import { type Insn, InsnFlag } from './decode.js';
import { raise, Vector } from './exceptions.js';
import { condition } from './flags.js';
import {
  effectiveAddress,
  getReg,
  lastEaHi,
  lastEaLo,
  linearOf,
  pop,
  push,
  readRegOp,
  readRm,
  reg64,
  setReg,
  writeRegOp,
  writeRm,
} from './operands.js';
import { loadDataSeg } from './segments.js';
import { Seg, Stop } from './state.js';

/** MOV r/m, reg (88, 89). */
export function movRmReg(c: Cpu, i: Insn): void {
  const v = readRegOp(c, i, i.osize);
  writeRm(c, i, i.osize, v, c.hi);
}

/** MOV reg, r/m (8A, 8B). */
export function movRegRm(c: Cpu, i: Insn): void {
  const v = readRm(c, i, i.osize);
  if (c.stop & Stop.ABORT) return;
  writeRegOp(c, i, i.osize, v, c.hi);
}

/** MOV r/m, imm (C6 /0, C7 /0). */
export function movRmImm(c: Cpu, i: Insn): void {
  if ((i.reg & 7) !== 0) {
    raise(c, Vector.UD, -1);
    return;
  }
  writeRm(c, i, i.osize, i.imm, i.immHi);
}

/** MOV r, imm (B0-BF). */
export function movRegImm(c: Cpu, i: Insn): void {
  const n = opcodeReg(i);
  const byteReg = !(i.flags & InsnFlag.REX) && n >= 4 && n < 8 ? 16 + n - 4 : n;
  setReg(c, i.osize === 1 ? byteReg : n, i.osize, i.imm, i.immHi);
}

/** The register an opcode names in its low three bits, extended by REX.B (50-5F, 90-97, B0-BF, C8-CF). */
export function opcodeReg(i: Insn): number {
  return (i.op & 7) | (i.rm & 8);
}

/** MOV AL/eAX, moffs and MOV moffs, AL/eAX (A0-A3). */
export function movMoffs(c: Cpu, i: Insn): void {
  const off =
    i.asize === 8 ? i.immHi * 4294967296 + (i.imm >>> 0) : i.asize === 4 ? i.imm >>> 0 : i.imm & 0xffff;
  const size = i.osize;
  const toMem = (i.op & 2) !== 0;
  const lin = linearOf(c, i.seg, off, size, toMem);
  if (c.stop & Stop.ABORT) return;
  if (toMem) {
    c.write(lin, size, getReg(c, 0, size), c.r[1]);
  } else {
    const v = c.read(lin, size);
    if (c.stop & Stop.ABORT) return;
    setReg(c, 0, size, v, c.hi);
  }
}

/** LEA (8D): the effective address, truncated to the operand size. */
export function lea(c: Cpu, i: Insn): void {
  if (i.mod === 3) {
    raise(c, Vector.UD, -1);
    return;
  }
  const a = effectiveAddress(c, i);
  if (i.asize === 8) writeRegOp(c, i, i.osize, lastEaLo() | 0, lastEaHi());
  else writeRegOp(c, i, i.osize, a | 0, 0);
}

/** MOVZX/MOVSX (0F B6, B7, BE, BF) and MOVSXD (63 in 64-bit mode). */
export function movExtend(c: Cpu, i: Insn): void {
  const srcSize = i.op === 0x63 ? 4 : i.op & 1 ? 2 : 1;
  const signed = i.op === 0x63 || i.op >= 0x1be;
  let v = readRm(c, i, srcSize);
  if (c.stop & Stop.ABORT) return;
  if (signed) v = srcSize === 1 ? (v << 24) >> 24 : srcSize === 2 ? (v << 16) >> 16 : v | 0;
  const size = i.osize;
  writeRegOp(c, i, size, size === 2 ? v & 0xffff : v, signed ? v >> 31 : 0);
}

/** ARPL (63 outside 64-bit mode): adjust a selector's RPL. */
export function arplOrMovsxd(c: Cpu, i: Insn): void {
  if (c.long64) {
    movExtend(c, i);
    return;
  }
  if (!(c.cr0 & 1) || c.flags & 0x20000) {
    raise(c, Vector.UD, -1);
    return;
  }
  raise(c, Vector.UD, -1);
}

/** XCHG r/m, reg (86, 87): with a memory operand it is locked, which changes nothing here. */
export function xchgRmReg(c: Cpu, i: Insn): void {
  const size = i.osize;
  const a = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const ah = c.hi;
  const b = readRegOp(c, i, size);
  const bh = c.hi;
  if (i.mod === 3) {
    setReg(c, size === 1 ? i.rmB : i.rm, size, b, bh);
  } else {
    c.write(c.ea, size, b, bh);
    if (c.stop & Stop.ABORT) return;
  }
  writeRegOp(c, i, size, a, ah);
}

/** XCHG eAX, r (91-97); 90 is NOP (or XCHG with R8 under REX.B), F3 90 is PAUSE. */
export function xchgAcc(c: Cpu, i: Insn): void {
  const n = opcodeReg(i);
  if (n === 0) {
    if (i.osize === 4 && c.long64) return; // XCHG EAX, EAX would zero-extend, but 90 is NOP in 64-bit mode.
    return;
  }
  const size = i.osize;
  const a = getReg(c, 0, size);
  const ah = c.r[1];
  const b = getReg(c, n, size);
  const bh = c.r[(n << 1) + 1];
  setReg(c, 0, size, b, bh);
  setReg(c, n, size, a, ah);
}

/** CBW/CWDE/CDQE (98). */
export function convertAcc(c: Cpu, i: Insn): void {
  const v = c.r[0];
  if (i.osize === 2) setReg(c, 0, 2, (v << 24) >> 24, 0);
  else if (i.osize === 4) setReg(c, 0, 4, (v << 16) >> 16, 0);
  else setReg(c, 0, 8, v, v >> 31);
}

/** CWD/CDQ/CQO (99). */
export function convertAccToDx(c: Cpu, i: Insn): void {
  if (i.osize === 2) setReg(c, 2, 2, (c.r[0] << 16) >> 31, 0);
  else if (i.osize === 4) setReg(c, 2, 4, c.r[0] >> 31, 0);
  else setReg(c, 2, 8, c.r[1] >> 31, c.r[1] >> 31);
}

/** CMOVcc (0F 40-4F): the source is read (and may fault) whatever the condition; 32-bit forms always zero-extend. */
export function cmov(c: Cpu, i: Insn): void {
  const size = i.osize;
  const v = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  if (condition(c, i.op & 0xf)) writeRegOp(c, i, size, v, c.hi);
  else if (size === 4) c.r[(i.reg << 1) + 1] = 0;
}

/** SETcc (0F 90-9F). */
export function setcc(c: Cpu, i: Insn): void {
  writeRm(c, i, 1, condition(c, i.op & 0xf) ? 1 : 0, 0);
}

/** XLAT (D7): AL = [seg:rBX + AL]. */
export function xlat(c: Cpu, i: Insn): void {
  const al = c.r[0] & 0xff;
  const off = i.asize === 8 ? reg64(c, 3) + al : i.asize === 4 ? (c.r[6] + al) >>> 0 : (c.r[6] + al) & 0xffff;
  const lin = linearOf(c, i.seg, off, 1, false);
  if (c.stop & Stop.ABORT) return;
  const v = c.read(lin, 1);
  if (c.stop & Stop.ABORT) return;
  setReg(c, 0, 1, v, 0);
}

/** BSWAP r (0F C8-CF). */
export function bswap(c: Cpu, i: Insn): void {
  const n = opcodeReg(i);
  if (i.osize === 8) {
    const lo = c.r[n << 1];
    c.r[n << 1] = swap32(c.r[(n << 1) + 1]);
    c.r[(n << 1) + 1] = swap32(lo);
  } else if (i.osize === 4) {
    c.r[n << 1] = swap32(c.r[n << 1]);
    c.r[(n << 1) + 1] = 0;
  } else {
    setReg(c, n, 2, 0, 0); // BSWAP of a 16-bit register is undefined; current CPUs give 0.
  }
}

function swap32(v: number): number {
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

/** MOVBE (0F 38 F0 load, F1 store): a move with the bytes reversed; memory operands only. */
export function movBe(c: Cpu, i: Insn): void {
  if (i.mod === 3) {
    raise(c, Vector.UD, -1);
    return;
  }
  const size = i.osize;
  const load = i.op === 0x2f0;
  const v = load ? readRm(c, i, size) : readRegOp(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const hi = c.hi;
  let lo: number;
  let outHi = 0;
  if (size === 2) lo = ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
  else if (size === 4) lo = swap32(v);
  else {
    lo = swap32(hi);
    outHi = swap32(v);
  }
  if (load) writeRegOp(c, i, size, lo, outHi);
  else writeRm(c, i, size, lo, outHi);
}

// ---- Stack ----------------------------------------------------------------------------------------

/** PUSH r (50-57). */
export function pushReg(c: Cpu, i: Insn): void {
  const n = opcodeReg(i);
  push(c, i.osize, getReg(c, n, i.osize), c.r[(n << 1) + 1]);
}

/** POP r (58-5F). */
export function popReg(c: Cpu, i: Insn): void {
  const v = pop(c, i.osize);
  if (c.stop & Stop.ABORT) return;
  setReg(c, opcodeReg(i), i.osize, v, c.hi);
}

/** PUSH imm (68, 6A). */
export function pushImm(c: Cpu, i: Insn): void {
  push(c, i.osize, i.osize === 2 ? i.imm & 0xffff : i.imm, i.imm >> 31);
}

/** PUSH r/m (FF /6). */
export function pushRm(c: Cpu, i: Insn): void {
  const v = readRm(c, i, i.osize);
  if (c.stop & Stop.ABORT) return;
  push(c, i.osize, v, c.hi);
}

/** POP r/m (8F /0): RSP is incremented before the destination address is computed. */
export function popRm(c: Cpu, i: Insn): void {
  const r8 = c.r[8];
  const r9 = c.r[9];
  const v = pop(c, i.osize);
  if (c.stop & Stop.ABORT) return;
  const hi = c.hi;
  writeRm(c, i, i.osize, v, hi);
  if (c.stop & Stop.ABORT) {
    c.r[8] = r8;
    c.r[9] = r9;
  }
}

/** PUSH ES/CS/SS/DS/FS/GS (06, 0E, 16, 1E, 0F A0, 0F A8). */
export function pushSeg(c: Cpu, i: Insn): void {
  const seg = i.op >= 0x100 ? (i.op === 0x1a0 ? Seg.FS : Seg.GS) : i.op >> 3;
  push(c, i.osize, c.segSel[seg], 0);
}

/** POP ES/SS/DS/FS/GS (07, 17, 1F, 0F A1, 0F A9). POP SS starts an interrupt shadow. */
export function popSeg(c: Cpu, i: Insn): void {
  const seg = i.op >= 0x100 ? (i.op === 0x1a1 ? Seg.FS : Seg.GS) : i.op >> 3;
  const r8 = c.r[8];
  const r9 = c.r[9];
  const v = pop(c, i.osize);
  if (c.stop & Stop.ABORT) return;
  if (!loadDataSeg(c, seg, v & 0xffff)) {
    c.r[8] = r8;
    c.r[9] = r9;
    return;
  }
  if (seg === Seg.SS) c.startShadow(1);
}

/** MOV r/m, Sreg (8C). */
export function movFromSeg(c: Cpu, i: Insn): void {
  const seg = i.reg & 7;
  if (seg > 5) {
    raise(c, Vector.UD, -1);
    return;
  }
  // To memory it is always 16 bits; to a register it zero-extends to the operand size.
  if (i.mod === 3) setReg(c, i.rm, i.osize === 2 ? 2 : 4, c.segSel[seg], 0);
  else writeRm(c, i, 2, c.segSel[seg], 0);
}

/** MOV Sreg, r/m (8E). Loading CS is #UD; loading SS starts an interrupt shadow. */
export function movToSeg(c: Cpu, i: Insn): void {
  const seg = i.reg & 7;
  if (seg > 5 || seg === Seg.CS) {
    raise(c, Vector.UD, -1);
    return;
  }
  const v = readRm(c, i, 2);
  if (c.stop & Stop.ABORT) return;
  if (loadDataSeg(c, seg, v) && seg === Seg.SS) c.startShadow(1);
}

/** LES, LDS (C4, C5), LSS, LFS, LGS (0F B2, B4, B5): a far pointer from memory. */
export function loadFarPointer(c: Cpu, i: Insn): void {
  if (i.mod === 3) {
    raise(c, Vector.UD, -1);
    return;
  }
  const seg =
    i.op === 0xc4
      ? Seg.ES
      : i.op === 0xc5
        ? Seg.DS
        : i.op === 0x1b2
          ? Seg.SS
          : i.op === 0x1b4
            ? Seg.FS
            : Seg.GS;
  const size = i.osize;
  const off = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const offHi = c.hi;
  const sel = c.read(c.ea + size, 2);
  if (c.stop & Stop.ABORT) return;
  if (!loadDataSeg(c, seg, sel)) return;
  writeRegOp(c, i, size, off, offHi);
}

/** PUSHA/PUSHAD (60). */
export function pusha(c: Cpu, i: Insn): void {
  const size = i.osize;
  const sp = getReg(c, 4, size);
  const r8 = c.r[8];
  for (let n = 0; n < 8; n++) {
    if (!push(c, size, n === 4 ? sp : getReg(c, n, size), 0)) {
      c.r[8] = r8;
      return;
    }
  }
}

const popaScratch = new Int32Array(8);

/** POPA/POPAD (61): the saved SP is skipped. */
export function popa(c: Cpu, i: Insn): void {
  const size = i.osize;
  const r8 = c.r[8];
  const vals = popaScratch;
  for (let n = 7; n >= 0; n--) {
    vals[n] = pop(c, size);
    if (c.stop & Stop.ABORT) {
      c.r[8] = r8;
      return;
    }
  }
  for (let n = 0; n < 8; n++) if (n !== 4) setReg(c, n, size, vals[n], 0);
}
