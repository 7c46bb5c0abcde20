/**
 * Saving and restoring the x87/SSE state: FXSAVE/FXRSTOR (SDM Vol. 2, layout Vol. 1 Table 10-2), XSAVE/
 * XRSTOR/XSAVEOPT for the x87 and SSE components (Vol. 1 13.4-13.8, standard format only), XGETBV/XSETBV,
 * LDMXCSR/STMXCSR, and the rest of group 15 (0F AE: fences, CLFLUSH). The live state is the XSAVE image
 * (image.ts), so a save copies its legacy area out and a restore copies a checked copy in.
 */
import type { Cpu } from '../cpu.js';
import { guestHas } from '../cpuid.js';
import { type Insn, InsnFlag } from '../decode.js';
import { raise, Vector } from '../exceptions.js';
import { effectiveAddress, linearOf } from '../operands.js';
import { Cr0, Stop } from '../state.js';
import { fxsrReady, osxsave, sseReady } from './checks.js';
import { FCW_INIT, Fx, MXCSR_MASK } from './image.js';

/** A staging copy of a memory image being restored (checked before anything changes). */
const stage = new Int32Array(144);
const stage8 = new Uint8Array(stage.buffer);
const stage16 = new Uint16Array(stage.buffer);

/** The number of XMM registers FXSAVE/XSAVE cover: 16 in 64-bit mode, else 8. */
function xmmCount(c: Cpu): number {
  return c.long64 ? 16 : 8;
}

/** The checked, aligned linear address of a save area of `size` bytes; NaN after a fault. */
function area(c: Cpu, i: Insn, size: number, align: number, write: boolean): number {
  const lin = linearOf(c, i.seg, effectiveAddress(c, i), size, write);
  if (c.stop & Stop.ABORT) return Number.NaN;
  if ((lin & (align - 1)) !== 0) {
    raise(c, Vector.GP, 0);
    return Number.NaN;
  }
  if (write && !c.probeWrite(lin, size)) return Number.NaN;
  return lin;
}

/** Writes image words [from, to) (byte offsets, multiples of 8) to memory at `lin` + the same offset. */
function storeRange(c: Cpu, lin: number, from: number, to: number): void {
  const w = c.fxI32;
  for (let o = from; o < to; o += 8) c.write(lin + o, 8, w[o >> 2], w[(o >> 2) + 1]);
}

/** Reads memory [lin + from, lin + to) into the staging copy at the same offsets; false after a fault. */
function loadRange(c: Cpu, lin: number, from: number, to: number): boolean {
  for (let o = from; o < to; o += 8) {
    stage[o >> 2] = c.read(lin + o, 8);
    stage[(o >> 2) + 1] = c.hi;
    if (c.stop & Stop.ABORT) return false;
  }
  return true;
}

/** Writes the x87 part of the legacy area (FCW..FDS and ST0-7) in the 32-bit (`wide` false) or 64-bit form. */
function storeX87(c: Cpu, lin: number, wide: boolean): void {
  const w = c.fxI32;
  const u16 = c.fxU16;
  c.write(lin, 4, u16[0] | (u16[1] << 16), 0);
  // FTW (abridged) and a reserved byte, then FOP.
  c.write(lin + 4, 4, c.fxU8[Fx.FTW] | (u16[Fx.FOP >> 1] << 16), 0);
  if (wide) {
    c.write(lin + 8, 8, w[2], w[3]);
    c.write(lin + 16, 8, w[4], w[5]);
  } else {
    // FCS and FDS are deprecated (stored as 0), as on processors with CPUID.(7,0):EBX[13].
    c.write(lin + 8, 8, w[2], 0);
    c.write(lin + 16, 8, w[4], 0);
  }
  storeRange(c, lin, Fx.ST0, Fx.XMM0);
}

/** Writes MXCSR, MXCSR_MASK and the XMM registers. */
function storeSse(c: Cpu, lin: number): void {
  c.write(lin + Fx.MXCSR, 8, c.fxI32[Fx.MXCSR >> 2], MXCSR_MASK);
  storeRange(c, lin, Fx.XMM0, Fx.XMM0 + 16 * xmmCount(c));
}

/** Copies the staged x87 part into the image. */
function commitX87(c: Cpu, wide: boolean): void {
  const w = c.fxI32;
  const u16 = c.fxU16;
  u16[0] = stage16[0];
  u16[1] = stage16[1];
  c.fxU8[Fx.FTW] = stage8[4];
  u16[Fx.FOP >> 1] = stage16[3] & 0x7ff;
  w[2] = stage[2];
  w[3] = wide ? stage[3] : 0;
  w[4] = stage[4];
  w[5] = wide ? stage[5] : 0;
  for (let o = Fx.ST0 >> 2; o < Fx.XMM0 >> 2; o++) w[o] = stage[o];
  // FSW.ES/B follow the restored exception bits and masks.
  syncEs(c);
}

