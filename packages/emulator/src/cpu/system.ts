/**
 * System instructions (SDM Vol. 2 and Vol. 3A chapter 2): flag instructions, CLI/STI with the interrupt
 * shadow, PUSHF/POPF, HLT, CPUID, RDTSC, RDMSR/WRMSR, MOV to and from control and debug registers, the
 * descriptor-table instructions, INVLPG, CLTS, LMSW/SMSW, SWAPGS, SYSCALL/SYSRET, SYSENTER/SYSEXIT.
 */

import { verify } from './access-rights.js';
import type { Cpu } from './cpu.js';
import { cpuidLookup, cpuidOut } from './cpuid.js';
import { type Insn, InsnFlag } from './decode.js';
import { raise, Vector } from './exceptions.js';
import { getFlags, putCf, setFlags } from './flags.js';
import { guestHasXsave, xgetbv, xsetbv } from './fpu/save.js';
import { CpuExit } from './mmu.js';
import { readMsr, writeMsr } from './msr.js';
import {
  effectiveAddress,
  linearOf,
  pop,
  push,
  readRm,
  reg64,
  setReg,
  setReg64,
  writeRm,
} from './operands.js';
import { Descriptor, isProtected, readDescriptor, syncMode, sysWrite } from './segments.js';
import { CR4_SUPPORTED, Cr0, Cr4, Efer, Flag, Seg, SegAttr, Stop } from './state.js';

const TWO32 = 4294967296;

function needCpl0(c: Cpu): boolean {
  if (c.cpl !== 0) {
    raise(c, Vector.GP, 0);
    return false;
  }
  return true;
}

/** CLC, STC, CMC, CLD, STD (F8, F9, F5, FC, FD). */
export function flagOp(c: Cpu, i: Insn): void {
  switch (i.op) {
    case 0xf8:
      putCf(c, 0);
      return;
    case 0xf9:
      putCf(c, 1);
      return;
    case 0xf5:
      putCf(c, (getFlags(c) & 1) ^ 1);
      return;
    case 0xfc:
      c.flags &= ~Flag.DF;
      return;
    default:
      c.flags |= Flag.DF;
  }
}

/** Whether CLI/STI/POPF may change IF: CPL <= IOPL in protected mode; IOPL 3 in virtual-8086 mode. */
function ifAllowed(c: Cpu): boolean {
  if (!(c.cr0 & Cr0.PE)) return true;
  return c.cpl <= (c.flags & Flag.IOPL) >> 12;
}

/** CLI (FA). */
export function cli(c: Cpu, _i: Insn): void {
  if (!ifAllowed(c)) {
    raise(c, Vector.GP, 0);
    return;
  }
  c.flags &= ~Flag.IF;
}

/** STI (FB): interrupts stay blocked until the next instruction has run (SDM Vol. 2 STI). */
export function sti(c: Cpu, _i: Insn): void {
  if (!ifAllowed(c)) {
    raise(c, Vector.GP, 0);
    return;
  }
  if (!(c.flags & Flag.IF)) {
    c.flags |= Flag.IF;
    c.startShadow(2);
  }
  c.stop |= Stop.RESYNC;
}

/** PUSHF (9C): VM and RF read as 0 in the image. */
export function pushf(c: Cpu, i: Insn): void {
  if (c.flags & Flag.VM && (c.flags & Flag.IOPL) !== Flag.IOPL) {
    raise(c, Vector.GP, 0);
    return;
  }
  push(c, i.osize, getFlags(c) & ~(Flag.VM | Flag.RF), 0);
}

/** POPF (9D) with the privilege rules for IOPL and IF (SDM Vol. 2 POPF). */
export function popf(c: Cpu, i: Insn): void {
  if (c.flags & Flag.VM && (c.flags & Flag.IOPL) !== Flag.IOPL) {
    raise(c, Vector.GP, 0);
    return;
  }
  const v = pop(c, i.osize);
  if (c.stop & Stop.ABORT) return;
  const old = getFlags(c);
  let changeable = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT;
  if (i.osize !== 2) changeable |= Flag.AC | Flag.ID;
  if (c.cpl === 0 && !(c.flags & Flag.VM)) changeable |= Flag.IOPL;
  if (ifAllowed(c)) changeable |= Flag.IF;
  setFlags(c, (old & ~changeable) | (v & changeable));
  c.stop |= Stop.RESYNC;
}

