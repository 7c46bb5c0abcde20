/**
 * The x87/MMX/SSE register file as the CPU keeps it: in place in the legacy area of the XSAVE image
 * (`CpuState.xsave`, SDM Vol. 1 Table 10-2 and 13.4.1), so FXSAVE, XSAVE and KVM_GET_XSAVE are copies and
 * KVM_SET_XSAVE/KVM_SET_FPU need no conversion. ST0-ST7 sit in stack order as FXSAVE stores them: a push or
 * pop rotates the eight 16-byte slots (x87 code is rare next to SSE; the rotation keeps every reader simple).
 * MMX register n is physical register Rn, which is slot n once TOP is 0 (every MMX instruction sets TOP to 0).
 */
import type { CpuState } from '../state.js';

/** Byte offsets in the image and its scratch tail. */
export const Fx = {
  FCW: 0,
  FSW: 2,
  /** The abridged tag word: one bit per physical register, 1 = not empty. */
  FTW: 4,
  FOP: 6,
  FIP: 8,
  FCS: 12,
  FDP: 16,
  FDS: 20,
  MXCSR: 24,
  MXCSR_MASK: 28,
  ST0: 32,
  XMM0: 160,
  XSTATE_BV: 512,
  XCOMP_BV: 520,
  /** Scratch: a memory source operand (16 bytes). */
  SRC: 4096,
  /** Scratch: an intermediate result (16 bytes). */
  TMP: 4112,
  /** Scratch: a second intermediate (16 bytes). */
  TMP2: 4128,
} as const;

/** FSW bits (SDM Vol. 1 8.1.3). */
export const Fsw = {
  IE: 0x1,
  DE: 0x2,
  ZE: 0x4,
  OE: 0x8,
  UE: 0x10,
  PE: 0x20,
  SF: 0x40,
  ES: 0x80,
  C0: 0x100,
  C1: 0x200,
  C2: 0x400,
  TOP_SHIFT: 11,
  TOP_MASK: 0x3800,
  C3: 0x4000,
  B: 0x8000,
} as const;

/** MXCSR bits (SDM Vol. 1 10.2.3). */
export const Mxcsr = {
  IE: 0x1,
  DE: 0x2,
  ZE: 0x4,
  OE: 0x8,
  UE: 0x10,
  PE: 0x20,
  DAZ: 0x40,
  /** The exception masks: bits 7-12, in the order of the flags. */
  MASK_SHIFT: 7,
  RC_SHIFT: 13,
  FZ: 0x8000,
} as const;

/** MXCSR bits a guest may set (DAZ included): LDMXCSR/FXRSTOR with any other bit is #GP (SDM Vol. 1 11.6.6). */
export const MXCSR_MASK = 0xffff;

/** The reset and FNINIT value of FCW (SDM Vol. 1 8.1.5). */
export const FCW_INIT = 0x37f;

/** The reset value of MXCSR. */
export const MXCSR_INIT = 0x1f80;

/** Byte offset of XMM register n. */
export function xmmOff(n: number): number {
  return Fx.XMM0 + (n << 4);
}

/** The x87 stack top (FSW.TOP). */
export function top(c: CpuState): number {
  return (c.fxU16[Fx.FSW >> 1] >> 11) & 7;
}

/** Byte offset of ST(i). */
export function stOff(i: number): number {
  return Fx.ST0 + ((i & 7) << 4);
}

/** Whether physical register R(`phys`) is tagged non-empty. */
export function tagValid(c: CpuState, phys: number): boolean {
  return (c.fxU8[Fx.FTW] & (1 << (phys & 7))) !== 0;
}

/** Whether ST(i) is non-empty. */
export function stValid(c: CpuState, i: number): boolean {
  return tagValid(c, top(c) + i);
}

function setTop(c: CpuState, t: number): void {
  const k = Fx.FSW >> 1;
  c.fxU16[k] = (c.fxU16[k] & ~Fsw.TOP_MASK) | ((t & 7) << 11);
}

/**
 * Pushes a slot: TOP decrements, ST(i) becomes ST(i+1) and the new ST(0) is the old ST(7)'s physical register,
 * which the caller fills and tags.
 */
export function rotatePush(c: CpuState): void {
  const u = c.fxI32;
  const last = (Fx.ST0 + 7 * 16) >> 2;
  const a = u[last];
  const b = u[last + 1];
  const d = u[last + 2];
  const e = u[last + 3];
  c.fxU8.copyWithin(Fx.ST0 + 16, Fx.ST0, Fx.ST0 + 7 * 16);
  const first = Fx.ST0 >> 2;
  u[first] = a;
  u[first + 1] = b;
  u[first + 2] = d;
  u[first + 3] = e;
  setTop(c, top(c) - 1);
}

/** Pops: ST(0)'s register is tagged empty, TOP increments, its contents become ST(7). */
export function rotatePop(c: CpuState): void {
  c.fxU8[Fx.FTW] &= ~(1 << top(c));
  rotateDown(c);
}

/** Increments TOP without changing tags (FINCSTP), rotating the slots. */
export function rotateDown(c: CpuState): void {
  const u = c.fxI32;
  const first = Fx.ST0 >> 2;
  const a = u[first];
  const b = u[first + 1];
  const d = u[first + 2];
  const e = u[first + 3];
  c.fxU8.copyWithin(Fx.ST0, Fx.ST0 + 16, Fx.ST0 + 8 * 16);
  const last = (Fx.ST0 + 7 * 16) >> 2;
  u[last] = a;
  u[last + 1] = b;
  u[last + 2] = d;
  u[last + 3] = e;
  setTop(c, top(c) + 1);
}

/** Sets TOP to 0 by rotating, so slot n holds physical register Rn (MMX instructions, SDM Vol. 1 9.5.1). */
export function mmxEnter(c: CpuState): void {
  // Each step moves TOP one down with the slots following their physical registers; at most 7 steps, and
  // only when x87 and MMX code mix.
  while (top(c) !== 0) rotatePush(c);
  c.fxU8[Fx.FTW] = 0xff;
}

/** Tags physical register of ST(0) valid (after a push or a write). */
export function tagSt0(c: CpuState): void {
  c.fxU8[Fx.FTW] |= 1 << top(c);
}

/** FNINIT's x87 state (SDM Vol. 1 8.1.5 Table 8-2... FINIT): FCW 37F, FSW 0, all empty, FIP/FDP/FOP 0. */
export function x87Init(c: CpuState): void {
  const u16 = c.fxU16;
  // TOP goes to 0: rotate the slots so the physical registers keep their contents.
  while (top(c) !== 0) rotateDown(c);
  u16[Fx.FCW >> 1] = FCW_INIT;
  u16[Fx.FSW >> 1] = 0;
  c.fxU8[Fx.FTW] = 0;
  u16[Fx.FOP >> 1] = 0;
  c.fxI32[Fx.FIP >> 2] = 0;
  c.fxI32[(Fx.FIP >> 2) + 1] = 0;
  c.fxI32[Fx.FDP >> 2] = 0;
  c.fxI32[(Fx.FDP >> 2) + 1] = 0;
}
