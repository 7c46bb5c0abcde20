/**
 * Segmentation: descriptor loads with the protection checks of SDM Vol. 3A chapter 5 and the MOV/POP/LDS
 * pages of Vol. 2, the hidden descriptor caches as KVM_SET_SREGS sets them, and the mode the code segment
 * selects (real, 16/32-bit protected, virtual-8086, 64-bit, compatibility).
 */
import type { Cpu } from './cpu.js';
import { Descriptor } from './descriptor.js';
import { raise, Vector } from './exceptions.js';
import { CodeMode, Cr0, Efer, Flag, Seg, SegAttr } from './state.js';

export { Descriptor };

/** Bits of `Cpu.segAcc`: what a data access through the segment may do outside 64-bit mode. */
export const SegAcc = { READ: 1, WRITE: 2, EXPAND_DOWN: 4 } as const;

/** Whether the CPU is in protected mode and not virtual-8086 mode. */
export function isProtected(c: Cpu): boolean {
  return (c.cr0 & Cr0.PE) !== 0 && (c.flags & Flag.VM) === 0;
}

/** Recomputes the cached access rights of one data segment from its attributes. */
export function syncSegAccess(c: Cpu, seg: number): void {
  if (!isProtected(c)) {
    c.segAcc[seg] = SegAcc.READ | SegAcc.WRITE;
    return;
  }
  const a = c.segAttr[seg];
  if (a & SegAttr.UNUSABLE || !(a & SegAttr.P) || !(a & SegAttr.S)) {
    c.segAcc[seg] = 0;
  } else if (a & SegAttr.CODE) {
    c.segAcc[seg] = a & SegAttr.RW ? SegAcc.READ : 0;
  } else {
    c.segAcc[seg] =
      SegAcc.READ | (a & SegAttr.RW ? SegAcc.WRITE : 0) | (a & SegAttr.CE ? SegAcc.EXPAND_DOWN : 0);
  }
}

/**
 * Recomputes everything derived from CS, SS, CR0 and EFER: decode mode, 64-bit mode, CPL (SS.DPL, as KVM
 * reports it), segment access rights and the TLB's privilege set.
 */
export function syncMode(c: Cpu): void {
  const cs = c.segAttr[Seg.CS];
  c.long64 = (c.efer & Efer.LMA) !== 0 && (cs & SegAttr.L) !== 0;
  if (c.long64) c.codeMode = CodeMode.M64;
  else if (c.flags & Flag.VM) c.codeMode = CodeMode.M16;
  else c.codeMode = cs & SegAttr.DB ? CodeMode.M32 : CodeMode.M16;
  if (!(c.cr0 & Cr0.PE)) c.cpl = 0;
  else if (c.flags & Flag.VM) c.cpl = 3;
  else c.cpl = (c.segAttr[Seg.SS] & SegAttr.DPL_MASK) >> SegAttr.DPL_SHIFT;
  for (let s = 0; s < 6; s++) syncSegAccess(c, s);
  c.syncPrivilege();
}

/** Loads a segment as real mode and virtual-8086 mode do: base = selector * 16. */
export function loadRealSeg(c: Cpu, seg: number, sel: number): void {
  c.segSel[seg] = sel & 0xffff;
  c.segBase[seg] = (sel & 0xffff) << 4;
  if (c.flags & Flag.VM) {
    c.segLimit[seg] = 0xffff;
    c.segAttr[seg] = 0xf3 | (seg === Seg.CS ? SegAttr.CODE : 0);
  } else if (!(c.segAttr[seg] & SegAttr.P) || c.segAttr[seg] & SegAttr.UNUSABLE) {
    c.segAttr[seg] = 0x93 | (seg === Seg.CS ? SegAttr.CODE : 0);
  }
  syncSegAccess(c, seg);
}

/**
 * Reads the descriptor for `sel` from the GDT or LDT into `out` (supervisor reads). Returns false when the
 * selector is outside the table (the caller raises #GP(sel)) or the read faulted (fault recorded).
 */
export function readDescriptor(c: Cpu, sel: number, out: Descriptor, wide = false): boolean {
  const ldt = (sel & 4) !== 0;
  const base = ldt ? c.segBase[Seg.LDTR] : c.gdtBase;
  const limit = ldt ? c.segLimit[Seg.LDTR] : c.gdtLimit;
  if (ldt && c.segAttr[Seg.LDTR] & SegAttr.UNUSABLE) return false;
  const off = sel & 0xfff8;
  if (off + (wide ? 15 : 7) > limit) return false;
  out.addr = base + off;
  out.lo = sysRead(c, out.addr, 4);
  out.hi = sysRead(c, out.addr + 4, 4);
  out.baseHi = wide ? sysRead(c, out.addr + 8, 4) : 0;
  return c.stop === 0 || (c.stop & 8) === 0;
}

/** A supervisor read at a linear address (descriptor tables, TSS, IDT): CPL 0 for the page walk. */
export function sysRead(c: Cpu, lin: number, size: number): number {
  const cpl = c.cpl;
  if (cpl === 3) {
    c.cpl = 0;
    c.syncPrivilege();
  }
  const v = c.read(c.long64 || c.efer & Efer.LMA ? lin : lin >>> 0, size);
  if (cpl === 3) {
    c.cpl = 3;
    c.syncPrivilege();
  }
  return v;
}