/** Sets FSW.ES (and B) when an exception flag is unmasked in FCW (SDM Vol. 1 8.1.3.1). */
export function syncEs(c: Cpu): void {
  const u16 = c.fxU16;
  const pending = u16[1] & ~u16[0] & 0x3f;
  u16[1] = pending ? u16[1] | 0x8080 : u16[1] & ~0x8080;
}

function commitSse(c: Cpu): void {
  const w = c.fxI32;
  for (let o = Fx.XMM0 >> 2; o < (Fx.XMM0 + 16 * xmmCount(c)) >> 2; o++) w[o] = stage[o];
}

/** The x87 component's initial state (XRSTOR with XSTATE_BV[0] = 0, SDM Vol. 1 13.6). */
function initX87(c: Cpu): void {
  const w = c.fxI32;
  c.fxU16[0] = FCW_INIT;
  c.fxU16[1] = 0;
  c.fxU8[Fx.FTW] = 0;
  c.fxU16[Fx.FOP >> 1] = 0;
  for (let o = 2; o < 6; o++) w[o] = 0;
  for (let o = Fx.ST0 >> 2; o < Fx.XMM0 >> 2; o++) w[o] = 0;
}

function initSse(c: Cpu): void {
  const w = c.fxI32;
  for (let o = Fx.XMM0 >> 2; o < (Fx.XMM0 + 16 * xmmCount(c)) >> 2; o++) w[o] = 0;
}

/** FXSAVE / FXSAVE64 m512. */
function fxsave(c: Cpu, i: Insn): void {
  if (!fxsrReady(c)) return;
  const lin = area(c, i, 512, 16, true);
  if (Number.isNaN(lin)) return;
  storeX87(c, lin, i.osize === 8);
  storeSse(c, lin);
}

/** FXRSTOR / FXRSTOR64 m512: #GP(0) for reserved MXCSR bits, nothing changed then. */
function fxrstor(c: Cpu, i: Insn): void {
  if (!fxsrReady(c)) return;
  const lin = area(c, i, 512, 16, false);
  if (Number.isNaN(lin)) return;
  if (!loadRange(c, lin, 0, Fx.XMM0 + 16 * xmmCount(c))) return;
  if (stage[Fx.MXCSR >> 2] & ~MXCSR_MASK) {
    raise(c, Vector.GP, 0);
    return;
  }
  commitX87(c, i.osize === 8);
  c.fxI32[Fx.MXCSR >> 2] = stage[Fx.MXCSR >> 2];
  commitSse(c);
}

/** The requested-feature bitmap of XSAVE/XRSTOR: EDX:EAX & XCR0 (only bits 0 and 1 exist here). */
function rfbm(c: Cpu): number {
  return c.r[0] & c.xcr0 & 3;
}

/** XSAVE / XSAVE64 / XSAVEOPT (standard format): components in RFBM, then XSTATE_BV. */
function xsave(c: Cpu, i: Insn): void {
  if (!osxsave(c)) return;
  if (c.cr0 & Cr0.TS) {
    raise(c, Vector.NM, -1);
    return;
  }
  const lin = area(c, i, 576, 64, true);
  if (Number.isNaN(lin)) return;
  const req = rfbm(c);
  if (req & 1) storeX87(c, lin, i.osize === 8);
  if (req & 2) storeSse(c, lin);
  // XSTATE_BV: the requested components are marked in use; other bits stay as they were in memory.
  const bv = c.read(lin + Fx.XSTATE_BV, 4);
  if (c.stop & Stop.ABORT) return;
  c.write(lin + Fx.XSTATE_BV, 4, (bv & ~req) | req, 0);
  c.xsave[Fx.XSTATE_BV] |= req;
}

