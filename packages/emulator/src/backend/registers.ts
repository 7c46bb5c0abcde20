/**
 * Conversions between the core API's structs (`kvm_regs`, `kvm_sregs`, `kvm_fpu`, ...) and the CPU's
 * register file, with the validation KVM applies on the way in (`arch/x86/kvm/x86.c`
 * `kvm_is_valid_sregs`, `__set_sregs_common`).
 */
import {
  KVM_NR_INTERRUPTS_WORDS,
  KVM_REGS_FIELDS,
  type KvmFpu,
  type KvmRegs,
  type KvmSegment,
  type KvmSregs,
  kvmFail,
} from '@kvm-ts/core';
import type { Cpu } from '../cpu/cpu.js';
import { guestHasXsave } from '../cpu/fpu/save.js';
import { syncMode } from '../cpu/segments.js';
import { CR4_SUPPORTED, Cr0, Cr4, EFER_SUPPORTED, Efer, Seg } from '../cpu/state.js';

/** A 64-bit API value as the CPU's number form (sign-extended, exact for canonical addresses). */
export function toNumber(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

/** A CPU number as a 64-bit unsigned API value. */
export function toU64(v: number): bigint {
  return BigInt.asUintN(64, BigInt(Math.trunc(v)));
}

function pairToU64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** The CPU's register number (encoding order) of each `kvm_regs` field, in the struct's order. */
const REG_NUMBERS = [0, 3, 1, 2, 6, 7, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15];

/** KVM_GET_REGS. */
export function readRegs(c: Cpu): KvmRegs {
  const out = {} as KvmRegs;
  for (let k = 0; k < 16; k++) {
    const n = REG_NUMBERS[k];
    out[KVM_REGS_FIELDS[k]] = pairToU64(c.r[2 * n], c.r[2 * n + 1]);
  }
  out.rip = toU64(c.rip);
  out.rflags = BigInt(c.getRflags() >>> 0);
  return out;
}

/** KVM_SET_REGS. */
export function writeRegs(c: Cpu, regs: KvmRegs): void {
  for (let k = 0; k < 16; k++) {
    const n = REG_NUMBERS[k];
    const v = BigInt.asUintN(64, regs[KVM_REGS_FIELDS[k]]);
    c.r[2 * n] = Number(v & 0xffffffffn) | 0;
    c.r[2 * n + 1] = Number(v >> 32n) | 0;
  }
  const rip = BigInt.asUintN(64, regs.rip);
  c.rip = rip < 1n << 32n ? Number(rip) : toNumber(rip);
  c.setRflags(Number(BigInt.asUintN(32, regs.rflags)) | 2);
}

function readSegment(c: Cpu, seg: number): KvmSegment {
  const a = c.segAttr[seg];
  return {
    base: toU64(c.segBase[seg]),
    limit: c.segLimit[seg] >>> 0,
    selector: c.segSel[seg] & 0xffff,
    type: a & 0xf,
    present: (a >> 7) & 1,
    dpl: (a >> 5) & 3,
    db: (a >> 14) & 1,
    s: (a >> 4) & 1,
    l: (a >> 13) & 1,
    g: (a >> 15) & 1,
    avl: (a >> 12) & 1,
    unusable: (a >> 16) & 1,
  };
}

function writeSegment(c: Cpu, seg: number, s: KvmSegment): void {
  c.segSel[seg] = s.selector & 0xffff;
  const base = BigInt.asUintN(64, s.base);
  c.segBase[seg] = base < 1n << 32n ? Number(base) : toNumber(base);
  c.segLimit[seg] = s.limit >>> 0;
  c.segAttr[seg] =
    (s.type & 0xf) |
    ((s.s & 1) << 4) |
    ((s.dpl & 3) << 5) |
    ((s.present & 1) << 7) |
    ((s.avl & 1) << 12) |
    ((s.l & 1) << 13) |
    ((s.db & 1) << 14) |
    ((s.g & 1) << 15) |
    ((s.unusable & 1) << 16);
}

const SEGS: [keyof KvmSregs, number][] = [
  ['cs', Seg.CS],
  ['ds', Seg.DS],
  ['es', Seg.ES],
  ['fs', Seg.FS],
  ['gs', Seg.GS],
  ['ss', Seg.SS],
  ['tr', Seg.TR],
  ['ldt', Seg.LDTR],
];

/** KVM_GET_SREGS. */
export function readSregs(c: Cpu, irqchip: boolean): KvmSregs {
  const out = {} as KvmSregs;
  for (const [name, seg] of SEGS) (out as unknown as Record<string, KvmSegment>)[name] = readSegment(c, seg);
  out.gdt = { base: toU64(c.gdtBase), limit: c.gdtLimit & 0xffff };
  out.idt = { base: toU64(c.idtBase), limit: c.idtLimit & 0xffff };
  out.cr0 = BigInt(c.cr0 >>> 0);
  out.cr2 = toU64(c.cr2);
  out.cr3 = toU64(c.cr3);
  out.cr4 = BigInt(c.cr4 >>> 0);
  out.cr8 = BigInt(c.cr8);
  out.efer = BigInt(c.efer);
  out.apicBase = c.apicBase;
  const bitmap = Array.from({ length: KVM_NR_INTERRUPTS_WORDS }, () => 0n);
  if (!irqchip && c.pendingIrq >= 0) bitmap[c.pendingIrq >> 6] = 1n << BigInt(c.pendingIrq & 63);
  out.interruptBitmap = bitmap;
  return out;
}

const OP_SREGS = 'KVM_SET_SREGS';

/** KVM_SET_SREGS, refusing what `kvm_is_valid_sregs` refuses (EINVAL) and changing nothing then. */
export function writeSregs(c: Cpu, s: KvmSregs, irqchip: boolean): void {
  const cr0 = BigInt.asUintN(64, s.cr0);
  const cr4 = BigInt.asUintN(64, s.cr4);
  const efer = BigInt.asUintN(64, s.efer);
  if (cr0 >> 32n) kvmFail(OP_SREGS, 'EINVAL', 'CR0 bits 63:32 are reserved');
  const c0 = Number(cr0);
  if (c0 & Cr0.PG && !(c0 & Cr0.PE)) kvmFail(OP_SREGS, 'EINVAL', 'CR0.PG needs CR0.PE');
  if (c0 & Cr0.NW && !(c0 & Cr0.CD)) kvmFail(OP_SREGS, 'EINVAL', 'CR0.NW needs CR0.CD');
  if (cr4 >> 32n || Number(cr4) & ~CR4_SUPPORTED) {
    kvmFail(OP_SREGS, 'EINVAL', `CR4 0x${cr4.toString(16)} sets bits this CPU does not support`);
  }
  // OSXSAVE needs XSAVE in the guest's CPUID (kvm_is_valid_cr4).
  if (Number(cr4) & Cr4.OSXSAVE && !guestHasXsave(c))
    kvmFail(OP_SREGS, 'EINVAL', 'CR4.OSXSAVE needs XSAVE in the guest CPUID');
  if (efer & ~BigInt(EFER_SUPPORTED))
    kvmFail(OP_SREGS, 'EINVAL', `EFER 0x${efer.toString(16)} sets reserved bits`);
  const e = Number(efer);
  if (e & Efer.LME && c0 & Cr0.PG) {
    if (!(Number(cr4) & Cr4.PAE) || !(e & Efer.LMA)) {
      kvmFail(OP_SREGS, 'EINVAL', 'long mode with paging needs CR4.PAE and EFER.LMA');
    }
    if (BigInt.asUintN(64, s.cr3) >> 40n)
      kvmFail(OP_SREGS, 'EINVAL', 'CR3 is beyond the physical address width');
  } else if (e & Efer.LMA || s.cs.l) {
    kvmFail(OP_SREGS, 'EINVAL', 'EFER.LMA and CS.L need EFER.LME and CR0.PG');
  }
  const apic = BigInt.asUintN(64, s.apicBase);
  if (apic & 0xfffff000000002ffn) kvmFail(OP_SREGS, 'EINVAL', 'APIC base sets reserved bits');
  if (s.interruptBitmap.length !== KVM_NR_INTERRUPTS_WORDS) {
    kvmFail(OP_SREGS, 'EINVAL', `interruptBitmap has ${KVM_NR_INTERRUPTS_WORDS} words`);
  }
  for (const [name, seg] of SEGS) writeSegment(c, seg, (s as unknown as Record<string, KvmSegment>)[name]);
  c.gdtBase = toNumber(s.gdt.base);
  c.gdtLimit = s.gdt.limit & 0xffff;
  c.idtBase = toNumber(s.idt.base);
  c.idtLimit = s.idt.limit & 0xffff;
  c.cr0 = c0 >>> 0;
  c.cr2 = toNumber(s.cr2);
  const cr3 = BigInt.asUintN(64, s.cr3);
  c.cr3 = Number(cr3 & ((1n << 52n) - 1n));
  c.cr4 = Number(cr4);
  c.cr8 = Number(BigInt.asUintN(64, s.cr8) & 0xfn);
  c.efer = e;
  c.apicBase = apic;
  if (!irqchip) {
    c.pendingIrq = -1;
    for (let w = 0; w < KVM_NR_INTERRUPTS_WORDS; w++) {
      const word = BigInt.asUintN(64, s.interruptBitmap[w]);
      if (word !== 0n) {
        let bit = 0;
        while (!((word >> BigInt(bit)) & 1n)) bit++;
        c.pendingIrq = w * 64 + bit;
        break;
      }
    }
  }
  c.flushTlb();
  syncMode(c);
}

/** Offsets in the legacy FXSAVE area (SDM Vol. 1 Table 10-2). */
const Fx = { FCW: 0, FSW: 2, FTW: 4, FOP: 6, FIP: 8, FDP: 16, MXCSR: 24, ST0: 32, XMM0: 160 } as const;

/** KVM_GET_FPU, read from the legacy area of the XSAVE image. */
export function readFpu(c: Cpu): KvmFpu {
  const x = c.xsave;
  const v = new DataView(x.buffer, x.byteOffset, x.byteLength);
  return {
    fpr: Array.from({ length: 8 }, (_, k) => x.slice(Fx.ST0 + 16 * k, Fx.ST0 + 16 * k + 16)),
    fcw: v.getUint16(Fx.FCW, true),
    fsw: v.getUint16(Fx.FSW, true),
    ftwx: x[Fx.FTW],
    lastOpcode: v.getUint16(Fx.FOP, true),
    lastIp: v.getBigUint64(Fx.FIP, true),
    lastDp: v.getBigUint64(Fx.FDP, true),
    xmm: Array.from({ length: 16 }, (_, k) => x.slice(Fx.XMM0 + 16 * k, Fx.XMM0 + 16 * k + 16)),
    // KVM_GET_FPU reports MXCSR as 0 and KVM_SET_FPU ignores it; XSAVE carries it (measured on real KVM).
    mxcsr: 0,
  };
}

/** KVM_SET_FPU: into the legacy area; marks x87 and SSE state as in use in XSTATE_BV. */
export function writeFpu(c: Cpu, f: KvmFpu): void {
  if (f.fpr.length !== 8 || f.xmm.length !== 16)
    kvmFail('KVM_SET_FPU', 'EINVAL', 'fpr has 8 and xmm 16 registers');
  const x = c.xsave;
  const v = new DataView(x.buffer, x.byteOffset, x.byteLength);
  for (let k = 0; k < 8; k++) x.set(f.fpr[k].subarray(0, 16), Fx.ST0 + 16 * k);
  for (let k = 0; k < 16; k++) x.set(f.xmm[k].subarray(0, 16), Fx.XMM0 + 16 * k);
  v.setUint16(Fx.FCW, f.fcw, true);
  v.setUint16(Fx.FSW, f.fsw, true);
  x[Fx.FTW] = f.ftwx;
  v.setUint16(Fx.FOP, f.lastOpcode, true);
  v.setBigUint64(Fx.FIP, BigInt.asUintN(64, f.lastIp), true);
  v.setBigUint64(Fx.FDP, BigInt.asUintN(64, f.lastDp), true);
  x[512] |= 3;
}

/** MXCSR bits a processor with DAZ accepts (SDM Vol. 1 11.6.6). */
const MXCSR_MASK = 0xffff;

/** The XSAVE features this CPU keeps state for (x87 and SSE, in the legacy area). */
export const SUPPORTED_XCR0 = 3n;

/** The reset XSAVE image: FCW 0x37F and MXCSR 0x1F80 in the legacy area, every component in its init state. */
export function resetXsave(x: Uint8Array): void {
  x.fill(0);
  const v = new DataView(x.buffer, x.byteOffset, x.byteLength);
  v.setUint16(Fx.FCW, 0x37f, true);
  v.setUint32(Fx.MXCSR, 0x1f80, true);
}

/**
 * What KVM_SET_XSAVE leaves of a component whose XSTATE_BV bit is clear: its initial state, as XRSTOR would load
 * it (SDM Vol. 1 13.6): the x87 registers without bit 0, the XMM registers and MXCSR without bit 1 (measured on
 * real KVM; conformance case `xsave.init-components`).
 */
export function initClearedComponents(x: Uint8Array): void {
  const v = new DataView(x.buffer, x.byteOffset, x.byteLength);
  const xstateBv = v.getUint32(512, true);
  if (!(xstateBv & 1)) {
    x.fill(0, Fx.FCW, Fx.MXCSR);
    x.fill(0, Fx.ST0, Fx.XMM0);
    v.setUint16(Fx.FCW, 0x37f, true);
  }
  if (!(xstateBv & 2)) {
    x.fill(0, Fx.XMM0, Fx.XMM0 + 16 * 16);
    v.setUint32(Fx.MXCSR, 0x1f80, true);
  }
}

/** KVM_SET_XSAVE's header checks (`validate_user_xstate_header`): known features, standard format. */
export function checkXsave(region: Uint8Array): void {
  if (region.length !== 4096) kvmFail('KVM_SET_XSAVE', 'EINVAL', 'the XSAVE region is 4096 bytes');
  const v = new DataView(region.buffer, region.byteOffset, region.byteLength);
  const xstateBv = v.getBigUint64(512, true);
  const xcompBv = v.getBigUint64(520, true);
  if (xstateBv & ~SUPPORTED_XCR0) kvmFail('KVM_SET_XSAVE', 'EINVAL', 'XSTATE_BV has features this CPU lacks');
  if (xcompBv !== 0n) kvmFail('KVM_SET_XSAVE', 'EINVAL', 'the compacted format is not accepted');
  if (v.getUint32(Fx.MXCSR, true) & ~MXCSR_MASK)
    kvmFail('KVM_SET_XSAVE', 'EINVAL', 'MXCSR sets reserved bits');
  for (let k = 528; k < 576; k++) {
    if (region[k] !== 0) kvmFail('KVM_SET_XSAVE', 'EINVAL', 'reserved bytes of the XSAVE header must be 0');
  }
}