/** LAHF (9F), SAHF (9E). */
export function lahfSahf(c: Cpu, i: Insn): void {
  if (i.op === 0x9f) {
    setReg(c, 16, 1, getFlags(c) & 0xff, 0);
    return;
  }
  const ah = (c.r[0] >> 8) & 0xd5;
  setFlags(c, (getFlags(c) & ~0xd5) | ah);
}

/** HLT (F4): the vCPU halts; without an in-kernel irqchip that is a HLT exit with RIP past the instruction. */
export function hlt(c: Cpu, _i: Insn): void {
  if (!needCpl0(c)) return;
  c.halted = true;
  c.exitKind = CpuExit.HLT;
  c.stop |= Stop.EXIT;
}

/** CPUID (0F A2): from the table set with KVM_SET_CPUID2. */
export function cpuid(c: Cpu, _i: Insn): void {
  const leaf = c.r[0];
  cpuidLookup(c.cpuid, leaf, c.r[2]);
  setReg(c, 0, 4, cpuidOut[0], 0);
  setReg(c, 3, 4, cpuidOut[1], 0);
  // Leaf 1 ECX.OSXSAVE mirrors CR4.OSXSAVE when XSAVE is offered, as KVM's kvm_update_cpuid_runtime keeps it.
  if (leaf === 1 && cpuidOut[2] & (1 << 26)) {
    cpuidOut[2] = c.cr4 & Cr4.OSXSAVE ? cpuidOut[2] | (1 << 27) : cpuidOut[2] & ~(1 << 27);
  }
  setReg(c, 1, 4, cpuidOut[2], 0);
  setReg(c, 2, 4, cpuidOut[3], 0);
}

/** RDTSC (0F 31): IA32_TSC: the virtual clock (or retired instructions), offset by IA32_TSC writes. */
export function rdtsc(c: Cpu, _i: Insn): void {
  if (c.cr4 & Cr4.TSD && c.cpl !== 0) {
    raise(c, Vector.GP, 0);
    return;
  }
  const t = readMsr(c, 0x10) ?? 0n;
  setReg(c, 0, 4, Number(t & 0xffffffffn), 0);
  setReg(c, 2, 4, Number(t >> 32n), 0);
}

/**
 * RDPMC (0F 33): #GP(0) outside ring 0 without CR4.PCE, and for every counter index, as KVM does when the
 * guest has no PMU (CPUID leaf 0AH advertises none).
 */
export function rdpmc(c: Cpu, _i: Insn): void {
  raise(c, Vector.GP, 0);
}

/** RDMSR (0F 32), WRMSR (0F 30). */
export function msrAccess(c: Cpu, i: Insn): void {
  if (!needCpl0(c)) return;
  const index = c.r[2] >>> 0;
  if (i.op === 0x132) {
    const v = readMsr(c, index);
    if (v === undefined) {
      raise(c, Vector.GP, 0);
      return;
    }
    setReg(c, 0, 4, Number(v & 0xffffffffn), 0);
    setReg(c, 2, 4, Number(v >> 32n), 0);
    return;
  }
  const value = (BigInt(c.r[4] >>> 0) << 32n) | BigInt(c.r[0] >>> 0);
  if (!writeMsr(c, index, value, false)) {
    raise(c, Vector.GP, 0);
    return;
  }
  c.stop |= Stop.RESYNC;
}

/** MOV r, CRn (0F 20) and MOV CRn, r (0F 22). */
export function movCr(c: Cpu, i: Insn): void {
  const n = i.reg;
  if (n !== 0 && n !== 2 && n !== 3 && n !== 4 && n !== 8) {
    raise(c, Vector.UD, -1);
    return;
  }
  if (!needCpl0(c)) return;
  const wide = c.long64;
  if (i.op === 0x120) {
    let v: number;
    if (n === 0) v = c.cr0;
    else if (n === 2) v = c.cr2;
    else if (n === 3) v = c.cr3;
    else if (n === 4) v = c.cr4;
    else v = c.devices !== null && c.irqchip ? c.devices.getCr8() : c.cr8;
    if (wide) setReg64(c, i.rm, v);
    else setReg(c, i.rm, 4, v, 0);
    return;
  }
  const lo = c.r[i.rm << 1];
  const hi = wide ? c.r[(i.rm << 1) + 1] : 0;
  if (!writeCr(c, n, lo, hi)) raise(c, Vector.GP, 0);
  else c.stop |= Stop.RESYNC;
}