/** XRSTOR / XRSTOR64 (standard format). */
function xrstor(c: Cpu, i: Insn): void {
  if (!osxsave(c)) return;
  if (c.cr0 & Cr0.TS) {
    raise(c, Vector.NM, -1);
    return;
  }
  const lin = area(c, i, 576, 64, false);
  if (Number.isNaN(lin)) return;
  if (!loadRange(c, lin, 0, 576)) return;
  const bvLo = stage[Fx.XSTATE_BV >> 2];
  const bvHi = stage[(Fx.XSTATE_BV >> 2) + 1];
  // #GP: XSTATE_BV beyond XCR0, a compacted image (XSAVEC is not offered), or reserved header bytes set.
  let bad = (bvLo & ~c.xcr0) !== 0 || bvHi !== 0;
  for (let o = Fx.XCOMP_BV >> 2; o < 576 >> 2; o++) if (stage[o] !== 0) bad = true;
  const req = rfbm(c);
  if (req & 2 && stage[Fx.MXCSR >> 2] & ~MXCSR_MASK) bad = true;
  if (bad) {
    raise(c, Vector.GP, 0);
    return;
  }
  if (req & 1) {
    if (bvLo & 1) commitX87(c, i.osize === 8);
    else initX87(c);
  }
  if (req & 2) {
    c.fxI32[Fx.MXCSR >> 2] = stage[Fx.MXCSR >> 2];
    if (bvLo & 2) commitSse(c);
    else initSse(c);
  }
  c.xsave[Fx.XSTATE_BV] = (c.xsave[Fx.XSTATE_BV] & ~req) | (bvLo & req);
}

/** Group 15 (0F AE) without a mandatory prefix. */
export function group15(c: Cpu, i: Insn): void {
  const r = i.reg & 7;
  if (i.flags & (InsnFlag.OPSIZE | InsnFlag.REP | InsnFlag.REPNE)) {
    // RDFSBASE and kin (F3), CLWB/CLFLUSHOPT (66), ... are not offered.
    raise(c, Vector.UD, -1);
    return;
  }
  if (i.mod === 3) {
    // LFENCE, MFENCE, SFENCE: one CPU, in-order memory; nothing to wait for.
    if (r < 5) raise(c, Vector.UD, -1);
    return;
  }
  switch (r) {
    case 0:
      fxsave(c, i);
      return;
    case 1:
      fxrstor(c, i);
      return;
    case 2: {
      if (!sseReady(c)) return;
      const lin = linearOf(c, i.seg, effectiveAddress(c, i), 4, false);
      if (c.stop & Stop.ABORT) return;
      const v = c.read(lin, 4);
      if (c.stop & Stop.ABORT) return;
      if (v & ~MXCSR_MASK) {
        raise(c, Vector.GP, 0);
        return;
      }
      c.fxI32[Fx.MXCSR >> 2] = v;
      return;
    }
    case 3: {
      if (!sseReady(c)) return;
      const lin = linearOf(c, i.seg, effectiveAddress(c, i), 4, true);
      if (c.stop & Stop.ABORT) return;
      c.write(lin, 4, c.fxI32[Fx.MXCSR >> 2], 0);
      return;
    }
    case 4:
    case 6:
      xsave(c, i);
      return;
    case 5:
      xrstor(c, i);
      return;
    default: {
      // CLFLUSH: checks the address like a byte load; there is no cache to flush.
      linearOf(c, i.seg, effectiveAddress(c, i), 1, false);
    }
  }
}

/** XGETBV (0F 01 D0): XCR0 in EDX:EAX; #GP(0) for any other ECX (XGETBV with ECX=1 is not offered). */
export function xgetbv(c: Cpu): void {
  if (!osxsave(c)) return;
  if (c.r[2] !== 0) {
    raise(c, Vector.GP, 0);
    return;
  }
  c.r[0] = c.xcr0;
  c.r[1] = 0;
  c.r[4] = 0;
  c.r[5] = 0;
}

/**
 * XSETBV (0F 01 D1): CPL 0, ECX 0, and a value with x87 set and no component the guest's CPUID leaf 0xD
 * does not offer (KVM's `__kvm_set_xcr`); else #GP(0).
 */
export function xsetbv(c: Cpu): void {
  if (!osxsave(c)) return;
  if (c.cpl !== 0 || c.r[2] !== 0) {
    raise(c, Vector.GP, 0);
    return;
  }
  const lo = c.r[0];
  const hi = c.r[4];
  const leafD = c.cpuid.find((e) => e.function === 0xd && e.index === 0);
  const allowed = 1 | (leafD ? leafD.eax & 3 : 0);
  if (hi !== 0 || !(lo & 1) || lo & ~allowed) {
    raise(c, Vector.GP, 0);
    return;
  }
  c.xcr0 = lo;
}

/** Whether the guest's CPUID offers XSAVE (CR4.OSXSAVE may be set only then, as KVM checks). */
export function guestHasXsave(c: Cpu): boolean {
  return guestHas(c.cpuid, 1, 2, 1 << 26);
}
