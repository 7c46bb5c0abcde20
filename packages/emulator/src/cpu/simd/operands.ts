/**
 * Operands of MMX and SSE instructions: mandatory prefixes (SDM Vol. 2 2.1.2: F2 and F3 select before 66),
 * register operands as byte offsets into the XSAVE image (fpu/image.ts), and memory operands copied through
 * the image's scratch tail, so every lane operation reads and writes one set of typed arrays and never
 * allocates. Legacy-SSE 128-bit memory operands must be 16-byte aligned (#GP(0)) unless the instruction says
 * otherwise (SDM Vol. 1 11.6.5... Vol. 2 2.4 "Alignment").
 */
import type { Cpu } from '../cpu.js';
import { type Insn, InsnFlag } from '../decode.js';
import { raise, Vector } from '../exceptions.js';
import { Fx, mmxEnter, xmmOff } from '../fpu/image.js';
import { effectiveAddress, linearOf } from '../operands.js';
import { ARITH_FLAGS, Stop } from '../state.js';

/** The mandatory prefix of an SSE opcode: none, 66, F3, F2. */
export const Pfx = { NONE: 0, P66: 1, F3: 2, F2: 3 } as const;

/** Which mandatory prefix selects the instruction (the last of F2/F3 wins, both win over 66). */
export function prefixOf(i: Insn): number {
  const f = i.flags;
  return f & InsnFlag.REPNE ? Pfx.F2 : f & InsnFlag.REP ? Pfx.F3 : f & InsnFlag.OPSIZE ? Pfx.P66 : Pfx.NONE;
}

/** Byte offset of MMX register n (REX.B/R do not extend MMX register numbers). */
export function mmOff(n: number): number {
  return Fx.ST0 + ((n & 7) << 4);
}

/** Marks MMX register n written: its exponent word reads 1s (SDM Vol. 1 9.5.1). */
export function mmWritten(c: Cpu, n: number): void {
  c.fxU16[(mmOff(n) + 8) >> 1] = 0xffff;
}

/** Prepares the x87 state for an MMX instruction: TOP = 0, every register valid. */
export function mmxUse(c: Cpu): void {
  if (c.fxU8[Fx.FTW] !== 0xff || (c.fxU16[Fx.FSW >> 1] & 0x3800) !== 0) mmxEnter(c);
}

/** The linear address of the memory operand of `size` bytes, checked; NaN after a fault. */
export function memLinear(c: Cpu, i: Insn, size: number, write: boolean, align: number): number {
  const lin = linearOf(c, i.seg, effectiveAddress(c, i), size, write);
  if (c.stop & Stop.ABORT) return Number.NaN;
  if (align !== 0 && (lin & (align - 1)) !== 0) {
    raise(c, Vector.GP, 0);
    return Number.NaN;
  }
  return lin;
}

/** Reads `size` bytes (4, 8 or 16) of memory at `lin` into the image at byte offset `off`; false on a fault. */
export function readMem(c: Cpu, lin: number, off: number, size: number): boolean {
  const w = c.fxI32;
  const k = off >> 2;
  if (size === 4) {
    w[k] = c.read(lin, 4);
  } else {
    w[k] = c.read(lin, 8);
    w[k + 1] = c.hi;
    if (size === 16) {
      w[k + 2] = c.read(lin + 8, 8);
      w[k + 3] = c.hi;
    }
  }
  return (c.stop & Stop.ABORT) === 0;
}

/** Writes `size` bytes (1, 2, 4, 8 or 16) from image offset `off` to memory at `lin`, all or nothing. */
export function writeMem(c: Cpu, lin: number, off: number, size: number): boolean {
  const w = c.fxI32;
  const k = off >> 2;
  if (size === 16) {
    if (!c.probeWrite(lin, 16)) return false;
    c.write(lin, 8, w[k], w[k + 1]);
    c.write(lin + 8, 8, w[k + 2], w[k + 3]);
  } else if (size === 8) c.write(lin, 8, w[k], w[k + 1]);
  else if (size === 4) c.write(lin, 4, w[k], 0);
  else if (size === 2) c.write(lin, 2, c.fxU16[off >> 1], 0);
  else c.write(lin, 1, c.fxU8[off], 0);
  return (c.stop & Stop.ABORT) === 0;
}

/**
 * The XMM source operand (r/m): its register's offset, or the memory operand of `size` bytes copied to
 * scratch. `align` 16 checks a legacy-SSE m128's alignment. -1 after a fault.
 */
export function xmmSrc(c: Cpu, i: Insn, size: number, align: number): number {
  if (i.mod === 3) return xmmOff(i.rm);
  const lin = memLinear(c, i, size, false, align);
  if (Number.isNaN(lin)) return -1;
  return readMem(c, lin, Fx.SRC, size) ? Fx.SRC : -1;
}

/** The MMX source operand (r/m): its register's offset or 8 (or `size`) bytes of memory in scratch. */
export function mmSrc(c: Cpu, i: Insn, size: number): number {
  if (i.mod === 3) return mmOff(i.rm);
  const lin = memLinear(c, i, size, false, 0);
  if (Number.isNaN(lin)) return -1;
  return readMem(c, lin, Fx.SRC, size) ? Fx.SRC : -1;
}

/** Stores `size` bytes at image offset `off` to the r/m memory operand. */
export function storeRm(c: Cpu, i: Insn, off: number, size: number, align: number): void {
  const lin = memLinear(c, i, size, true, align);
  if (Number.isNaN(lin)) return;
  writeMem(c, lin, off, size);
}

/** Copies 16 bytes within the image. */
export function copy16(c: Cpu, dst: number, src: number): void {
  const w = c.fxI32;
  const d = dst >> 2;
  const s = src >> 2;
  w[d] = w[s];
  w[d + 1] = w[s + 1];
  w[d + 2] = w[s + 2];
  w[d + 3] = w[s + 3];
}

/** Copies 8 bytes within the image. */
export function copy8(c: Cpu, dst: number, src: number): void {
  const w = c.fxI32;
  w[dst >> 2] = w[src >> 2];
  w[(dst >> 2) + 1] = w[(src >> 2) + 1];
}

/** Sets the six arithmetic flags to `f` eagerly (COMIS, PTEST, PCMPxSTRx, POPCNT): nothing stays lazy. */
export function setArithFlags(c: Cpu, f: number): void {
  c.lazyMask = 0;
  c.flags = (c.flags & ~ARITH_FLAGS) | (f & ARITH_FLAGS);
}