/**
 * Whether the four PDPTEs at `cr3` may be loaded: a MOV to CR0, CR3 or CR4 that leaves PAE paging on loads them
 * and is #GP(0) if a present one has a reserved bit set (SDM Vol. 3A 4.4.1).
 */
function pdptesValid(c: Cpu, cr3: number): boolean {
  const base = (cr3 & 0xffffffe0) >>> 0;
  for (let k = 0; k < 4; k++) {
    const lo = c.phys32(base + k * 8);
    const hi = c.phys32(base + k * 8 + 4);
    // Bits 2:1 and 8:5 are reserved, and the address bits past MAXPHYADDR (40) and bit 63.
    if (lo & 1 && (lo & 0x1e6 || hi & 0xfff00 || hi < 0)) return false;
  }
  return true;
}

/** Writes a control register with the checks of SDM Vol. 3A 2.5 and 9.8.5; false means #GP(0). */
export function writeCr(c: Cpu, n: number, lo: number, hi: number): boolean {
  switch (n) {
    case 0: {
      if (hi !== 0) return false;
      const v = (lo | Cr0.ET) >>> 0;
      if (v & Cr0.PG && !(v & Cr0.PE)) return false;
      if (v & Cr0.NW && !(v & Cr0.CD)) return false;
      const enablingPaging = v & Cr0.PG && !(c.cr0 & Cr0.PG);
      const disablingPaging = !(v & Cr0.PG) && c.cr0 & Cr0.PG;
      if (enablingPaging && c.efer & Efer.LME) {
        if (!(c.cr4 & Cr4.PAE) || c.segAttr[Seg.CS] & SegAttr.L) return false;
        c.efer |= Efer.LMA;
      }
      if (disablingPaging && c.efer & Efer.LMA) {
        if (c.long64) return false;
        c.efer &= ~Efer.LMA;
      }
      if (enablingPaging && c.cr4 & Cr4.PAE && !(c.efer & Efer.LME) && !pdptesValid(c, c.cr3)) return false;
      if ((v ^ c.cr0) & 0xe005003f) c.flushTlb();
      c.cr0 = v;
      syncMode(c);
      return true;
    }
    case 2:
      c.cr2 = hi * TWO32 + (lo >>> 0);
      return true;
    case 3: {
      if (c.efer & Efer.LMA && hi & 0xffffff00) return false;
      if (!(c.efer & Efer.LMA) && c.cr0 & Cr0.PG && c.cr4 & Cr4.PAE && !pdptesValid(c, lo)) return false;
      c.cr3 = c.efer & Efer.LMA ? hi * TWO32 + (lo >>> 0) : lo >>> 0;
      c.flushTlb(false);
      return true;
    }
    case 4: {
      if (hi !== 0 || lo & ~CR4_SUPPORTED) return false;
      if (c.efer & Efer.LMA && !(lo & Cr4.PAE)) return false;
      // OSXSAVE only when the guest's CPUID offers XSAVE (KVM's kvm_is_valid_cr4).
      if (lo & Cr4.OSXSAVE && !guestHasXsave(c)) return false;
      const reloads = (lo ^ c.cr4) & (Cr4.PGE | Cr4.PAE | Cr4.PSE);
      if (reloads && lo & Cr4.PAE && c.cr0 & Cr0.PG && !(c.efer & Efer.LMA) && !pdptesValid(c, c.cr3))
        return false;
      if ((lo ^ c.cr4) & (Cr4.PGE | Cr4.PAE | Cr4.PSE)) c.flushTlb();
      c.cr4 = lo >>> 0;
      return true;
    }
    default:
      if (hi !== 0 || lo & ~0xf) return false;
      // With the in-kernel local APIC, CR8 is the TPR's priority class (SDM Vol. 3A 11.8.6.1).
      if (c.devices !== null && c.irqchip) c.devices.setCr8(lo & 0xf);
      else c.cr8 = lo & 0xf;
      return true;
  }
}

