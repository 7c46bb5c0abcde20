/**
 * Control transfer: Jcc, JMP, CALL, RET near and far, LOOP/JCXZ, INT n/INT3/INTO/INT1, IRET in real,
 * protected and long mode, ENTER/LEAVE (SDM Vol. 2). Far transfers through call gates are in gates.ts; task
 * switches are not implemented yet and raise #GP.
 */
import type { Cpu } from './cpu.js';
import type { Insn } from './decode.js';
import { deliver, raise, Source, Vector } from './exceptions.js';
import { condition, getFlags, setFlags } from './flags.js';
import { farViaGate, namesSystemDescriptor } from './gates.js';
import {
  addSp,
  getReg,
  getSp,
  pop,
  push,
  readRm,
  reg64,
  setReg,
  setReg64,
  setSp,
  stackSize,
} from './operands.js';
import {
  Descriptor,
  isProtected,
  loadCodeSeg,
  loadDataSeg,
  loadRealSeg,
  readDescriptor,
  syncMode,
} from './segments.js';
import { Flag, Seg, SegAttr, Stop } from './state.js';
import { TaskReason, taskSwitch } from './tasks.js';

const TWO32 = 4294967296;
const CANON = 140737488355328;

/**
 * Sets the next RIP to `target` truncated to the operand size, after the CS limit check (outside 64-bit
 * mode) or the canonical check (in it). Returns false when it faulted.
 */
export function branch(c: Cpu, target: number, size: number): boolean {
  if (c.long64) {
    if (size !== 8) target = size === 4 ? target >>> 0 : target & 0xffff;
    if (target < -CANON || target >= CANON) {
      raise(c, Vector.GP, 0);
      return false;
    }
    c.nextIp = target;
    return true;
  }
  const t = size === 2 ? target & 0xffff : target >>> 0;
  if (t > c.segLimit[Seg.CS]) {
    raise(c, Vector.GP, 0);
    return false;
  }
  c.nextIp = t;
  return true;
}

/** A 64-bit immediate displacement as a number. */
function relTarget(c: Cpu, i: Insn): number {
  return c.nextIp + i.imm;
}

/** Jcc rel8/rel16/rel32 (70-7F, 0F 80-8F). */
export function jcc(c: Cpu, i: Insn): void {
  if (condition(c, i.op & 0xf)) branch(c, relTarget(c, i), i.osize);
}

/** JMP rel (E9, EB). */
export function jmpRel(c: Cpu, i: Insn): void {
  branch(c, relTarget(c, i), i.osize);
}

/** CALL rel (E8). */
export function callRel(c: Cpu, i: Insn): void {
  const ret = c.nextIp;
  const r8 = c.r[8];
  const r9 = c.r[9];
  if (!branch(c, relTarget(c, i), i.osize)) return;
  const hi = Math.floor(ret / TWO32);
  if (!push(c, i.osize, ret - hi * TWO32, hi)) {
    c.r[8] = r8;
    c.r[9] = r9;
  }
}

/** RET and RET imm16 (C3, C2). */
export function retNear(c: Cpu, i: Insn): void {
  const r8 = c.r[8];
  const r9 = c.r[9];
  const lo = pop(c, i.osize);
  if (c.stop & Stop.ABORT) return;
  const target = i.osize === 8 ? c.hi * TWO32 + (lo >>> 0) : lo >>> 0;
  if (!branch(c, target, i.osize)) {
    c.r[8] = r8;
    c.r[9] = r9;
    return;
  }
  if (i.op === 0xc2) addSp(c, i.imm & 0xffff);
}

/** Group 5's CALL/JMP near indirect (FF /2, /4) and far indirect (FF /3, /5). */
export function branchIndirect(c: Cpu, i: Insn): void {
  const r = i.reg & 7;
  const size = i.osize;
  if (r === 2 || r === 4) {
    const lo = readRm(c, i, size);
    if (c.stop & Stop.ABORT) return;
    const target = size === 8 ? c.hi * TWO32 + (lo >>> 0) : lo >>> 0;
    const ret = c.nextIp;
    const r8 = c.r[8];
    const r9 = c.r[9];
    if (!branch(c, target, size)) return;
    if (r === 2) {
      const hi = Math.floor(ret / TWO32);
      if (!push(c, size, ret - hi * TWO32, hi)) {
        c.r[8] = r8;
        c.r[9] = r9;
      }
    }
    return;
  }
  if (i.mod === 3) {
    raise(c, Vector.UD, -1);
    return;
  }
  const lo = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const off = size === 8 ? c.hi * TWO32 + (lo >>> 0) : lo >>> 0;
  const sel = c.read(c.ea + size, 2);
  if (c.stop & Stop.ABORT) return;
  farTransfer(c, sel, size === 2 ? off & 0xffff : off, size, r === 3);
}

