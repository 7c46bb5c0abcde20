/**
 * The x87 register stack and status word (SDM Vol. 1 8.1): 80-bit values in the XSAVE image's ST slots
 * (image.ts), tags, condition codes, stack faults (8.5.1.1) and exception flags with the masks of FCW
 * (8.4-8.5): a masked exception gets its default result, an unmasked one sets FSW.ES and leaves the
 * destination alone, and the next waiting x87 instruction raises #MF (checks.ts).
 */
import type { Cpu } from '../cpu.js';
import { f80Out, f80ToNumber, numberToF80 } from './float80.js';
import { Fsw, Fx, rotatePop, rotatePush, stOff, tagSt0, top } from './image.js';

/** Reads the 80-bit value at image offset `o` as a double. */
export function valueAt(c: Cpu, o: number): number {
  return f80ToNumber(c.fxI32[o >> 2], c.fxI32[(o >> 2) + 1], c.fxU16[(o + 8) >> 1]);
}

/** Writes a double as an 80-bit value at image offset `o`. */
export function storeValue(c: Cpu, o: number, v: number): void {
  numberToF80(v);
  storeRaw(c, o, f80Out.lo, f80Out.hi, f80Out.se);
}

/** Writes raw 80-bit fields at image offset `o`. */
export function storeRaw(c: Cpu, o: number, lo: number, hi: number, se: number): void {
  c.fxI32[o >> 2] = lo;
  c.fxI32[(o >> 2) + 1] = hi;
  c.fxU16[(o + 8) >> 1] = se;
}

/** Copies an 80-bit value between image offsets. */
export function copyRaw(c: Cpu, to: number, from: number): void {
  storeRaw(c, to, c.fxI32[from >> 2], c.fxI32[(from >> 2) + 1], c.fxU16[(from + 8) >> 1]);
}

export function seAt(c: Cpu, o: number): number {
  return c.fxU16[(o + 8) >> 1];
}

/** Whether the 80-bit value at `o` is a NaN (exponent all ones, fraction bits set). */
export function isNaNAt(c: Cpu, o: number): boolean {
  return (
    (seAt(c, o) & 0x7fff) === 0x7fff && ((c.fxI32[(o >> 2) + 1] & 0x7fffffff) !== 0 || c.fxI32[o >> 2] !== 0)
  );
}

/**
 * Whether the value at `o` has a format the x87 no longer supports (SDM Vol. 1 8.2.2): an exponent other than
 * 0 with the integer bit clear (unnormals, pseudo-zeros, pseudo-NaNs, pseudo-infinities). Operations on one
 * raise #IA like a signaling NaN.
 */
export function isUnsupportedAt(c: Cpu, o: number): boolean {
  return (seAt(c, o) & 0x7fff) !== 0 && c.fxI32[(o >> 2) + 1] >= 0;
}

/** Whether the value at `o` is a signaling NaN (bit 62 of the significand clear). */
export function isSNaNAt(c: Cpu, o: number): boolean {
  return isNaNAt(c, o) && (c.fxI32[(o >> 2) + 1] & 0x40000000) === 0;
}

/** Whether the value at `o` is a denormal (exponent 0, significand not 0). */
export function isDenormalAt(c: Cpu, o: number): boolean {
  return (seAt(c, o) & 0x7fff) === 0 && (c.fxI32[o >> 2] !== 0 || c.fxI32[(o >> 2) + 1] !== 0);
}

/** Writes the "real indefinite" QNaN (sign 1, exponent all ones, significand C000000000000000H). */
export function storeIndefinite(c: Cpu, o: number): void {
  storeRaw(c, o, 0, 0xc0000000 | 0, 0xffff);
}

export function fcw(c: Cpu): number {
  return c.fxU16[Fx.FCW >> 1];
}

export function fsw(c: Cpu): number {
  return c.fxU16[Fx.FSW >> 1];
}

/** Sets the condition codes C0-C3 (bits as in FSW) and leaves the rest of FSW. */
export function setCc(c: Cpu, bits: number): void {
  const k = Fx.FSW >> 1;
  c.fxU16[k] = (c.fxU16[k] & ~(Fsw.C0 | Fsw.C1 | Fsw.C2 | Fsw.C3)) | bits;
}

/**
 * Records exception flags (FSW bits 0-6). Returns true when every one is masked (the default result goes to
 * the destination), false when one is unmasked: FSW.ES and B are set and the destination must stay.
 */
