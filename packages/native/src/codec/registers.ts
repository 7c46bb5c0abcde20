/**
 * Encoding and decoding of the register structs: kvm_regs, kvm_sregs (kvm_segment, kvm_dtable), kvm_fpu,
 * kvm_xsave, kvm_xcrs, kvm_debugregs. Offsets come from the ABI table.
 */
import {
  KVM_MAX_XCRS,
  KVM_NR_INTERRUPTS_WORDS,
  KVM_REGS_FIELDS,
  KVM_XSAVE_SIZE,
  type KvmDebugregs,
  type KvmDtable,
  type KvmFpu,
  type KvmRegs,
  type KvmSegment,
  type KvmSregs,
  type KvmXcrs,
  type KvmXsave,
} from '@kvm-ts/core';
import { STRUCTS } from '../abi/index.js';
import { atMost, dataView, exactLength, readU64, StructWriter } from './fields.js';

const REGS = STRUCTS.kvm_regs;
const SREGS = STRUCTS.kvm_sregs;
const SEG = STRUCTS.kvm_segment.fields;
const DTABLE = STRUCTS.kvm_dtable.fields;
const FPU = STRUCTS.kvm_fpu;
const XCRS = STRUCTS.kvm_xcrs;
const XCR = STRUCTS.kvm_xcr;
const DEBUGREGS = STRUCTS.kvm_debugregs;

export function decodeRegs(bytes: Uint8Array): KvmRegs {
  const view = dataView(bytes);
  const regs = {} as KvmRegs;
  for (const name of KVM_REGS_FIELDS) regs[name] = readU64(view, REGS.fields[name]);
  return regs;
}

export function encodeRegs(operation: string, regs: KvmRegs, bytes: Uint8Array): void {
  const writer = new StructWriter(operation, bytes);
  for (const name of KVM_REGS_FIELDS) writer.u64(REGS.fields[name], regs[name], name);
}

const SEGMENT_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
const SEGMENT_BYTE_FIELDS = ['type', 'present', 'dpl', 'db', 's', 'l', 'g', 'avl', 'unusable'] as const;
const CONTROL_NAMES = [
  ['cr0', 'cr0'],
  ['cr2', 'cr2'],
  ['cr3', 'cr3'],
  ['cr4', 'cr4'],
  ['cr8', 'cr8'],
  ['efer', 'efer'],
  ['apicBase', 'apic_base'],
] as const;

function decodeSegment(view: DataView, at: number): KvmSegment {
  const segment = {
    base: readU64(view, at + SEG.base),
    limit: view.getUint32(at + SEG.limit, true),
    selector: view.getUint16(at + SEG.selector, true),
  } as KvmSegment;
  for (const name of SEGMENT_BYTE_FIELDS) segment[name] = view.getUint8(at + SEG[name]);
  return segment;
}

function encodeSegment(writer: StructWriter, at: number, segment: KvmSegment, name: string): void {
  writer.u64(at + SEG.base, segment.base, `${name}.base`);
  writer.u32(at + SEG.limit, segment.limit, `${name}.limit`);
  writer.u16(at + SEG.selector, segment.selector, `${name}.selector`);
  for (const field of SEGMENT_BYTE_FIELDS) writer.u8(at + SEG[field], segment[field], `${name}.${field}`);
}

function decodeDtable(view: DataView, at: number): KvmDtable {
  return { base: readU64(view, at + DTABLE.base), limit: view.getUint16(at + DTABLE.limit, true) };
}

export function decodeSregs(bytes: Uint8Array): KvmSregs {
  const view = dataView(bytes);
  const sregs = {} as KvmSregs;
  for (const name of SEGMENT_NAMES) sregs[name] = decodeSegment(view, SREGS.fields[name]);
  sregs.gdt = decodeDtable(view, SREGS.fields.gdt);
  sregs.idt = decodeDtable(view, SREGS.fields.idt);
  for (const [name, field] of CONTROL_NAMES) sregs[name] = readU64(view, SREGS.fields[field]);
  sregs.interruptBitmap = [];
  for (let i = 0; i < KVM_NR_INTERRUPTS_WORDS; i++) {
    sregs.interruptBitmap.push(readU64(view, SREGS.fields.interrupt_bitmap + i * 8));
  }
  return sregs;
}

export function encodeSregs(operation: string, sregs: KvmSregs, bytes: Uint8Array): void {
  bytes.fill(0, 0, SREGS.size);
  const writer = new StructWriter(operation, bytes);
  for (const name of SEGMENT_NAMES) encodeSegment(writer, SREGS.fields[name], sregs[name], name);
  for (const name of ['gdt', 'idt'] as const) {
    writer.u64(SREGS.fields[name] + DTABLE.base, sregs[name].base, `${name}.base`);
    writer.u16(SREGS.fields[name] + DTABLE.limit, sregs[name].limit, `${name}.limit`);
  }
  for (const [name, field] of CONTROL_NAMES) writer.u64(SREGS.fields[field], sregs[name], name);
  exactLength(operation, sregs.interruptBitmap, KVM_NR_INTERRUPTS_WORDS, 'interruptBitmap');
  sregs.interruptBitmap.forEach((word, i) => {
    writer.u64(SREGS.fields.interrupt_bitmap + i * 8, word, `interruptBitmap[${i}]`);
  });
}