/** JMP ptr16:16/32 (EA) and CALL ptr16:16/32 (9A). */
export function farDirect(c: Cpu, i: Insn): void {
  const size = i.osize;
  farTransfer(c, i.imm2 & 0xffff, size === 2 ? i.imm & 0xffff : i.imm >>> 0, size, i.op === 0x9a);
}

function farTransfer(c: Cpu, sel: number, off: number, size: number, isCall: boolean): void {
  const oldCs = c.segSel[Seg.CS];
  const ret = c.nextIp;
  if (isProtected(c) && namesSystemDescriptor(c, sel)) {
    farViaGate(c, sel, isCall, ret);
    return;
  }
  if (c.stop & Stop.ABORT) return;
  const r8 = c.r[8];
  const r9 = c.r[9];
  if (isCall) {
    const hi = Math.floor(ret / TWO32);
    if (!push(c, size, oldCs, 0) || !push(c, size, ret - hi * TWO32, hi)) {
      c.r[8] = r8;
      c.r[9] = r9;
      return;
    }
  }
  if (!isProtected(c)) {
    loadRealSeg(c, Seg.CS, sel);
    c.nextIp = off;
    c.stop |= Stop.RESYNC;
    return;
  }
  const saved = [c.segSel[1], c.segBase[1], c.segLimit[1], c.segAttr[1]];
  if (!loadCodeSeg(c, sel, c.cpl, false)) {
    c.r[8] = r8;
    c.r[9] = r9;
    return;
  }
  syncMode(c);
  if (!branch(c, off, c.long64 ? 8 : size)) {
    [c.segSel[1], c.segBase[1], c.segLimit[1], c.segAttr[1]] = saved;
    syncMode(c);
    c.r[8] = r8;
    c.r[9] = r9;
    return;
  }
  c.stop |= Stop.RESYNC;
}

/** RETF and RETF imm16 (CB, CA), to the same or an outer privilege level. */
export function retFar(c: Cpu, i: Insn): void {
  const size = i.osize;
  const r8 = c.r[8];
  const r9 = c.r[9];
  const lo = pop(c, size);
  const hi = c.hi;
  const sel = pop(c, size) & 0xffff;
  if (c.stop & Stop.ABORT) {
    c.r[8] = r8;
    c.r[9] = r9;
    return;
  }
  const off = size === 8 ? hi * TWO32 + (lo >>> 0) : size === 4 ? lo >>> 0 : lo & 0xffff;
  const imm = i.op === 0xca ? i.imm & 0xffff : 0;
  if (!isProtected(c)) {
    loadRealSeg(c, Seg.CS, sel);
    c.nextIp = off;
    addSp(c, imm);
    c.stop |= Stop.RESYNC;
    return;
  }
  const rpl = sel & 3;
  if (rpl < c.cpl) {
    raise(c, Vector.GP, sel & 0xfffc);
    c.r[8] = r8;
    c.r[9] = r9;
    return;
  }
  if (rpl === c.cpl) {
    if (!loadCodeSeg(c, sel, rpl, true)) {
      c.r[8] = r8;
      c.r[9] = r9;
      return;
    }
    syncMode(c);
    c.nextIp = off;
    addSp(c, imm);
    c.stop |= Stop.RESYNC;
    return;
  }
  addSp(c, imm);
  const spLo = pop(c, size);
  const spHi = c.hi;
  const ss = pop(c, size) & 0xffff;
  if (c.stop & Stop.ABORT) {
    c.r[8] = r8;
    c.r[9] = r9;
    return;
  }
  if (!returnOuter(c, sel, off, ss, spLo, spHi, size, r8, r9)) return;
  // RETF imm releases the parameters from the caller's (outer) stack too (SDM Vol. 2 RET).
  addSp(c, imm);
}

