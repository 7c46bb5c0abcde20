/**
 * Hardware task switching with 32-bit TSSs (SDM Vol. 3A 7.3): far JMP or CALL to a TSS descriptor or a task
 * gate, an interrupt or exception through a task gate, and IRET with EFLAGS.NT set. The current state is
 * saved into the current TSS, busy bits and the back link are kept as the manual says, and the new task's
 * CR3, registers, LDT and segments are loaded (faults after that point are the new task's). 16-bit TSSs
 * (types 1 and 3) are not implemented: switching to one raises #GP(selector).
 */
import type { Cpu } from './cpu.js';
import { Descriptor } from './descriptor.js';
import { raise, Vector } from './exceptions.js';
import { getFlags, setFlags } from './flags.js';
import { push } from './operands.js';
import {
  cacheDescriptor,
  loadDataSeg,
  loadRealSeg,
  readDescriptor,
  syncMode,
  sysRead,
  sysWrite,
} from './segments.js';
import { Cr0, Flag, Seg, SegAttr, Stop } from './state.js';

/** What started a task switch: it decides busy bits, NT and the back link. */
export const TaskReason = { JMP: 0, CALL: 1, IRET: 2, INT: 3 } as const;

/** Offsets in a 32-bit TSS (SDM Vol. 3A Figure 7-2). */
const Tss = { LINK: 0x00, CR3: 0x1c, EIP: 0x20, EFLAGS: 0x24, EAX: 0x28, ES: 0x48, LDT: 0x60 } as const;
const SEG_ORDER = [Seg.ES, Seg.CS, Seg.SS, Seg.DS, Seg.FS, Seg.GS];

const next = new Descriptor();
const cur = new Descriptor();
const code = new Descriptor();

/** Sets or clears the busy bit (type bit 1) of the TSS descriptor `sel` in the GDT. */
function setBusy(c: Cpu, d: Descriptor, busy: boolean): void {
  d.hi = busy ? d.hi | 0x200 : d.hi & ~0x200;
  sysWrite(c, d.addr + 4, 4, d.hi);
}

/**
 * Switches to the task whose TSS selector is `sel`. `returnIp` is the EIP saved for the old task. Returns
 * false when it faulted (recorded).
 */
export function taskSwitch(c: Cpu, sel: number, reason: number, returnIp: number): boolean {
  if (sel & 4 || !readDescriptor(c, sel, next)) {
    if (!(c.stop & Stop.ABORT)) raise(c, Vector.GP, sel & 0xfffc);
    return false;
  }
  const type = next.attr & 0x1f;
  const wantBusy = reason === TaskReason.IRET;
  if ((type !== 0x09 && type !== 0x0b) || (type === 0x0b) !== wantBusy) {
    raise(c, reason === TaskReason.IRET ? Vector.TS : Vector.GP, sel & 0xfffc);
    return false;
  }
  if (!next.present) {
    raise(c, Vector.NP, sel & 0xfffc);
    return false;
  }
  if (next.limit < 0x67) {
    raise(c, Vector.TS, sel & 0xfffc);
    return false;
  }
  const oldSel = c.segSel[Seg.TR];
  const oldBase = c.segBase[Seg.TR];
  // Save the outgoing task.
  let flags = getFlags(c);
  if (reason === TaskReason.IRET) flags &= ~Flag.NT;
  sysWrite(c, oldBase + Tss.EIP, 4, returnIp);
  sysWrite(c, oldBase + Tss.EFLAGS, 4, flags);
  for (let n = 0; n < 8; n++) sysWrite(c, oldBase + Tss.EAX + 4 * n, 4, c.r[2 * n]);
  for (let k = 0; k < 6; k++) sysWrite(c, oldBase + Tss.ES + 4 * k, 4, c.segSel[SEG_ORDER[k]]);
  if (c.stop & Stop.ABORT) return false;
  if (reason === TaskReason.JMP || reason === TaskReason.IRET) {
    if (readDescriptor(c, oldSel, cur)) setBusy(c, cur, false);
  }
  if (reason !== TaskReason.IRET) setBusy(c, next, true);
  // Read the incoming task.
  const base = next.base;
  const rd = (off: number) => sysRead(c, base + off, 4);
  const newCr3 = rd(Tss.CR3);
  const eip = rd(Tss.EIP);
  let eflags = rd(Tss.EFLAGS);
  const gprs = Array.from({ length: 8 }, (_, n) => rd(Tss.EAX + 4 * n));
  const sels = Array.from({ length: 6 }, (_, k) => rd(Tss.ES + 4 * k) & 0xffff);
  const ldt = rd(Tss.LDT) & 0xffff;
  if (c.stop & Stop.ABORT) return false;
  if (reason === TaskReason.CALL || reason === TaskReason.INT) {
    eflags |= Flag.NT;
    sysWrite(c, base + Tss.LINK, 4, oldSel);
  }
  // From here on the new task owns the CPU.
  c.segSel[Seg.TR] = sel;
  c.segBase[Seg.TR] = base;
  c.segLimit[Seg.TR] = next.limit;
  c.segAttr[Seg.TR] = next.attr | 0x2;
  c.cr0 |= Cr0.TS;
  if (c.cr0 & Cr0.PG) {
    c.cr3 = newCr3 >>> 0;
    c.flushTlb(false);
  }
  for (let n = 0; n < 8; n++) {
    c.r[2 * n] = gprs[n];
    c.r[2 * n + 1] = 0;
  }
  setFlags(c, eflags);
  c.rip = eip >>> 0;
  c.nextIp = eip >>> 0;
  c.stop |= Stop.RESYNC;
  return loadTaskSegments(c, sels, ldt, eflags);
}