export function decodeFpu(bytes: Uint8Array): KvmFpu {
  const view = dataView(bytes);
  const slots = (at: number, count: number) =>
    Array.from({ length: count }, (_, i) => bytes.slice(at + i * 16, at + i * 16 + 16));
  return {
    fpr: slots(FPU.fields.fpr, 8),
    fcw: view.getUint16(FPU.fields.fcw, true),
    fsw: view.getUint16(FPU.fields.fsw, true),
    ftwx: view.getUint8(FPU.fields.ftwx),
    lastOpcode: view.getUint16(FPU.fields.last_opcode, true),
    lastIp: readU64(view, FPU.fields.last_ip),
    lastDp: readU64(view, FPU.fields.last_dp),
    xmm: slots(FPU.fields.xmm, 16),
    mxcsr: view.getUint32(FPU.fields.mxcsr, true),
  };
}

export function encodeFpu(operation: string, fpu: KvmFpu, bytes: Uint8Array): void {
  bytes.fill(0, 0, FPU.size);
  const writer = new StructWriter(operation, bytes);
  exactLength(operation, fpu.fpr, 8, 'fpr');
  exactLength(operation, fpu.xmm, 16, 'xmm');
  fpu.fpr.forEach((slot, i) => {
    writer.fixedBytes(FPU.fields.fpr + i * 16, slot, 16, `fpr[${i}]`);
  });
  fpu.xmm.forEach((slot, i) => {
    writer.fixedBytes(FPU.fields.xmm + i * 16, slot, 16, `xmm[${i}]`);
  });
  writer.u16(FPU.fields.fcw, fpu.fcw, 'fcw');
  writer.u16(FPU.fields.fsw, fpu.fsw, 'fsw');
  writer.u8(FPU.fields.ftwx, fpu.ftwx, 'ftwx');
  writer.u16(FPU.fields.last_opcode, fpu.lastOpcode, 'lastOpcode');
  writer.u64(FPU.fields.last_ip, fpu.lastIp, 'lastIp');
  writer.u64(FPU.fields.last_dp, fpu.lastDp, 'lastDp');
  writer.u32(FPU.fields.mxcsr, fpu.mxcsr, 'mxcsr');
}

export function decodeXsave(bytes: Uint8Array): KvmXsave {
  return { region: bytes.slice(0, KVM_XSAVE_SIZE) };
}

export function encodeXsave(operation: string, xsave: KvmXsave, bytes: Uint8Array): void {
  new StructWriter(operation, bytes).fixedBytes(0, xsave.region, KVM_XSAVE_SIZE, 'region');
}

export function decodeXcrs(bytes: Uint8Array): KvmXcrs {
  const view = dataView(bytes);
  const count = Math.min(view.getUint32(XCRS.fields.nr_xcrs, true), KVM_MAX_XCRS);
  const xcrs = [];
  for (let i = 0; i < count; i++) {
    const at = XCRS.fields.xcrs + i * XCR.size;
    xcrs.push({
      xcr: view.getUint32(at + XCR.fields.xcr, true),
      value: readU64(view, at + XCR.fields.value),
    });
  }
  return { flags: view.getUint32(XCRS.fields.flags, true), xcrs };
}

export function encodeXcrs(operation: string, xcrs: KvmXcrs, bytes: Uint8Array): void {
  bytes.fill(0, 0, XCRS.size);
  const writer = new StructWriter(operation, bytes);
  atMost(operation, xcrs.xcrs, KVM_MAX_XCRS, 'xcrs');
  writer.u32(XCRS.fields.nr_xcrs, xcrs.xcrs.length, 'nr_xcrs');
  writer.u32(XCRS.fields.flags, xcrs.flags, 'flags');
  xcrs.xcrs.forEach((entry, i) => {
    const at = XCRS.fields.xcrs + i * XCR.size;
    writer.u32(at + XCR.fields.xcr, entry.xcr, `xcrs[${i}].xcr`);
    writer.u64(at + XCR.fields.value, entry.value, `xcrs[${i}].value`);
  });
}

export function decodeDebugregs(bytes: Uint8Array): KvmDebugregs {
  const view = dataView(bytes);
  return {
    db: [0, 1, 2, 3].map((i) => readU64(view, DEBUGREGS.fields.db + i * 8)),
    dr6: readU64(view, DEBUGREGS.fields.dr6),
    dr7: readU64(view, DEBUGREGS.fields.dr7),
    flags: readU64(view, DEBUGREGS.fields.flags),
  };
}

export function encodeDebugregs(operation: string, regs: KvmDebugregs, bytes: Uint8Array): void {
  bytes.fill(0, 0, DEBUGREGS.size);
  const writer = new StructWriter(operation, bytes);
  exactLength(operation, regs.db, 4, 'db');
  regs.db.forEach((value, i) => {
    writer.u64(DEBUGREGS.fields.db + i * 8, value, `db[${i}]`);
  });
  writer.u64(DEBUGREGS.fields.dr6, regs.dr6, 'dr6');
  writer.u64(DEBUGREGS.fields.dr7, regs.dr7, 'dr7');
  writer.u64(DEBUGREGS.fields.flags, regs.flags, 'flags');
}