/** Completes a return to an outer privilege level: CS, then SS:RSP, then nulls data segments the new CPL may not use. */
function returnOuter(
  c: Cpu,
  sel: number,
  off: number,
  ss: number,
  spLo: number,
  spHi: number,
  size: number,
  r8: number,
  r9: number,
): boolean {
  const rpl = sel & 3;
  const savedCpl = c.cpl;
  // A bad SS faults with CS as it was (SDM Vol. 2 IRET/RET: every check comes before any segment changes).
  const csSel = c.segSel[Seg.CS];
  const csBase = c.segBase[Seg.CS];
  const csLimit = c.segLimit[Seg.CS];
  const csAttr = c.segAttr[Seg.CS];
  if (!loadCodeSeg(c, sel, rpl, true)) {
    c.r[8] = r8;
    c.r[9] = r9;
    return false;
  }
  c.cpl = rpl;
  const nullSsOk = c.efer & 0x400 && c.segAttr[Seg.CS] & SegAttr.L && rpl !== 3;
  if ((ss & 0xfffc) === 0 && nullSsOk) {
    c.segSel[Seg.SS] = ss;
    c.segAttr[Seg.SS] = SegAttr.UNUSABLE | (rpl << SegAttr.DPL_SHIFT);
  } else if (!loadDataSeg(c, Seg.SS, ss)) {
    c.cpl = savedCpl;
    c.segSel[Seg.CS] = csSel;
    c.segBase[Seg.CS] = csBase;
    c.segLimit[Seg.CS] = csLimit;
    c.segAttr[Seg.CS] = csAttr;
    syncMode(c);
    c.r[8] = r8;
    c.r[9] = r9;
    return false;
  }
  syncMode(c);
  if (size === 8) {
    c.r[8] = spLo;
    c.r[9] = spHi;
  } else setSp(c, spLo >>> 0);
  for (const seg of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) {
    const a = c.segAttr[seg];
    const dpl = (a & SegAttr.DPL_MASK) >> SegAttr.DPL_SHIFT;
    const conformingCode = (a & (SegAttr.CODE | SegAttr.CE)) === (SegAttr.CODE | SegAttr.CE);
    if (!(a & SegAttr.UNUSABLE) && !conformingCode && dpl < rpl) {
      c.segSel[seg] = 0;
      c.segAttr[seg] = SegAttr.UNUSABLE;
    }
  }
  syncMode(c);
  c.nextIp = off;
  c.stop |= Stop.RESYNC;
  return true;
}

/** LOOP, LOOPE, LOOPNE, JCXZ/JECXZ/JRCXZ (E0-E3): the counter has the address size. */
export function loop(c: Cpu, i: Insn): void {
  const asize = i.asize;
  if (i.op === 0xe3) {
    const zero = asize === 8 ? (c.r[2] | c.r[3]) === 0 : asize === 4 ? c.r[2] === 0 : (c.r[2] & 0xffff) === 0;
    if (zero) branch(c, relTarget(c, i), i.osize);
    return;
  }
  let zero: boolean;
  if (asize === 8) {
    if (c.r[2] === 0) c.r[3] = (c.r[3] - 1) | 0;
    c.r[2] = (c.r[2] - 1) | 0;
    zero = (c.r[2] | c.r[3]) === 0;
  } else if (asize === 4) {
    c.r[2] = (c.r[2] - 1) | 0;
    c.r[3] = 0;
    zero = c.r[2] === 0;
  } else {
    setReg(c, 1, 2, getReg(c, 1, 2) - 1, 0);
    zero = (c.r[2] & 0xffff) === 0;
  }
  let take = !zero;
  if (i.op === 0xe1) take = take && condition(c, 4);
  else if (i.op === 0xe0) take = take && !condition(c, 4);
  if (take) branch(c, relTarget(c, i), i.osize);
}

/** INT n (CD): through the IVT or IDT with the gate's DPL checked; in virtual-8086 mode IOPL must be 3. */
export function intN(c: Cpu, i: Insn): void {
  if (c.flags & Flag.VM && (c.flags & Flag.IOPL) !== Flag.IOPL) {
    raise(c, Vector.GP, 0);
    return;
  }
  softInterrupt(c, i.imm & 0xff, Source.SOFTWARE);
}

/** Delivers a software interrupt whose return address is the next instruction. */
export function softInterrupt(c: Cpu, vector: number, source: number): void {
  if (!deliver(c, vector, -1, c.nextIp, source)) {
    c.shutdown();
  }
}

/** INT3 (CC): #BP, or a DEBUG exit when the VMM set KVM_GUESTDBG_USE_SW_BP. */
export function int3(c: Cpu, _i: Insn): void {
  if (c.swBreakpoints) {
    c.debugExit(Vector.BP, c.csBaseLinear(c.rip));
    return;
  }
  softInterrupt(c, Vector.BP, Source.SOFTWARE);
}

/** INTO (CE): #OF when OF is set. */
export function into(c: Cpu, _i: Insn): void {
  if (condition(c, 0)) softInterrupt(c, Vector.OF, Source.SOFTWARE);
}

