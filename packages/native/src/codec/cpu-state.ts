/**
 * Encoding and decoding of the vCPU-state structs: kvm_msrs/kvm_msr_entry, kvm_msr_list, kvm_cpuid2 with
 * kvm_cpuid_entry2, kvm_translation, kvm_vcpu_events, kvm_guest_debug, kvm_lapic_state, kvm_mp_state,
 * kvm_enable_cap. Offsets come from the ABI table.
 */
import {
  KVM_APIC_REG_SIZE,
  type KvmCpuidEntry2,
  type KvmEnableCap,
  type KvmGuestDebug,
  type KvmLapicState,
  type KvmMsrEntry,
  type KvmTranslation,
  type KvmVcpuEvents,
} from '@kvm-ts/core';
import { STRUCTS } from '../abi/index.js';
import { atMost, badArgument, dataView, exactLength, readU64, StructWriter } from './fields.js';

const MSRS = STRUCTS.kvm_msrs;
const MSR = STRUCTS.kvm_msr_entry;
const MSR_LIST = STRUCTS.kvm_msr_list;
const CPUID2 = STRUCTS.kvm_cpuid2;
const CPUID = STRUCTS.kvm_cpuid_entry2;
const TRANSLATION = STRUCTS.kvm_translation;
const EVENTS = STRUCTS.kvm_vcpu_events;
const DEBUG = STRUCTS.kvm_guest_debug;
const ENABLE_CAP = STRUCTS.kvm_enable_cap;

/** Bytes of a `kvm_msrs` holding `count` entries. */
export const msrsSize = (count: number): number => MSRS.size + count * MSR.size;

/** A `kvm_msrs` asking for `indices`. */
export function encodeMsrIndices(operation: string, indices: readonly number[]): Uint8Array {
  if (!Array.isArray(indices)) throw badArgument(operation, 'indices must be an array of MSR numbers');
  const bytes = new Uint8Array(msrsSize(indices.length));
  const writer = new StructWriter(operation, bytes);
  writer.u32(MSRS.fields.nmsrs, indices.length, 'nmsrs');
  indices.forEach((index, i) => {
    writer.u32(MSRS.fields.entries + i * MSR.size + MSR.fields.index, index, `indices[${i}]`);
  });
  return bytes;
}

/** A `kvm_msrs` setting `entries`. */
export function encodeMsrEntries(operation: string, entries: readonly KvmMsrEntry[]): Uint8Array {
  if (!Array.isArray(entries)) throw badArgument(operation, 'entries must be an array of { index, data }');
  const bytes = new Uint8Array(msrsSize(entries.length));
  const writer = new StructWriter(operation, bytes);
  writer.u32(MSRS.fields.nmsrs, entries.length, 'nmsrs');
  entries.forEach((entry, i) => {
    const at = MSRS.fields.entries + i * MSR.size;
    writer.u32(at + MSR.fields.index, entry.index, `entries[${i}].index`);
    writer.u64(at + MSR.fields.data, entry.data, `entries[${i}].data`);
  });
  return bytes;
}

/** The first `count` entries of a `kvm_msrs`. */
export function decodeMsrEntries(bytes: Uint8Array, count: number): KvmMsrEntry[] {
  const view = dataView(bytes);
  const entries: KvmMsrEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = MSRS.fields.entries + i * MSR.size;
    entries.push({
      index: view.getUint32(at + MSR.fields.index, true),
      data: readU64(view, at + MSR.fields.data),
    });
  }
  return entries;
}

/** Bytes of a `kvm_msr_list` with room for `count` indices. */
export const msrListSize = (count: number): number => MSR_LIST.size + count * 4;

export function decodeMsrList(bytes: Uint8Array): number[] {
  const view = dataView(bytes);
  const count = view.getUint32(MSR_LIST.fields.nmsrs, true);
  return Array.from({ length: count }, (_, i) => view.getUint32(MSR_LIST.fields.indices + i * 4, true));
}

/** Bytes of a `kvm_cpuid2` with room for `count` entries. */
export const cpuid2Size = (count: number): number => CPUID2.size + count * CPUID.size;

export function encodeCpuid2(operation: string, entries: readonly KvmCpuidEntry2[]): Uint8Array {
  if (!Array.isArray(entries)) throw badArgument(operation, 'entries must be an array of CPUID leaves');
  const bytes = new Uint8Array(cpuid2Size(entries.length));
  const writer = new StructWriter(operation, bytes);
  writer.u32(CPUID2.fields.nent, entries.length, 'nent');
  entries.forEach((entry, i) => {
    const at = CPUID2.fields.entries + i * CPUID.size;
    for (const field of ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const) {
      writer.u32(at + CPUID.fields[field], entry[field], `entries[${i}].${field}`);
    }
  });
  return bytes;
}

export function decodeCpuid2(bytes: Uint8Array, count = dataView(bytes).getUint32(CPUID2.fields.nent, true)) {
  const view = dataView(bytes);
  const entries: KvmCpuidEntry2[] = [];
  for (let i = 0; i < count; i++) {
    const at = CPUID2.fields.entries + i * CPUID.size;
    const read = (field: keyof typeof CPUID.fields) => view.getUint32(at + CPUID.fields[field], true);
    entries.push({
      function: read('function'),
      index: read('index'),
      flags: read('flags'),
      eax: read('eax'),
      ebx: read('ebx'),
      ecx: read('ecx'),
      edx: read('edx'),
    });
  }
  return entries;
}