/** Loads LDTR and the segment registers of the new task; a bad descriptor is #TS in the new task. */
function loadTaskSegments(c: Cpu, sels: number[], ldt: number, eflags: number): boolean {
  const d = new Descriptor();
  if ((ldt & 0xfffc) === 0) {
    c.segSel[Seg.LDTR] = ldt;
    c.segAttr[Seg.LDTR] = SegAttr.UNUSABLE;
  } else if (!readDescriptor(c, ldt & ~4, d) || (d.attr & 0x1f) !== 0x02) {
    raise(c, Vector.TS, ldt & 0xfffc);
    return false;
  } else {
    c.segSel[Seg.LDTR] = ldt;
    c.segBase[Seg.LDTR] = d.base;
    c.segLimit[Seg.LDTR] = d.limit;
    c.segAttr[Seg.LDTR] = d.attr;
  }
  if (eflags & Flag.VM) {
    for (let k = 0; k < 6; k++) loadRealSeg(c, SEG_ORDER[k], sels[k]);
    syncMode(c);
    return true;
  }
  const cs = sels[1];
  if (!readDescriptor(c, cs, code) || !(code.attr & SegAttr.CODE) || !(code.attr & SegAttr.S)) {
    if (!(c.stop & Stop.ABORT)) raise(c, Vector.TS, cs & 0xfffc);
    return false;
  }
  if (!code.present) {
    raise(c, Vector.NP, cs & 0xfffc);
    return false;
  }
  cacheDescriptor(c, Seg.CS, cs, code);
  c.cpl = cs & 3;
  // SS must be writable data of the new CPL; the others follow MOV's rules.
  for (const k of [2, 0, 3, 4, 5]) {
    const seg = SEG_ORDER[k];
    if (!loadDataSeg(c, seg, sels[k])) {
      const vector = c.faultVector;
      c.stop &= ~(Stop.ABORT | Stop.FAULT);
      raise(c, vector === Vector.NP || vector === Vector.SS ? vector : Vector.TS, sels[k] & 0xfffc);
      return false;
    }
  }
  // loadDataSeg derives CPL from SS; CS's RPL is what the new task runs at.
  syncMode(c);
  return true;
}

/** Pushes an exception's error code onto the new task's stack after a switch through a task gate. */
export function pushTaskError(c: Cpu, error: number): boolean {
  if (error < 0) return true;
  return push(c, c.segAttr[Seg.SS] & SegAttr.DB ? 4 : 2, error, 0);
}