/** INT1/ICEBP (F1): a #DB trap without the gate's DPL check. */
export function int1(c: Cpu, _i: Insn): void {
  softInterrupt(c, Vector.DB, Source.EXCEPTION);
}

/** IRET/IRETD/IRETQ (CF). */
export function iret(c: Cpu, i: Insn): void {
  const size = i.osize;
  const r8 = c.r[8];
  const r9 = c.r[9];
  if (!isProtected(c)) {
    if (c.flags & Flag.VM && (c.flags & Flag.IOPL) !== Flag.IOPL) {
      raise(c, Vector.GP, 0);
      return;
    }
    const ip = pop(c, size);
    const cs = pop(c, size);
    const fl = pop(c, size);
    if (c.stop & Stop.ABORT) {
      c.r[8] = r8;
      c.r[9] = r9;
      return;
    }
    const old = getFlags(c);
    const keep =
      c.flags & Flag.VM ? Flag.VM | Flag.IOPL | Flag.VIP | Flag.VIF : Flag.VM | Flag.VIP | Flag.VIF;
    const mask = size === 2 ? 0xffff : 0x3fffff;
    setFlags(c, (old & (keep | ~mask)) | (fl & mask & ~keep));
    loadRealSeg(c, Seg.CS, cs);
    c.nextIp = size === 2 ? ip & 0xffff : ip >>> 0;
    c.nmiMasked = false;
    c.stop |= Stop.RESYNC;
    return;
  }
  if (c.flags & Flag.NT && !(c.efer & 0x400)) {
    // Return to the task that called or interrupted this one: its selector is the TSS back link.
    const link = c.read((c.segBase[Seg.TR] >>> 0) + 0, 2);
    if (c.stop & Stop.ABORT) return;
    taskSwitch(c, link, TaskReason.IRET, c.nextIp);
    return;
  }
  const lo = pop(c, size);
  const ipHi = c.hi;
  const cs = pop(c, size) & 0xffff;
  const fl = pop(c, size);
  if (c.stop & Stop.ABORT) {
    c.r[8] = r8;
    c.r[9] = r9;
    return;
  }
  const off = size === 8 ? ipHi * TWO32 + (lo >>> 0) : size === 4 ? lo >>> 0 : lo & 0xffff;
  const rpl = cs & 3;
  const cpl = c.cpl;
  if (rpl < cpl) {
    c.r[8] = r8;
    c.r[9] = r9;
    raise(c, Vector.GP, cs & 0xfffc);
    return;
  }
  const old = getFlags(c);
  let changeable = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT;
  if (size !== 2) changeable |= Flag.RF | Flag.AC | Flag.ID;
  if (cpl <= (old & Flag.IOPL) >> 12) changeable |= Flag.IF;
  if (cpl === 0) {
    changeable |= Flag.IOPL;
    if (size !== 2) changeable |= Flag.VIF | Flag.VIP;
  }
  const newFlags = (old & ~changeable) | (fl & changeable);
  const long = (c.efer & 0x400) !== 0;
  if (long && size === 8 && (off < -CANON || off >= CANON) && returnsTo64(c, cs)) {
    // A return to 64-bit code at a non-canonical RIP is #GP(0) on the IRET itself (SDM Vol. 2 IRET).
    c.r[8] = r8;
    c.r[9] = r9;
    raise(c, Vector.GP, 0);
    return;
  }
  if (fl & Flag.VM && cpl === 0 && size === 4 && !long) {
    returnToVm86(c, off, cs, fl);
    return;
  }
  if (rpl === cpl && !(long && c.long64)) {
    if (!loadCodeSeg(c, cs, rpl, true)) {
      c.r[8] = r8;
      c.r[9] = r9;
      return;
    }
    setFlags(c, newFlags);
    syncMode(c);
    c.nextIp = off;
    c.nmiMasked = false;
    c.stop |= Stop.RESYNC;
    return;
  }
  const spLo = pop(c, size);
  const spHi = c.hi;
  const ss = pop(c, size) & 0xffff;
  if (c.stop & Stop.ABORT) {
    c.r[8] = r8;
    c.r[9] = r9;
    return;
  }
  setFlags(c, newFlags);
  if (!returnOuter(c, cs, off, ss, spLo, spHi, size, r8, r9)) {
    setFlags(c, old);
    return;
  }
  if (size === 4 && c.long64 === false) setSp(c, spLo >>> 0);
  c.nmiMasked = false;
}