/** MOV r, DRn (0F 21) and MOV DRn, r (0F 23). */
export function movDr(c: Cpu, i: Insn): void {
  let n = i.reg;
  if (n > 7 || ((n === 4 || n === 5) && c.cr4 & Cr4.DE)) {
    raise(c, Vector.UD, -1);
    return;
  }
  if (!needCpl0(c)) return;
  if (n === 4 || n === 5) n += 2;
  const slot = n < 4 ? n : n - 2;
  const wide = c.long64;
  if (i.op === 0x121) {
    if (wide) setReg64(c, i.rm, c.dr[slot]);
    else setReg(c, i.rm, 4, c.dr[slot], 0);
    return;
  }
  const lo = c.r[i.rm << 1];
  const hi = wide ? c.r[(i.rm << 1) + 1] : 0;
  if (n >= 6 && hi !== 0) {
    raise(c, Vector.GP, 0);
    return;
  }
  if (n === 6) c.dr[slot] = ((lo | 0xffff0ff0) & ~0x1000) >>> 0;
  else if (n === 7) c.dr[slot] = ((lo | 0x400) & ~0xd800) >>> 0;
  else c.dr[slot] = hi * TWO32 + (lo >>> 0);
  c.stop |= Stop.RESYNC;
}

/** CLTS (0F 06). */
export function clts(c: Cpu, _i: Insn): void {
  if (!needCpl0(c)) return;
  c.cr0 &= ~Cr0.TS;
}

/** WBINVD, INVD (0F 09, 0F 08): no caches to write back. */
export function cacheOp(c: Cpu, _i: Insn): void {
  needCpl0(c);
}

/** UD2 (0F 0B) and every opcode without a handler. */
export function undefinedOpcode(c: Cpu, i: Insn): void {
  // An instruction longer than 15 bytes is #GP(0); anything else without a meaning is #UD.
  if (i.op === 0x1ff && i.flags & InsnFlag.LOCK) raise(c, Vector.GP, 0);
  else raise(c, Vector.UD, -1);
}

/** NOP forms: 0F 0D, 0F 18-1F (hint NOPs and prefetches), F3 90 PAUSE, 9B WAIT. */
export function nop(_c: Cpu, _i: Insn): void {}

const descScratch = new Descriptor();

/** Group 6 (0F 00): SLDT, STR, LLDT, LTR, VERR, VERW (access-rights.ts). */
export function group6(c: Cpu, i: Insn): void {
  if (!isProtected(c)) {
    raise(c, Vector.UD, -1);
    return;
  }
  const r = i.reg & 7;
  switch (r) {
    case 0:
    case 1: {
      const sel = c.segSel[r === 0 ? Seg.LDTR : Seg.TR];
      if (i.mod === 3) setReg(c, i.rm, i.osize === 2 ? 2 : i.osize, sel, 0);
      else writeRm(c, i, 2, sel, 0);
      return;
    }
    case 2:
    case 3: {
      if (!needCpl0(c)) return;
      const sel = readRm(c, i, 2);
      if (c.stop & Stop.ABORT) return;
      loadSystemSeg(c, r === 2 ? Seg.LDTR : Seg.TR, sel);
      return;
    }
    case 4:
    case 5:
      verify(c, i);
      return;
    default:
      raise(c, Vector.UD, -1);
  }
}

/** LLDT/LTR: load the LDT or TSS descriptor (16 bytes in long mode); LTR marks the TSS busy. */
function loadSystemSeg(c: Cpu, seg: number, sel: number): void {
  const isTr = seg === Seg.TR;
  if ((sel & 0xfffc) === 0) {
    if (isTr) {
      raise(c, Vector.GP, 0);
      return;
    }
    c.segSel[seg] = sel;
    c.segAttr[seg] = SegAttr.UNUSABLE;
    return;
  }
  if (sel & 4) {
    raise(c, Vector.GP, sel & 0xfffc);
    return;
  }
  const long = (c.efer & Efer.LMA) !== 0;
  const d = descScratch;
  if (!readDescriptor(c, sel, d, long)) {
    if (!(c.stop & Stop.ABORT)) raise(c, Vector.GP, sel & 0xfffc);
    return;
  }
  const type = d.attr & 0x1f;
  const ok = isTr ? type === 0x09 || (!long && type === 0x01) : type === 0x02;
  if (!ok) {
    raise(c, Vector.GP, sel & 0xfffc);
    return;
  }
  if (!d.present) {
    raise(c, Vector.NP, sel & 0xfffc);
    return;
  }
  if (isTr) {
    d.hi |= 0x200;
    sysWrite(c, d.addr + 4, 4, d.hi);
    if (c.stop & Stop.ABORT) return;
  }
  c.segSel[seg] = sel;
  c.segBase[seg] = d.base + (long ? d.baseHi * TWO32 : 0);
  c.segLimit[seg] = d.limit;
  c.segAttr[seg] = d.attr;
}

