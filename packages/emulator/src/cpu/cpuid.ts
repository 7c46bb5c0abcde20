/**
 * CPUID: the leaves this CPU offers (KVM_GET_SUPPORTED_CPUID advertises exactly these: a feature bit is set
 * only when the emulator implements it), and the CPUID instruction's lookup in the table the VMM set with
 * KVM_SET_CPUID2 (SDM Vol. 2 CPUID).
 */
import { CpuidFlag, type KvmCpuidEntry2 } from '@kvm-ts/core';

/** Feature bits, by leaf and register (SDM Vol. 2 Table 3-10, 3-11; AMD APM Vol. 3 E.4.2). */
export const Feature = {
  /** Leaf 1 EDX. */
  FPU: 1 << 0,
  DE: 1 << 2,
  PSE: 1 << 3,
  TSC: 1 << 4,
  MSR: 1 << 5,
  PAE: 1 << 6,
  CX8: 1 << 8,
  APIC: 1 << 9,
  SEP: 1 << 11,
  MTRR: 1 << 12,
  PGE: 1 << 13,
  CMOV: 1 << 15,
  PAT: 1 << 16,
  PSE36: 1 << 17,
  CLFSH: 1 << 19,
  MMX: 1 << 23,
  FXSR: 1 << 24,
  SSE: 1 << 25,
  SSE2: 1 << 26,
  /** Leaf 1 ECX. */
  SSE3: 1 << 0,
  SSSE3: 1 << 9,
  CX16: 1 << 13,
  SSE41: 1 << 19,
  SSE42: 1 << 20,
  POPCNT: 1 << 23,
  XSAVE: 1 << 26,
  /** Mirrors CR4.OSXSAVE (the CPUID instruction sets it, system.ts). */
  OSXSAVE: 1 << 27,
  X2APIC: 1 << 21,
  MOVBE: 1 << 22,
  HYPERVISOR: 1 << 31,
  /** Leaf 7 EBX. */
  FDP_EXCPTN_ONLY: 1 << 6,
  FCS_FDS_DEPRECATED: 1 << 13,
  /** Leaf 7 EDX: the IA32_ARCH_CAPABILITIES MSR (msr.ts). */
  ARCH_CAPABILITIES: 1 << 29,
  /** Leaf 0x80000001 ECX. */
  LAHF_LM: 1 << 0,
  /** Leaf 0x80000001 EDX. */
  SYSCALL: 1 << 11,
  NX: 1 << 20,
  PDPE1GB: 1 << 26,
  LM: 1 << 29,
} as const;

// "GenuineIntel" in the order the registers spell it: EBX "Genu", EDX "ineI", ECX "ntel" (SDM Vol. 2 CPUID leaf 0).
const VENDOR = [0x756e6547, 0x6c65746e, 0x49656e69]; // EBX, ECX, EDX

/**
 * The hypervisor signature in leaf 0x40000000 (EBX, ECX, EDX), "KVMTSEMU" padded with NULs. KVM answers
 * "KVMKVMKVM"; a different name tells a guest it runs on the emulator, and that none of KVM's paravirtual
 * features (leaf 0x40000001: kvmclock, PV EOI, ...) are offered.
 */
export const HYPERVISOR_SIGNATURE = 'KVMTSEMU';

function signatureWords(signature: string): [number, number, number] {
  const bytes = new Uint8Array(12);
  for (let i = 0; i < signature.length; i++) bytes[i] = signature.charCodeAt(i);
  const words = new DataView(bytes.buffer);
  return [words.getUint32(0, true), words.getUint32(4, true), words.getUint32(8, true)];
}