export function encodeTranslation(operation: string, linearAddress: bigint, bytes: Uint8Array): void {
  bytes.fill(0, 0, TRANSLATION.size);
  new StructWriter(operation, bytes).u64(TRANSLATION.fields.linear_address, linearAddress, 'linearAddress');
}

export function decodeTranslation(bytes: Uint8Array): KvmTranslation {
  const view = dataView(bytes);
  return {
    linearAddress: readU64(view, TRANSLATION.fields.linear_address),
    physicalAddress: readU64(view, TRANSLATION.fields.physical_address),
    valid: view.getUint8(TRANSLATION.fields.valid),
    writeable: view.getUint8(TRANSLATION.fields.writeable),
    usermode: view.getUint8(TRANSLATION.fields.usermode),
  };
}

const EVENT_BYTES = [
  ['exception', 'injected', 'exception.injected'],
  ['exception', 'nr', 'exception.nr'],
  ['exception', 'hasErrorCode', 'exception.has_error_code'],
  ['exception', 'pending', 'exception.pending'],
  ['interrupt', 'injected', 'interrupt.injected'],
  ['interrupt', 'nr', 'interrupt.nr'],
  ['interrupt', 'soft', 'interrupt.soft'],
  ['interrupt', 'shadow', 'interrupt.shadow'],
  ['nmi', 'injected', 'nmi.injected'],
  ['nmi', 'pending', 'nmi.pending'],
  ['nmi', 'masked', 'nmi.masked'],
  ['smi', 'smm', 'smi.smm'],
  ['smi', 'pending', 'smi.pending'],
  ['smi', 'smmInsideNmi', 'smi.smm_inside_nmi'],
  ['smi', 'latchedInit', 'smi.latched_init'],
  ['tripleFault', 'pending', 'triple_fault.pending'],
] as const;

type EventGroups = Record<string, Record<string, number>>;

export function decodeVcpuEvents(bytes: Uint8Array): KvmVcpuEvents {
  const view = dataView(bytes);
  const events = {
    exception: {},
    interrupt: {},
    nmi: {},
    smi: {},
    tripleFault: {},
    sipiVector: view.getUint32(EVENTS.fields.sipi_vector, true),
    flags: view.getUint32(EVENTS.fields.flags, true),
    exceptionHasPayload: view.getUint8(EVENTS.fields.exception_has_payload),
    exceptionPayload: readU64(view, EVENTS.fields.exception_payload),
  } as unknown as KvmVcpuEvents;
  const groups = events as unknown as EventGroups;
  for (const [group, name, field] of EVENT_BYTES) groups[group][name] = view.getUint8(EVENTS.fields[field]);
  events.exception.errorCode = view.getUint32(EVENTS.fields['exception.error_code'], true);
  return events;
}

export function encodeVcpuEvents(operation: string, events: KvmVcpuEvents, bytes: Uint8Array): void {
  bytes.fill(0, 0, EVENTS.size);
  const writer = new StructWriter(operation, bytes);
  const groups = events as unknown as EventGroups;
  for (const [group, name, field] of EVENT_BYTES) {
    if (typeof groups[group] !== 'object' || groups[group] === null) {
      throw badArgument(operation, `${group} must be an object`);
    }
    writer.u8(EVENTS.fields[field], groups[group][name], `${group}.${name}`);
  }
  writer.u32(EVENTS.fields['exception.error_code'], events.exception.errorCode, 'exception.errorCode');
  writer.u32(EVENTS.fields.sipi_vector, events.sipiVector, 'sipiVector');
  writer.u32(EVENTS.fields.flags, events.flags, 'flags');
  writer.u8(EVENTS.fields.exception_has_payload, events.exceptionHasPayload, 'exceptionHasPayload');
  writer.u64(EVENTS.fields.exception_payload, events.exceptionPayload, 'exceptionPayload');
}

export function encodeGuestDebug(operation: string, debug: KvmGuestDebug, bytes: Uint8Array): void {
  bytes.fill(0, 0, DEBUG.size);
  const writer = new StructWriter(operation, bytes);
  writer.u32(DEBUG.fields.control, debug.control, 'control');
  exactLength(operation, debug.debugreg, 8, 'debugreg');
  debug.debugreg.forEach((value, i) => {
    writer.u64(DEBUG.fields['arch.debugreg'] + i * 8, value, `debugreg[${i}]`);
  });
}

export function encodeLapic(operation: string, state: KvmLapicState, bytes: Uint8Array): void {
  new StructWriter(operation, bytes).fixedBytes(0, state.regs, KVM_APIC_REG_SIZE, 'regs');
}

export function decodeLapic(bytes: Uint8Array): KvmLapicState {
  return { regs: bytes.slice(0, KVM_APIC_REG_SIZE) };
}

export function encodeEnableCap(operation: string, cap: KvmEnableCap): Uint8Array {
  const bytes = new Uint8Array(ENABLE_CAP.size);
  const writer = new StructWriter(operation, bytes);
  writer.u32(ENABLE_CAP.fields.cap, cap.cap, 'cap');
  writer.u32(ENABLE_CAP.fields.flags, cap.flags, 'flags');
  atMost(operation, cap.args, 4, 'args');
  cap.args.forEach((value, i) => {
    writer.u64(ENABLE_CAP.fields.args + i * 8, value, `args[${i}]`);
  });
  return bytes;
}