/** Group 7 (0F 01): SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, INVLPG, SWAPGS. */
export function group7(c: Cpu, i: Insn): void {
  const r = i.reg & 7;
  if (i.mod === 3) {
    const rm = i.rm & 7;
    if (r === 7 && rm === 0 && c.long64) {
      if (!needCpl0(c)) return;
      const gs = c.segBase[Seg.GS];
      c.segBase[Seg.GS] = c.kernelGsBase;
      c.kernelGsBase = gs;
      return;
    }
    if (r === 2 && rm < 2 && !(i.flags & (InsnFlag.OPSIZE | InsnFlag.REP | InsnFlag.REPNE))) {
      // XGETBV (0F 01 D0), XSETBV (0F 01 D1): fpu/save.ts.
      if (rm === 0) xgetbv(c);
      else xsetbv(c);
      return;
    }
    if (r === 4) {
      setReg(c, i.rm, i.osize, i.osize === 2 ? c.cr0 & 0xffff : c.cr0, 0);
      return;
    }
    if (r === 6) {
      lmsw(c, c.r[i.rm << 1] & 0xffff);
      return;
    }
    raise(c, Vector.UD, -1);
    return;
  }
  switch (r) {
    case 0:
    case 1: {
      const base = r === 0 ? c.gdtBase : c.idtBase;
      const limit = r === 0 ? c.gdtLimit : c.idtLimit;
      const baseSize = c.long64 ? 8 : 4;
      const lin = linearOf(c, i.seg, effectiveAddress(c, i), 2 + baseSize, true);
      if (c.stop & Stop.ABORT) return;
      if (!c.probeWrite(lin, 2) || !c.probeWrite(lin + 2, baseSize)) return;
      c.write(lin, 2, limit, 0);
      const hi = Math.floor(base / TWO32);
      if (baseSize === 8) c.write(lin + 2, 8, (base - hi * TWO32) | 0, hi);
      else c.write(lin + 2, 4, i.osize === 2 ? base & 0xffffff : base, 0);
      return;
    }
    case 2:
    case 3: {
      if (!needCpl0(c)) return;
      const baseSize = c.long64 ? 8 : 4;
      const lin = linearOf(c, i.seg, effectiveAddress(c, i), 2 + baseSize, false);
      if (c.stop & Stop.ABORT) return;
      const limit = c.read(lin, 2);
      const lo = c.read(lin + 2, baseSize);
      const hi = c.hi;
      if (c.stop & Stop.ABORT) return;
      let base = baseSize === 8 ? hi * TWO32 + (lo >>> 0) : lo >>> 0;
      if (i.osize === 2) base &= 0xffffff;
      if (c.long64 && (base < -140737488355328 || base >= 140737488355328)) {
        raise(c, Vector.GP, 0);
        return;
      }
      if (r === 2) {
        c.gdtBase = base;
        c.gdtLimit = limit;
      } else {
        c.idtBase = base;
        c.idtLimit = limit;
      }
      return;
    }
    case 4:
      writeRm(c, i, 2, c.cr0 & 0xffff, 0);
      return;
    case 6: {
      const v = readRm(c, i, 2);
      if (c.stop & Stop.ABORT) return;
      lmsw(c, v);
      return;
    }
    case 7: {
      if (!needCpl0(c)) return;
      const ea = effectiveAddress(c, i);
      const lin = c.long64 ? (i.seg >= Seg.FS ? c.segBase[i.seg] : 0) + ea : (c.segBase[i.seg] + ea) >>> 0;
      // Only a page the run loop may be fetching from needs it to look again; a data page's next access walks.
      if (c.flushPage(lin)) c.stop |= Stop.RESYNC;
      return;
    }
    default:
      raise(c, Vector.UD, -1);
  }
}

/** LMSW: loads PE (set only), MP, EM and TS. */
function lmsw(c: Cpu, v: number): void {
  if (!needCpl0(c)) return;
  const bits = (v & 0xf) | (c.cr0 & Cr0.PE);
  c.cr0 = ((c.cr0 & ~0xf) | bits) >>> 0;
  syncMode(c);
  c.stop |= Stop.RESYNC;
}

