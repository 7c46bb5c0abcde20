/**
 * Exceptions and interrupts. Handlers never throw: they `raise` a fault, which records it and stops the
 * instruction; the run loop then calls `deliverFault` on its cold path. Delivery goes through the IVT in real
 * mode, the IDT in protected mode (interrupt and trap gates, privilege change with the stack from the TSS)
 * and the long-mode IDT (IST stacks). A fault during delivery becomes a double fault by the table of SDM
 * Vol. 3A 6.15 (Table 6-5), and a fault while delivering a double fault is a triple fault: shutdown.
 */
import type { Cpu } from './cpu.js';
import { getFlags, setFlags } from './flags.js';
import { getSp, push, setSp } from './operands.js';
import { cacheDescriptor, Descriptor, loadRealSeg, readDescriptor, syncMode, sysRead } from './segments.js';
import { Efer, Flag, Seg, SegAttr, Stop } from './state.js';
import { pushTaskError, TaskReason, taskSwitch } from './tasks.js';

/** Exception vectors (SDM Vol. 3A Table 6-1). */
export const Vector = {
  DE: 0,
  DB: 1,
  NMI: 2,
  BP: 3,
  OF: 4,
  BR: 5,
  UD: 6,
  NM: 7,
  DF: 8,
  TS: 10,
  NP: 11,
  SS: 12,
  GP: 13,
  PF: 14,
  MF: 16,
  AC: 17,
  MC: 18,
  XM: 19,
} as const;

/** Vectors that push an error code. */
const HAS_ERROR = new Set<number>([8, 10, 11, 12, 13, 14, 17]);

/**
 * Records a fault for the current instruction: it will not retire, and the loop delivers the fault. The first
 * fault of an instruction wins.
 */
export function raise(
  c: { stop: number; faultVector: number; faultError: number },
  vector: number,
  error: number,
): void {
  if (c.stop & Stop.ABORT) return;
  c.faultVector = vector;
  c.faultError = HAS_ERROR.has(vector) ? error : -1;
  c.stop |= Stop.FAULT | Stop.ABORT;
}

/** How an event reaches the CPU: it decides the DPL check (software) and the EXT bit of error codes. */
export const Source = { EXCEPTION: 0, SOFTWARE: 1, EXTERNAL: 2 } as const;

function isContributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

const TWO32 = 4294967296;
const gate = new Descriptor();
const target = new Descriptor();
const stackDesc = new Descriptor();

/**
 * Delivers the fault recorded by `raise` (faults return to the faulting instruction at `c.rip`). Returns
 * false on a triple fault: the CPU shuts down.
 */
export function deliverFault(c: Cpu): boolean {
  return deliver(c, c.faultVector, c.faultError, c.rip, Source.EXCEPTION);
}

/**
 * Delivers an event with the double/triple-fault rules; on success RIP (and `nextIp`) is the handler. Returns
 * false on a triple fault.
 */
export function deliver(c: Cpu, vector: number, error: number, returnIp: number, source: number): boolean {
  let v = vector;
  let e = error;
  let src = source;
  let ip = returnIp;
  for (let attempt = 0; attempt < 3; attempt++) {
    c.stop &= ~(Stop.FAULT | Stop.ABORT);
    if (deliverOnce(c, v, e, ip, src)) return true;
    // A fault while delivering INT n/INT3/INTO is a fault of that instruction: its frame points at it.
    if (src === Source.SOFTWARE) ip = c.rip;
    const second = c.faultVector;
    const secondError = c.faultError;
    c.stop &= ~(Stop.FAULT | Stop.ABORT);
    if (v === Vector.DF) return false;
    const first = v;
    // The double-fault classes (SDM Vol. 3A Table 6-5) pair two exceptions; INT n and external interrupts on
    // an exception's vector are not that exception, so a fault delivering them is simply delivered.
    if (
      src === Source.EXCEPTION &&
      ((isContributory(first) && isContributory(second)) ||
        (first === Vector.PF && (isContributory(second) || second === Vector.PF)))
    ) {
      v = Vector.DF;
      e = 0;
    } else {
      v = second;
      e = secondError;
    }
    src = Source.EXCEPTION;
  }
  return false;
}

