/**
 * Far CALL and JMP through call gates (SDM Vol. 3A 5.8.3-5.8.6; Vol. 2 CALL, JMP): 16- and 32-bit gates in
 * protected mode, 64-bit gates in IA-32e mode, with the privilege checks, the inner-privilege stack switch
 * from the TSS for CALL, and the copy of a 32/16-bit gate's parameters. Task gates and TSS descriptors as far
 * targets switch tasks (tasks.ts).
 */
import type { Cpu } from './cpu.js';
import { Descriptor } from './descriptor.js';
import { raise, Vector } from './exceptions.js';
import { push } from './operands.js';
import { cacheDescriptor, loadDataSeg, readDescriptor, syncMode, sysRead } from './segments.js';
import { Efer, Seg, SegAttr, Stop } from './state.js';
import { TaskReason, taskSwitch } from './tasks.js';

const TWO32 = 4294967296;
const gate = new Descriptor();
const target = new Descriptor();
const probe = new Descriptor();

function fail(c: Cpu, vector: number, error: number): void {
  raise(c, vector, error);
}

/** Whether `sel` names a system descriptor (a gate or TSS) rather than a code segment; reads nothing else. */
export function namesSystemDescriptor(c: Cpu, sel: number): boolean {
  if ((sel & 0xfffc) === 0) return false;
  if (!readDescriptor(c, sel, probe)) return false;
  return (probe.attr & SegAttr.S) === 0;
}

/**
 * A far CALL or JMP to the system descriptor `sel`. `returnIp` is the address after the instruction. On
 * success CS, RIP (via `nextIp`) and, for an inner call, SS:RSP are the gate's; on a fault nothing changed.
 */
export function farViaGate(c: Cpu, sel: number, isCall: boolean, returnIp: number): void {
  const long = (c.efer & Efer.LMA) !== 0;
  if (!readDescriptor(c, sel, gate, long)) {
    if (!(c.stop & Stop.ABORT)) fail(c, Vector.GP, sel & 0xfffc);
    return;
  }
  const type = gate.attr & 0xf;
  if (!long && (type === 0x5 || type === 0x9)) {
    // A task gate or an available 32-bit TSS: a task switch (SDM Vol. 3A 7.3).
    if (gate.dpl < c.cpl || gate.dpl < (sel & 3)) {
      fail(c, Vector.GP, sel & 0xfffc);
      return;
    }
    if (!gate.present) {
      fail(c, Vector.NP, sel & 0xfffc);
      return;
    }
    const tss = type === 0x5 ? gate.lo >>> 16 : sel;
    taskSwitch(c, tss, isCall ? TaskReason.CALL : TaskReason.JMP, returnIp);
    return;
  }
  const callGate = long ? type === 0xc : type === 0x4 || type === 0xc;
  if (!callGate) {
    fail(c, Vector.GP, sel & 0xfffc);
    return;
  }
  if (gate.dpl < c.cpl || gate.dpl < (sel & 3)) {
    fail(c, Vector.GP, sel & 0xfffc);
    return;
  }
  if (!gate.present) {
    fail(c, Vector.NP, sel & 0xfffc);
    return;
  }
  const csSel = gate.lo >>> 16;
  const gateSize = long ? 8 : type === 0xc ? 4 : 2;
  let offset = ((gate.hi & 0xffff0000) | (gate.lo & 0xffff)) >>> 0;
  if (gateSize === 2) offset &= 0xffff;
  if (long) offset += gate.baseHi * TWO32;
  const params = long ? 0 : gate.hi & 0x1f;
  if ((csSel & 0xfffc) === 0) {
    fail(c, Vector.GP, 0);
    return;
  }
  if (!readDescriptor(c, csSel, target)) {
    if (!(c.stop & Stop.ABORT)) fail(c, Vector.GP, csSel & 0xfffc);
    return;
  }
  const ta = target.attr;
  if (!(ta & SegAttr.S) || !(ta & SegAttr.CODE) || target.dpl > c.cpl) {
    fail(c, Vector.GP, csSel & 0xfffc);
    return;
  }
  if (long && (!(ta & SegAttr.L) || ta & SegAttr.DB)) {
    fail(c, Vector.GP, csSel & 0xfffc);
    return;
  }
  if (!target.present) {
    fail(c, Vector.NP, csSel & 0xfffc);
    return;
  }
  const conforming = (ta & SegAttr.CE) !== 0;
  const oldCs = c.segSel[Seg.CS];
  if (!isCall || conforming || target.dpl === c.cpl) {
    if (!isCall && !conforming && target.dpl !== c.cpl) {
      fail(c, Vector.GP, csSel & 0xfffc);
      return;
    }
    const r8 = c.r[8];
    const r9 = c.r[9];
    if (isCall) {
      const hi = Math.floor(returnIp / TWO32);
      if (!push(c, gateSize, oldCs, 0) || !push(c, gateSize, returnIp - hi * TWO32, hi)) {
        c.r[8] = r8;
        c.r[9] = r9;
        return;
      }
    }
    cacheDescriptor(c, Seg.CS, (csSel & 0xfffc) | c.cpl, target);
    finish(c, offset);
    return;
  }
  innerCall(c, csSel, offset, target.dpl, gateSize, params, oldCs, returnIp, long);
}