/** Loads CS and SS with the flat descriptors SYSCALL/SYSRET/SYSENTER/SYSEXIT imply (SDM Vol. 2). */
function flatSegments(c: Cpu, cs: number, ss: number, dpl: number, long: boolean): void {
  c.segSel[Seg.CS] = cs;
  c.segBase[Seg.CS] = 0;
  c.segLimit[Seg.CS] = 0xffffffff;
  c.segAttr[Seg.CS] =
    0xb | SegAttr.S | (dpl << SegAttr.DPL_SHIFT) | SegAttr.P | SegAttr.G | (long ? SegAttr.L : SegAttr.DB);
  c.segSel[Seg.SS] = ss;
  c.segBase[Seg.SS] = 0;
  c.segLimit[Seg.SS] = 0xffffffff;
  c.segAttr[Seg.SS] = 0x3 | SegAttr.S | (dpl << SegAttr.DPL_SHIFT) | SegAttr.P | SegAttr.G | SegAttr.DB;
  syncMode(c);
  c.stop |= Stop.RESYNC;
}

/** SYSCALL (0F 05): 64-bit mode with EFER.SCE (Intel: #UD elsewhere). */
export function syscall(c: Cpu, _i: Insn): void {
  if (!(c.efer & Efer.SCE) || !c.long64) {
    raise(c, Vector.UD, -1);
    return;
  }
  const ret = c.nextIp;
  setReg64(c, 1, ret);
  const flags = getFlags(c);
  setReg(c, 11, 8, flags & ~Flag.RF, 0);
  const sel = Number((c.star >> 32n) & 0xffffn);
  flatSegments(c, sel & 0xfffc, (sel + 8) & 0xfffc, 0, true);
  setFlags(c, flags & ~Number(c.sfmask & 0x3fffffn) & ~Flag.RF);
  c.nextIp = Number(BigInt.asIntN(64, c.lstar));
}

/** SYSRET (0F 07): back to CPL 3 in 64-bit (REX.W) or compatibility mode. */
export function sysret(c: Cpu, i: Insn): void {
  if (!(c.efer & Efer.SCE)) {
    raise(c, Vector.UD, -1);
    return;
  }
  if (c.cpl !== 0 || !c.long64) {
    raise(c, Vector.GP, 0);
    return;
  }
  const to64 = i.osize === 8;
  const target = to64 ? reg64(c, 1) : c.r[2] >>> 0;
  if (to64 && (target < -140737488355328 || target >= 140737488355328)) {
    raise(c, Vector.GP, 0);
    return;
  }
  const sel = Number((c.star >> 48n) & 0xffffn);
  const r11 = c.r[22];
  flatSegments(c, ((to64 ? sel + 16 : sel) & 0xfffc) | 3, ((sel + 8) & 0xfffc) | 3, 3, to64);
  setFlags(c, (r11 & 0x3c7fd7) | Flag.FIXED);
  c.nextIp = target;
}

/** SYSENTER (0F 34). */
export function sysenter(c: Cpu, _i: Insn): void {
  if (!(c.cr0 & Cr0.PE) || (c.sysenterCs & 0xfffc) === 0) {
    raise(c, Vector.GP, 0);
    return;
  }
  const long = (c.efer & Efer.LMA) !== 0;
  const cs = c.sysenterCs & 0xfffc;
  setFlags(c, getFlags(c) & ~(Flag.VM | Flag.IF | Flag.RF));
  flatSegments(c, cs, cs + 8, 0, long);
  if (long) setReg64(c, 4, c.sysenterEsp);
  else setReg(c, 4, 4, c.sysenterEsp, 0);
  c.nextIp = long ? c.sysenterEip : c.sysenterEip >>> 0;
}

/** SYSEXIT (0F 35). */
export function sysexit(c: Cpu, i: Insn): void {
  if (!(c.cr0 & Cr0.PE) || c.cpl !== 0 || (c.sysenterCs & 0xfffc) === 0) {
    raise(c, Vector.GP, 0);
    return;
  }
  const to64 = i.osize === 8;
  const base = c.sysenterCs & 0xfffc;
  flatSegments(c, (base + (to64 ? 32 : 16)) | 3, (base + (to64 ? 40 : 24)) | 3, 3, to64);
  if (to64) {
    c.nextIp = reg64(c, 2);
    c.r[8] = c.r[2];
    c.r[9] = c.r[3];
  } else {
    c.nextIp = c.r[4] >>> 0;
    setReg(c, 4, 4, c.r[2], 0);
  }
}