/** The state an event delivery changes before it can fault, kept to undo it (one instance, reused). */
const saved = {
  rsp: 0,
  rspHi: 0,
  cs: new Float64Array(4),
  ss: new Float64Array(4),
  flags: 0,
};

function save(c: Cpu): void {
  saved.rsp = c.r[8];
  saved.rspHi = c.r[9];
  saved.cs[0] = c.segSel[Seg.CS];
  saved.cs[1] = c.segBase[Seg.CS];
  saved.cs[2] = c.segLimit[Seg.CS];
  saved.cs[3] = c.segAttr[Seg.CS];
  saved.ss[0] = c.segSel[Seg.SS];
  saved.ss[1] = c.segBase[Seg.SS];
  saved.ss[2] = c.segLimit[Seg.SS];
  saved.ss[3] = c.segAttr[Seg.SS];
}

function restore(c: Cpu): void {
  c.r[8] = saved.rsp;
  c.r[9] = saved.rspHi;
  c.segSel[Seg.CS] = saved.cs[0];
  c.segBase[Seg.CS] = saved.cs[1];
  c.segLimit[Seg.CS] = saved.cs[2];
  c.segAttr[Seg.CS] = saved.cs[3];
  c.segSel[Seg.SS] = saved.ss[0];
  c.segBase[Seg.SS] = saved.ss[1];
  c.segLimit[Seg.SS] = saved.ss[2];
  c.segAttr[Seg.SS] = saved.ss[3];
  syncMode(c);
}

function failWith(c: Cpu, vector: number, error: number): false {
  const raiseFn = raise;
  raiseFn(c, vector, error);
  return false;
}