/** The CPUID leaves the emulator supports (KVM_GET_SUPPORTED_CPUID). */
export function supportedCpuid(): KvmCpuidEntry2[] {
  const f = Feature;
  const leaf = (fn: number, eax: number, ebx: number, ecx: number, edx: number): KvmCpuidEntry2 => ({
    function: fn,
    index: 0,
    flags: 0,
    eax,
    ebx,
    ecx,
    edx,
  });
  return [
    leaf(0, 0xd, VENDOR[0], VENDOR[1], VENDOR[2]),
    // Family 6, model 15, stepping 1; EBX: CLFLUSH line size 8 * 8 bytes.
    leaf(
      1,
      0x6f1,
      0x800,
      f.SSE3 | f.SSSE3 | f.CX16 | f.SSE41 | f.SSE42 | f.X2APIC | f.MOVBE | f.POPCNT | f.XSAVE | f.HYPERVISOR,
      // APIC: the in-kernel local APIC (KVM_CREATE_IRQCHIP); a VMM without one clears it, as on KVM.
      f.FPU |
        f.DE |
        f.PSE |
        f.TSC |
        f.MSR |
        f.PAE |
        f.CX8 |
        f.APIC |
        f.SEP |
        f.MTRR |
        f.PGE |
        f.CMOV |
        f.PAT |
        f.PSE36 |
        f.CLFSH |
        f.MMX |
        f.FXSR |
        f.SSE |
        f.SSE2,
    ),
    // Leaf 7: no extended features, but the x87 behaviours of current Intel parts the emulator follows:
    // FDP_EXCPTN_ONLY (EBX bit 6) and FCS/FDS deprecated (bit 13) (fpu/x87.ts `note`); and IA32_ARCH_CAPABILITIES
    // (EDX bit 29), which KVM offers every guest, saying which speculative-execution weaknesses the CPU lacks.
    {
      function: 7,
      index: 0,
      flags: CpuidFlag.SIGNIFCANT_INDEX,
      eax: 0,
      ebx: f.FDP_EXCPTN_ONLY | f.FCS_FDS_DEPRECATED,
      ecx: 0,
      edx: f.ARCH_CAPABILITIES,
    },
    // XSAVE state components (x87 and SSE in the legacy area): what XCR0 may enable; EBX/ECX are the area's
    // size (legacy area and header). Sub-leaf 1: XSAVEOPT (EAX bit 0), which fpu/save.ts runs as XSAVE.
    { function: 0xd, index: 0, flags: CpuidFlag.SIGNIFCANT_INDEX, eax: 3, ebx: 0x240, ecx: 0x240, edx: 0 },
    { function: 0xd, index: 1, flags: CpuidFlag.SIGNIFCANT_INDEX, eax: 1, ebx: 0, ecx: 0, edx: 0 },
    // The hypervisor leaves, as KVM_GET_SUPPORTED_CPUID has them: the signature, then no paravirtual features.
    leaf(0x40000000, 0x40000001, ...signatureWords(HYPERVISOR_SIGNATURE)),
    leaf(0x40000001, 0, 0, 0, 0),
    leaf(0x80000000, 0x80000008, 0, 0, 0),
    leaf(0x80000001, 0, 0, f.LAHF_LM, f.SYSCALL | f.NX | f.PDPE1GB | f.LM),
    // 40 physical and 48 linear address bits.
    leaf(0x80000008, 0x3028, 0, 0, 0),
  ];
}

/** KVM_GET_EMULATED_CPUID: instructions the emulator implements although a host CPU might not (MOVBE). */
export function emulatedCpuid(): KvmCpuidEntry2[] {
  return [{ function: 1, index: 0, flags: 0, eax: 0, ebx: 0, ecx: Feature.MOVBE, edx: 0 }];
}

/** Result registers of the last `cpuidLookup`. */
export const cpuidOut = new Int32Array(4);

/**
 * The CPUID instruction over the VMM's table: an exact (function, index) match, or for a function above the
 * highest basic or extended leaf the highest basic leaf (Intel's rule, which KVM follows), else zeros.
 */
export function cpuidLookup(table: readonly KvmCpuidEntry2[], fn: number, index: number): void {
  let e = find(table, fn, index);
  if (!e) {
    const basicMax = find(table, 0, 0)?.eax ?? 0;
    const extMax = find(table, 0x80000000, 0)?.eax ?? 0;
    const inRange = fn >>> 0 >= 0x80000000 ? fn >>> 0 <= extMax >>> 0 : fn >>> 0 <= basicMax >>> 0;
    if (!inRange && fn >>> 0 < 0x40000000) e = find(table, basicMax, index);
    else if (!inRange && fn >>> 0 >= 0x80000000) e = find(table, basicMax, index);
  }
  cpuidOut[0] = e?.eax ?? 0;
  cpuidOut[1] = e?.ebx ?? 0;
  cpuidOut[2] = e?.ecx ?? 0;
  cpuidOut[3] = e?.edx ?? 0;
}

function find(table: readonly KvmCpuidEntry2[], fn: number, index: number): KvmCpuidEntry2 | undefined {
  for (const e of table) {
    if (
      e.function >>> 0 === fn >>> 0 &&
      (!(e.flags & CpuidFlag.SIGNIFCANT_INDEX) || e.index >>> 0 === index >>> 0)
    ) {
      return e;
    }
  }
  return undefined;
}

/** Whether the guest's CPUID table has a feature bit in leaf `fn`'s register `reg` (0 EAX .. 3 EDX). */
export function guestHas(table: readonly KvmCpuidEntry2[], fn: number, reg: number, bit: number): boolean {
  const e = find(table, fn, 0);
  if (!e) return false;
  const v = reg === 0 ? e.eax : reg === 1 ? e.ebx : reg === 2 ? e.ecx : e.edx;
  return (v & bit) !== 0;
}