/** A supervisor write at a linear address (accessed and busy bits). */
export function sysWrite(c: Cpu, lin: number, size: number, value: number): void {
  const cpl = c.cpl;
  if (cpl === 3) {
    c.cpl = 0;
    c.syncPrivilege();
  }
  c.write(c.efer & Efer.LMA ? lin : lin >>> 0, size, value, 0);
  if (cpl === 3) {
    c.cpl = 3;
    c.syncPrivilege();
  }
}

/** Puts a descriptor into a segment's hidden cache. */
export function cacheDescriptor(c: Cpu, seg: number, sel: number, d: Descriptor): void {
  c.segSel[seg] = sel;
  c.segBase[seg] = d.base + (d.attr & SegAttr.S ? 0 : d.baseHi * 4294967296);
  c.segLimit[seg] = d.limit;
  c.segAttr[seg] = d.attr;
}

/** Sets a code/data descriptor's accessed bit in memory, as the processor does on a load. */
function setAccessed(c: Cpu, d: Descriptor): void {
  if (!(d.hi & 0x100)) {
    d.hi |= 0x100;
    sysWrite(c, d.addr + 4, 4, d.hi);
  }
}

const scratch = new Descriptor();

/**
 * MOV/POP/LDS to a data segment register or SS in any mode, with the checks of SDM Vol. 2 MOV. Returns false
 * when it faulted (recorded).
 */
export function loadDataSeg(c: Cpu, seg: number, sel: number): boolean {
  sel &= 0xffff;
  if (!isProtected(c)) {
    loadRealSeg(c, seg, sel);
    return true;
  }
  if ((sel & 0xfffc) === 0) {
    if (seg === Seg.SS && !(c.long64 && c.cpl !== 3)) return fail(c, Vector.GP, 0);
    c.segSel[seg] = sel;
    c.segAttr[seg] = SegAttr.UNUSABLE;
    c.segBase[seg] = seg >= Seg.FS && c.long64 ? c.segBase[seg] : 0;
    c.segLimit[seg] = 0;
    syncSegAccess(c, seg);
    return true;
  }
  const d = scratch;
  if (!readDescriptor(c, sel, d)) return c.stop & 8 ? false : fail(c, Vector.GP, sel & 0xfffc);
  const a = d.attr;
  const rpl = sel & 3;
  if (seg === Seg.SS) {
    if (rpl !== c.cpl || d.dpl !== c.cpl || !(a & SegAttr.S) || a & SegAttr.CODE || !(a & SegAttr.RW)) {
      return fail(c, Vector.GP, sel & 0xfffc);
    }
    if (!d.present) return fail(c, Vector.SS, sel & 0xfffc);
  } else {
    if (!(a & SegAttr.S) || (a & SegAttr.CODE && !(a & SegAttr.RW))) return fail(c, Vector.GP, sel & 0xfffc);
    const conformingCode = (a & (SegAttr.CODE | SegAttr.CE)) === (SegAttr.CODE | SegAttr.CE);
    if (!conformingCode && (rpl > d.dpl || c.cpl > d.dpl)) return fail(c, Vector.GP, sel & 0xfffc);
    if (!d.present) return fail(c, Vector.NP, sel & 0xfffc);
  }
  setAccessed(c, d);
  cacheDescriptor(c, seg, sel, d);
  c.segAttr[seg] |= SegAttr.ACCESSED;
  syncSegAccess(c, seg);
  if (seg === Seg.SS) syncMode(c);
  return true;
}

function fail(c: Cpu, vector: number, error: number): false {
  raise(c, vector, error);
  return false;
}

/**
 * Loads CS for a far JMP/CALL/RET or IRET to a code segment at privilege `newCpl` (protected mode; no call
 * gates or task switches yet: those raise #GP). Returns false when it faulted.
 */
export function loadCodeSeg(c: Cpu, sel: number, newCpl: number, isReturn: boolean): boolean {
  sel &= 0xffff;
  if ((sel & 0xfffc) === 0) return fail(c, Vector.GP, 0);
  const d = scratch;
  if (!readDescriptor(c, sel, d)) return c.stop & 8 ? false : fail(c, Vector.GP, sel & 0xfffc);
  const a = d.attr;
  if (!(a & SegAttr.S) || !(a & SegAttr.CODE)) return fail(c, Vector.GP, sel & 0xfffc);
  const conforming = (a & SegAttr.CE) !== 0;
  if (isReturn) {
    if ((sel & 3) < c.cpl || (conforming ? d.dpl > (sel & 3) : d.dpl !== (sel & 3))) {
      return fail(c, Vector.GP, sel & 0xfffc);
    }
  } else if (conforming ? d.dpl > c.cpl : (sel & 3) > c.cpl || d.dpl !== c.cpl) {
    return fail(c, Vector.GP, sel & 0xfffc);
  }
  if (!d.present) return fail(c, Vector.NP, sel & 0xfffc);
  if (c.efer & Efer.LMA && a & SegAttr.L && a & SegAttr.DB) return fail(c, Vector.GP, sel & 0xfffc);
  setAccessed(c, d);
  cacheDescriptor(c, Seg.CS, (sel & 0xfffc) | newCpl, d);
  c.segAttr[Seg.CS] |= SegAttr.ACCESSED;
  return true;
}