function deliverOnce(c: Cpu, vector: number, error: number, returnIp: number, source: number): boolean {
  const flags = getFlags(c);
  if (!(c.cr0 & 1)) return deliverReal(c, vector, returnIp, flags);
  const ext = source === Source.EXTERNAL ? 1 : 0;
  const long = (c.efer & Efer.LMA) !== 0;
  const entry = long ? vector * 16 : vector * 8;
  if (entry + (long ? 15 : 7) > c.idtLimit) return failWith(c, Vector.GP, (vector << 3) + 2 + ext);
  const gateAddr = c.idtBase + entry;
  gate.lo = sysRead(c, gateAddr, 4);
  gate.hi = sysRead(c, gateAddr + 4, 4);
  gate.baseHi = long ? sysRead(c, gateAddr + 8, 4) : 0;
  if (c.stop & Stop.ABORT) return false;
  const type = (gate.hi >> 8) & 0x1f;
  if (!long && type === 0x05) {
    // A task gate: the handler is another task (SDM Vol. 3A 6.12.2).
    if (source === Source.SOFTWARE && ((gate.hi >> 13) & 3) < c.cpl)
      return failWith(c, Vector.GP, (vector << 3) + 2);
    if (!(gate.hi & 0x8000)) return failWith(c, Vector.NP, (vector << 3) + 2 + ext);
    if (!taskSwitch(c, gate.lo >>> 16, TaskReason.INT, returnIp)) return false;
    return pushTaskError(c, error);
  }
  const valid = long
    ? type === 0x0e || type === 0x0f
    : type === 0x06 || type === 0x07 || type === 0x0e || type === 0x0f;
  if (!valid) return failWith(c, Vector.GP, (vector << 3) + 2 + ext);
  const gateDpl = (gate.hi >> 13) & 3;
  if (source === Source.SOFTWARE && gateDpl < c.cpl) return failWith(c, Vector.GP, (vector << 3) + 2);
  if (!(gate.hi & 0x8000)) return failWith(c, Vector.NP, (vector << 3) + 2 + ext);
  const sel = gate.lo >>> 16;
  const offset = long
    ? gate.baseHi * TWO32 + (((gate.hi & 0xffff0000) | (gate.lo & 0xffff)) >>> 0)
    : type & 8
      ? ((gate.hi & 0xffff0000) | (gate.lo & 0xffff)) >>> 0
      : gate.lo & 0xffff;
  const is32 = (type & 8) !== 0;
  if ((sel & 0xfffc) === 0) return failWith(c, Vector.GP, ext);
  if (!readDescriptor(c, sel, target))
    return c.stop & Stop.ABORT ? false : failWith(c, Vector.GP, (sel & 0xfffc) + ext);
  const ta = target.attr;
  if (!(ta & SegAttr.S) || !(ta & SegAttr.CODE) || target.dpl > c.cpl) {
    return failWith(c, Vector.GP, (sel & 0xfffc) + ext);
  }
  if (!target.present) return failWith(c, Vector.NP, (sel & 0xfffc) + ext);
  if (long && (!(ta & SegAttr.L) || ta & SegAttr.DB)) return failWith(c, Vector.GP, (sel & 0xfffc) + ext);
  const conforming = (ta & SegAttr.CE) !== 0;
  const newCpl = conforming ? c.cpl : target.dpl;
  const ist = long ? gate.hi & 7 : 0;
  save(c);
  const oldSs = c.segSel[Seg.SS];
  const oldSp = c.r[8];
  const oldSpHi = c.r[9];
  const oldCs = c.segSel[Seg.CS];
  const fromVm86 = (flags & Flag.VM) !== 0;
  if (fromVm86) {
    // Out of virtual-8086 mode only to a ring-0, non-conforming handler (SDM Vol. 3A 20.3.1.1).
    if (newCpl !== 0 || conforming) return failWith(c, Vector.GP, (sel & 0xfffc) + ext);
    c.flags &= ~Flag.VM;
    c.cpl = 3;
  }

  if (long) {
    let rsp: number;
    if (newCpl !== c.cpl || ist) {
      const tssOff = ist ? 0x24 + (ist - 1) * 8 : 4 + newCpl * 8;
      if (tssOff + 7 > c.segLimit[Seg.TR]) return failWith(c, Vector.TS, c.segSel[Seg.TR] & 0xfffc);
      const lo = sysRead(c, c.segBase[Seg.TR] + tssOff, 4);
      const hi = sysRead(c, c.segBase[Seg.TR] + tssOff + 4, 4);
      if (c.stop & Stop.ABORT) return false;
      rsp = hi * TWO32 + (lo >>> 0);
    } else {
      rsp = c.r[9] * TWO32 + (c.r[8] >>> 0);
    }
    rsp -= ((rsp % 16) + 16) % 16;
    const changing = newCpl !== c.cpl;
    c.cpl = newCpl;
    cacheDescriptor(c, Seg.CS, (sel & 0xfffc) | newCpl, target);
    if (changing) {
      c.segSel[Seg.SS] = newCpl;
      c.segAttr[Seg.SS] = SegAttr.UNUSABLE | (newCpl << SegAttr.DPL_SHIFT);
      c.segBase[Seg.SS] = 0;
      c.segLimit[Seg.SS] = 0;
    }
    c.segAttr[Seg.SS] = (c.segAttr[Seg.SS] & ~SegAttr.DPL_MASK) | (newCpl << SegAttr.DPL_SHIFT);
    syncMode(c);
    const hi = Math.floor(rsp / TWO32);
    c.r[8] = (rsp - hi * TWO32) | 0;
    c.r[9] = hi;
    const ripHi = Math.floor(returnIp / TWO32);
    const ok =
      push(c, 8, oldSs, 0) &&
      push(c, 8, oldSp, oldSpHi) &&
      push(c, 8, flags, 0) &&
      push(c, 8, oldCs, 0) &&
      push(c, 8, (returnIp - ripHi * TWO32) | 0, ripHi) &&
      (error < 0 || push(c, 8, error, 0));
    if (!ok) {
      restore(c);
      return false;
    }
  } else {
    const size = is32 ? 4 : 2;
    if (newCpl < c.cpl) {
      // Stack switch: SS:ESP for the new privilege from the TSS (SDM Vol. 3A 6.12.1, 7.2.1).
      const tss32 = (c.segAttr[Seg.TR] & 0x8) !== 0;
      const off = tss32 ? 4 + newCpl * 8 : 2 + newCpl * 4;
      if (off + (tss32 ? 5 : 3) > c.segLimit[Seg.TR])
        return failWith(c, Vector.TS, c.segSel[Seg.TR] & 0xfffc);
      const esp = tss32 ? sysRead(c, c.segBase[Seg.TR] + off, 4) : sysRead(c, c.segBase[Seg.TR] + off, 2);
      const ss = sysRead(c, c.segBase[Seg.TR] + off + (tss32 ? 4 : 2), 2);
      if (c.stop & Stop.ABORT) return false;
      const ssDesc = stackDesc;
      if ((ss & 0xfffc) === 0) return failWith(c, Vector.TS, ext);
      if (!readDescriptor(c, ss, ssDesc))
        return c.stop & Stop.ABORT ? false : failWith(c, Vector.TS, (ss & 0xfffc) + ext);
      const sa = ssDesc.attr;
      if (
        (ss & 3) !== newCpl ||
        ssDesc.dpl !== newCpl ||
        !(sa & SegAttr.S) ||
        sa & SegAttr.CODE ||
        !(sa & SegAttr.RW)
      ) {
        return failWith(c, Vector.TS, (ss & 0xfffc) + ext);
      }
      if (!ssDesc.present) return failWith(c, Vector.SS, (ss & 0xfffc) + ext);
      cacheDescriptor(c, Seg.SS, ss, ssDesc);
      c.r[8] = esp;
      c.r[9] = 0;
      c.cpl = newCpl;
      cacheDescriptor(c, Seg.CS, (sel & 0xfffc) | newCpl, target);
      syncMode(c);
      // From virtual-8086 mode the data segments are saved too, then nulled (SDM Vol. 3A Figure 20-4).
      const ok =
        (!fromVm86 ||
          (push(c, size, c.segSel[Seg.GS], 0) &&
            push(c, size, c.segSel[Seg.FS], 0) &&
            push(c, size, c.segSel[Seg.DS], 0) &&
            push(c, size, c.segSel[Seg.ES], 0))) &&
        push(c, size, oldSs, 0) &&
        push(c, size, oldSp, 0);
      if (!ok) {
        restore(c);
        if (fromVm86) c.flags |= Flag.VM;
        syncMode(c);
        return false;
      }
      if (fromVm86) {
        for (const seg of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) {
          c.segSel[seg] = 0;
          c.segBase[seg] = 0;
          c.segLimit[seg] = 0;
          c.segAttr[seg] = SegAttr.UNUSABLE;
        }
        syncMode(c);
      }
    } else {
      cacheDescriptor(c, Seg.CS, (sel & 0xfffc) | newCpl, target);
      syncMode(c);
    }
    const ok =
      push(c, size, flags, 0) &&
      push(c, size, oldCs, 0) &&
      push(c, size, returnIp, 0) &&
      (error < 0 || push(c, size, error, 0));
    if (!ok) {
      restore(c);
      return false;
    }
  }
  let newFlags = flags & ~(Flag.TF | Flag.NT | Flag.RF | Flag.VM);
  if (!(type & 1)) newFlags &= ~Flag.IF;
  setFlags(c, newFlags);
  c.rip = offset;
  c.nextIp = offset;
  c.stop |= Stop.RESYNC;
  return true;
}

function deliverReal(c: Cpu, vector: number, returnIp: number, flags: number): boolean {
  const entry = vector * 4;
  if (entry + 3 > c.idtLimit) return failWith(c, Vector.GP, 0);
  const ip = c.read((c.idtBase + entry) >>> 0, 2);
  const cs = c.read((c.idtBase + entry + 2) >>> 0, 2);
  if (c.stop & Stop.ABORT) return false;
  const sp = getSp(c);
  const ok = push(c, 2, flags, 0) && push(c, 2, c.segSel[Seg.CS], 0) && push(c, 2, returnIp, 0);
  if (!ok) {
    setSp(c, sp);
    return false;
  }
  setFlags(c, flags & ~(Flag.IF | Flag.TF | Flag.AC | Flag.RF));
  loadRealSeg(c, Seg.CS, cs);
  c.rip = ip;
  c.nextIp = ip;
  c.stop |= Stop.RESYNC;
  return true;
}