const returnDesc = new Descriptor();

/** Whether `cs` names a 64-bit code segment (L set), the mode an IRETQ to it returns to. */
function returnsTo64(c: Cpu, cs: number): boolean {
  if ((cs & 0xfffc) === 0 || !readDescriptor(c, cs, returnDesc)) return false;
  return (returnDesc.hi & 0x200000) !== 0 && (returnDesc.hi & 0x1800) === 0x1800;
}

/**
 * IRET from ring 0 to virtual-8086 mode (SDM Vol. 2 IRET, "RETURN-TO-VIRTUAL-8086-MODE"): after EIP, CS and
 * EFLAGS it pops ESP, SS, ES, DS, FS and GS, all loaded the real-mode way, and the CPU runs at CPL 3.
 */
function returnToVm86(c: Cpu, eip: number, cs: number, fl: number): void {
  const esp = pop(c, 4);
  const ss = pop(c, 4);
  const es = pop(c, 4);
  const ds = pop(c, 4);
  const fs = pop(c, 4);
  const gs = pop(c, 4);
  if (c.stop & Stop.ABORT) return;
  setFlags(c, (fl & 0x3f7fd5) | Flag.VM);
  const segs: [number, number][] = [
    [Seg.CS, cs],
    [Seg.SS, ss],
    [Seg.ES, es],
    [Seg.DS, ds],
    [Seg.FS, fs],
    [Seg.GS, gs],
  ];
  for (const [seg, sel] of segs) loadRealSeg(c, seg, sel & 0xffff);
  c.r[8] = esp;
  c.r[9] = 0;
  syncMode(c);
  c.nextIp = eip & 0xffff;
  c.nmiMasked = false;
  c.stop |= Stop.RESYNC;
}

/** BOUND r, m (62): #BR when the signed index in r is outside the two bounds at m and m + size. */
export function bound(c: Cpu, i: Insn): void {
  if (i.mod === 3) {
    raise(c, Vector.UD, -1);
    return;
  }
  const size = i.osize;
  const lower = readRm(c, i, size);
  if (c.stop & Stop.ABORT) return;
  const upper = c.read(c.ea + size, size);
  if (c.stop & Stop.ABORT) return;
  const sx = (v: number) => (size === 2 ? (v << 16) >> 16 : v | 0);
  const index = sx(getReg(c, i.reg, size));
  if (index < sx(lower) || index > sx(upper)) raise(c, Vector.BR, -1);
}

/** ENTER imm16, imm8 (C8). */
export function enter(c: Cpu, i: Insn): void {
  const size = i.osize;
  const alloc = i.imm & 0xffff;
  const level = i.imm2 & 31;
  const r8 = c.r[8];
  const r9 = c.r[9];
  const bpLo = getReg(c, 5, size);
  const bpHi = c.r[11];
  if (!push(c, size, bpLo, bpHi)) return;
  const frame = getSp(c);
  const sw = stackSize(c);
  for (let k = 1; k < level; k++) {
    const bp = sw === 8 ? reg64(c, 5) : sw === 4 ? c.r[10] >>> 0 : c.r[10] & 0xffff;
    const addr = bp - k * size;
    const v = c.read(c.segBase[Seg.SS] + (sw === 2 ? addr & 0xffff : sw === 4 ? addr >>> 0 : addr), size);
    if (c.stop & Stop.ABORT || !push(c, size, v, c.hi)) {
      c.r[8] = r8;
      c.r[9] = r9;
      return;
    }
  }
  if (level > 0) {
    const hi = Math.floor(frame / TWO32);
    if (!push(c, size, frame - hi * TWO32, hi)) {
      c.r[8] = r8;
      c.r[9] = r9;
      return;
    }
  }
  if (size === 8) setReg64(c, 5, frame);
  else setReg(c, 5, size, frame, 0);
  addSp(c, -alloc);
}

/** LEAVE (C9): RSP = RBP, then pop RBP. */
export function leave(c: Cpu, i: Insn): void {
  const r8 = c.r[8];
  const r9 = c.r[9];
  const sw = stackSize(c);
  if (sw === 8) {
    c.r[8] = c.r[10];
    c.r[9] = c.r[11];
  } else if (sw === 4) setSp(c, c.r[10] >>> 0);
  else setSp(c, c.r[10] & 0xffff);
  const v = pop(c, i.osize);
  if (c.stop & Stop.ABORT) {
    c.r[8] = r8;
    c.r[9] = r9;
    return;
  }
  setReg(c, 5, i.osize, v, c.hi);
}
