/**
 * Whether an x87, MMX or SSE instruction may run, by CR0.EM/TS/MP/NE and CR4.OSFXSR (SDM Vol. 3A Table 2-2
 * "Action taken by x87 FPU instructions for different combinations of EM, MP and TS", Vol. 3A 12.1.3 for
 * SSE, Vol. 3A 12.6 for MMX): #UD when the OS did not enable the unit, #NM when CR0.TS asks it to save the
 * previous task's state first, #MF for a pending unmasked x87 exception (CR0.NE=1; with NE=0 it would go out
 * as FERR# to IRQ 13, which no emulated chipset wires, so it is dropped). Each check records the fault and
 * returns false.
 */
import { raise, Vector } from '../exceptions.js';
import { type CpuState, Cr0, Cr4 } from '../state.js';
import { Fsw, Fx } from './image.js';

/** SSE..SSE4.2 instructions (and FXSAVE-less MXCSR access). */
export function sseReady(c: CpuState): boolean {
  if ((c.cr0 & (Cr0.EM | Cr0.TS)) === 0 && (c.cr4 & Cr4.OSFXSR) !== 0) {
    // The SSE component is in use (XSTATE_BV bit 1, as KVM_GET_XSAVE reports it after the guest used SSE).
    c.fxU8[Fx.XSTATE_BV] |= 2;
    return true;
  }
  if (c.cr0 & Cr0.EM || !(c.cr4 & Cr4.OSFXSR)) raise(c, Vector.UD, -1);
  else raise(c, Vector.NM, -1);
  return false;
}

/** MMX instructions: EM is #UD, TS is #NM, a pending x87 exception is #MF (SDM Vol. 3A 12.6, Table 12-1). */
export function mmxReady(c: CpuState): boolean {
  if ((c.cr0 & (Cr0.EM | Cr0.TS)) === 0 && (c.fxU16[Fx.FSW >> 1] & Fsw.ES) === 0) {
    c.fxU8[Fx.XSTATE_BV] |= 1;
    return true;
  }
  if (c.cr0 & Cr0.EM) raise(c, Vector.UD, -1);
  else if (c.cr0 & Cr0.TS) raise(c, Vector.NM, -1);
  else if (c.cr0 & Cr0.NE) raise(c, Vector.MF, -1);
  else return true;
  return false;
}

/**
 * x87 instructions: EM or TS is #NM; a waiting instruction (not FN*) with FSW.ES set is #MF. `waiting` is
 * false for the no-wait control instructions (FNINIT, FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE).
 */
export function x87Ready(c: CpuState, waiting: boolean): boolean {
  if (c.cr0 & (Cr0.EM | Cr0.TS)) {
    raise(c, Vector.NM, -1);
    return false;
  }
  if (waiting && c.fxU16[Fx.FSW >> 1] & Fsw.ES && c.cr0 & Cr0.NE) {
    raise(c, Vector.MF, -1);
    return false;
  }
  c.fxU8[Fx.XSTATE_BV] |= 1;
  return true;
}

/** WAIT/FWAIT (9B): #NM only when both TS and MP are set; then pending x87 exceptions (SDM Vol. 3A Table 2-2). */
export function fwait(c: CpuState): void {
  if ((c.cr0 & (Cr0.TS | Cr0.MP)) === (Cr0.TS | Cr0.MP)) {
    raise(c, Vector.NM, -1);
    return;
  }
  if (c.fxU16[Fx.FSW >> 1] & Fsw.ES && c.cr0 & Cr0.NE) raise(c, Vector.MF, -1);
}

/** FXSAVE/FXRSTOR: EM or TS is #NM (SDM Vol. 2 FXSAVE "Protected Mode Exceptions"). */
export function fxsrReady(c: CpuState): boolean {
  if (c.cr0 & (Cr0.EM | Cr0.TS)) {
    raise(c, Vector.NM, -1);
    return false;
  }
  return true;
}

/** XSAVE family and XGETBV: CR4.OSXSAVE clear is #UD; XSAVE*'s TS is #NM (checked by the caller). */
export function osxsave(c: CpuState): boolean {
  if (c.cr4 & Cr4.OSXSAVE) return true;
  raise(c, Vector.UD, -1);
  return false;
}

/**
 * Folds SIMD floating-point exception flags into MXCSR and raises #XM (CR4.OSXMMEXCPT) or #UD for an
 * unmasked one (SDM Vol. 1 11.5.1); false means the destination must stay unchanged.
 */
export function simdExceptions(c: CpuState, flags: number): boolean {
  if (flags === 0) return true;
  const k = Fx.MXCSR >> 2;
  const m = c.fxI32[k];
  c.fxI32[k] = m | flags;
  if ((flags & ~(m >> 7) & 0x3f) === 0) return true;
  raise(c, c.cr4 & Cr4.OSXMMEXCPT ? Vector.XM : Vector.UD, -1);
  return false;
}