export function x87Flags(c: Cpu, flags: number): boolean {
  if (flags === 0) return true;
  const k = Fx.FSW >> 1;
  let s = c.fxU16[k] | flags;
  const unmasked = flags & ~c.fxU16[Fx.FCW >> 1] & 0x3f;
  if (unmasked) {
    s |= Fsw.ES | Fsw.B;
    // FOP and FDP are kept for an instruction that raised an unmasked exception (x87.ts `note`).
    c.fxU16[Fx.FOP >> 1] = pendingFop.op;
    const hi = Math.floor(pendingFop.dp / 4294967296);
    c.fxI32[Fx.FDP >> 2] = (pendingFop.dp - hi * 4294967296) | 0;
    c.fxI32[(Fx.FDP >> 2) + 1] = hi | 0;
  }
  c.fxU16[k] = s;
  return unmasked === 0;
}

/** The opcode and data pointer of the current x87 instruction, stored only if it raises an unmasked exception. */
export const pendingFop = { op: 0, dp: 0 };

/** Whether ST(i) is tagged empty. */
export function stEmpty(c: Cpu, i: number): boolean {
  return (c.fxU8[Fx.FTW] & (1 << ((top(c) + i) & 7))) === 0;
}

/**
 * A stack underflow (reading an empty register): #IS. Returns true when masked, after writing the real
 * indefinite to ST(`dest`) when `dest` >= 0 (SDM Vol. 1 8.5.1.1).
 */
export function stackUnderflow(c: Cpu, dest: number): boolean {
  setCc(c, fsw(c) & (Fsw.C0 | Fsw.C2 | Fsw.C3));
  if (!x87Flags(c, Fsw.IE | Fsw.SF)) return false;
  if (dest >= 0) {
    storeIndefinite(c, stOff(dest));
    c.fxU8[Fx.FTW] |= 1 << ((top(c) + dest) & 7);
  }
  return true;
}

/** Pushes an empty slot for a load: false (and #IS with C1 = 1) when ST(7) is in use and the fault unmasked. */
export function pushSlot(c: Cpu): boolean {
  if (!stEmpty(c, 7)) {
    setCc(c, (fsw(c) & (Fsw.C0 | Fsw.C2 | Fsw.C3)) | Fsw.C1);
    if (!x87Flags(c, Fsw.IE | Fsw.SF)) return false;
    rotatePush(c);
    storeIndefinite(c, stOff(0));
    tagSt0(c);
    return false;
  }
  rotatePush(c);
  tagSt0(c);
  return true;
}

/** Pops ST(0). */
export function popSt(c: Cpu): void {
  rotatePop(c);
}

/** Tags ST(i) valid. */
export function tagValid(c: Cpu, i: number): void {
  c.fxU8[Fx.FTW] |= 1 << ((top(c) + i) & 7);
}

/** Clears C1 (most arithmetic instructions: "C1 set to 0 if stack underflow occurred; else rounding"). */
export function clearC1(c: Cpu): void {
  c.fxU16[Fx.FSW >> 1] &= ~Fsw.C1;
}

/** The full 16-bit tag word (FSTENV/FSAVE) from the abridged one and the register contents (SDM 8.1.7). */
export function fullTagWord(c: Cpu): number {
  const t = top(c);
  const abridged = c.fxU8[Fx.FTW];
  let word = 0;
  for (let phys = 0; phys < 8; phys++) {
    let tag: number;
    if (!(abridged & (1 << phys))) tag = 3;
    else {
      const o = stOff((phys - t) & 7);
      const exp = seAt(c, o) & 0x7fff;
      const lo = c.fxI32[o >> 2];
      const hi = c.fxI32[(o >> 2) + 1];
      if (exp === 0x7fff) tag = 2;
      else if (exp === 0) tag = lo === 0 && hi === 0 ? 1 : 2;
      else tag = hi < 0 ? 0 : 2;
    }
    word |= tag << (2 * phys);
  }
  return word;
}

/** The abridged tag byte from a full tag word: a register is in use unless its tag is 11B. */
export function abridgedTags(word: number): number {
  let b = 0;
  for (let phys = 0; phys < 8; phys++) if (((word >> (2 * phys)) & 3) !== 3) b |= 1 << phys;
  return b;
}

export { f80ToNumber };