function finish(c: Cpu, offset: number): void {
  syncMode(c);
  c.nextIp = offset;
  c.stop |= Stop.RESYNC;
}

/** CALL to a more privileged code segment: the new stack from the TSS, the old SS:RSP and parameters on it. */
function innerCall(
  c: Cpu,
  csSel: number,
  offset: number,
  newCpl: number,
  gateSize: number,
  params: number,
  oldCs: number,
  returnIp: number,
  long: boolean,
): void {
  const tr = c.segBase[Seg.TR];
  const saved = {
    cpl: c.cpl,
    r8: c.r[8],
    r9: c.r[9],
    ss: [c.segSel[Seg.SS], c.segBase[Seg.SS], c.segLimit[Seg.SS], c.segAttr[Seg.SS]] as const,
  };
  const oldSs = c.segSel[Seg.SS];
  const oldSp = c.r[8];
  const oldSpHi = c.r[9];
  // Parameters are read from the caller's stack before it is left.
  const copied: number[] = [];
  for (let k = 0; k < params; k++) {
    const lin = (c.segBase[Seg.SS] + ((oldSp >>> 0) + k * gateSize)) >>> 0;
    copied.push(c.read(lin, gateSize));
    if (c.stop & Stop.ABORT) return;
  }
  let newSs: number;
  let newSp: number;
  if (long) {
    const lo = sysRead(c, tr + 4 + newCpl * 8, 4);
    const hi = sysRead(c, tr + 8 + newCpl * 8, 4);
    if (c.stop & Stop.ABORT) return;
    newSp = hi * TWO32 + (lo >>> 0);
    newSs = newCpl;
  } else {
    const tss32 = (c.segAttr[Seg.TR] & 0x8) !== 0;
    const off = tss32 ? 4 + newCpl * 8 : 2 + newCpl * 4;
    newSp = tss32 ? sysRead(c, tr + off, 4) >>> 0 : sysRead(c, tr + off, 2);
    newSs = sysRead(c, tr + off + (tss32 ? 4 : 2), 2);
    if (c.stop & Stop.ABORT) return;
  }
  c.cpl = newCpl;
  if (long) {
    c.segSel[Seg.SS] = newSs;
    c.segAttr[Seg.SS] = SegAttr.UNUSABLE | (newCpl << SegAttr.DPL_SHIFT);
    c.segBase[Seg.SS] = 0;
    c.segLimit[Seg.SS] = 0;
  } else if (!loadDataSeg(c, Seg.SS, newSs)) {
    c.cpl = saved.cpl;
    return;
  }
  const target2 = target;
  cacheDescriptor(c, Seg.CS, (csSel & 0xfffc) | newCpl, target2);
  syncMode(c);
  const hi = Math.floor(newSp / TWO32);
  c.r[8] = (newSp - hi * TWO32) | 0;
  c.r[9] = long ? hi : 0;
  const retHi = Math.floor(returnIp / TWO32);
  let ok = push(c, gateSize, oldSs, 0) && push(c, gateSize, oldSp, oldSpHi);
  for (let k = params - 1; ok && k >= 0; k--) ok = push(c, gateSize, copied[k], 0);
  ok = ok && push(c, gateSize, oldCs, 0) && push(c, gateSize, returnIp - retHi * TWO32, retHi);
  if (!ok) {
    c.cpl = saved.cpl;
    [c.segSel[Seg.SS], c.segBase[Seg.SS], c.segLimit[Seg.SS], c.segAttr[Seg.SS]] = saved.ss;
    c.r[8] = saved.r8;
    c.r[9] = saved.r9;
    syncMode(c);
    return;
  }
  finish(c, offset);
}
