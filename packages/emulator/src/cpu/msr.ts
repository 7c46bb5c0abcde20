/**
 * Model-specific registers (SDM Vol. 4): the ones the CPU uses (EFER, the SYSCALL and SYSENTER MSRs, FS/GS
 * bases, TSC, PAT), the ones kept for save/restore only (MTRRs, MISC_ENABLE), and the read-only ones describing
 * the CPU (the microcode revision, IA32_ARCH_CAPABILITIES). Guest RDMSR/WRMSR and the VMM's KVM_GET_MSRS/
 * KVM_SET_MSRS share this code; `host` relaxes the checks KVM relaxes for host-initiated accesses.
 */
import type { Cpu } from './cpu.js';
import { Feature, guestHas } from './cpuid.js';
import { syncMode } from './segments.js';
import { Cr0, Efer, Seg } from './state.js';

/** MSR numbers (SDM Vol. 4 Table 2-2). */
export const Msr = {
  TSC: 0x10,
  APIC_BASE: 0x1b,
  /** IA32_BIOS_SIGN_ID, the microcode revision in bits 63:32 (KVM's MSR_IA32_UCODE_REV). */
  UCODE_REV: 0x8b,
  /** IA32_ARCH_CAPABILITIES: the speculative-execution weaknesses the CPU does not have. */
  ARCH_CAPABILITIES: 0x10a,
  MTRRCAP: 0xfe,
  SYSENTER_CS: 0x174,
  SYSENTER_ESP: 0x175,
  SYSENTER_EIP: 0x176,
  MISC_ENABLE: 0x1a0,
  MTRR_PHYS_BASE0: 0x200,
  MTRR_FIX64K: 0x250,
  MTRR_FIX16K_80000: 0x258,
  MTRR_FIX16K_A0000: 0x259,
  MTRR_FIX4K_C0000: 0x268,
  PAT: 0x277,
  MTRR_DEF_TYPE: 0x2ff,
  EFER: 0xc0000080,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SFMASK: 0xc0000084,
  FS_BASE: 0xc0000100,
  GS_BASE: 0xc0000101,
  KERNEL_GS_BASE: 0xc0000102,
} as const;

/** The MTRR MSRs kept for round trips: 8 variable pairs, the fixed ranges, the default type. */
const MTRR_INDICES = [
  ...Array.from({ length: 16 }, (_, k) => 0x200 + k),
  0x250,
  0x258,
  0x259,
  0x268,
  0x269,
  0x26a,
  0x26b,
  0x26c,
  0x26d,
  0x26e,
  0x26f,
  0x2ff,
];

/** KVM_GET_MSR_INDEX_LIST: the MSRs KVM_GET_MSRS/KVM_SET_MSRS handle (besides those in sregs). */
export const MSR_INDEX_LIST: readonly number[] = [
  Msr.SYSENTER_CS,
  Msr.SYSENTER_ESP,
  Msr.SYSENTER_EIP,
  Msr.STAR,
  Msr.CSTAR,
  Msr.KERNEL_GS_BASE,
  Msr.SFMASK,
  Msr.LSTAR,
  Msr.TSC,
  Msr.PAT,
  Msr.MISC_ENABLE,
  Msr.EFER,
  Msr.APIC_BASE,
  Msr.FS_BASE,
  Msr.GS_BASE,
  Msr.MTRRCAP,
  ...MTRR_INDICES,
  // Kept per vCPU as KVM keeps them (its `emulated_msrs`): a VMM may set them, the guest reads them.
  Msr.UCODE_REV,
  Msr.ARCH_CAPABILITIES,
  // IA32_TSC_DEADLINE, kept by the in-kernel local APIC (one of KVM's `emulated_msrs`).
  0x6e0,
];

const MTRR_SET = new Set(MTRR_INDICES);

/**
 * IA32_ARCH_CAPABILITIES as the emulator reports it (SDM Vol. 4 Table 2-2; the bits as Linux's msr-index.h names
 * them). The emulator executes nothing speculatively and has no branch predictors, store or fill buffers, so
 * none of the weaknesses these bits rule out can exist: RDCL_NO (bit 0, Meltdown), SSB_NO (4), MDS_NO (5),
 * PSCHANGE_MC_NO (6), TAA_NO (8), SBDR_SSDP_NO (13), FBSDP_NO (14), PSDP_NO (15), BHI_NO (20), PBRSB_NO (24),
 * GDS_NO (26), RFDS_NO (27) and ITS_NO (62, which hardware never sets and KVM synthesizes for its guests).
 * Without them Linux would isolate page tables, clear buffers with VERW and return through thunks, work a
 * machine like this one gains nothing from.
 */
export const ARCH_CAPABILITIES =
  (1n << 62n) |
  BigInt(
    (1 << 0) |
      (1 << 4) |
      (1 << 5) |
      (1 << 6) |
      (1 << 8) |
      (1 << 13) |
      (1 << 14) |
      (1 << 15) |
      (1 << 20) |
      (1 << 24) |
      (1 << 26) |
      (1 << 27),
  );

/** A vCPU's microcode revision until the VMM sets one: revision 1, KVM's default. */
const UCODE_REV = 0x1_0000_0000n;

/** CPUID.(EAX=7, ECX=0):EDX, the register with the ARCH_CAPABILITIES bit. */
const LEAF7_EDX = 3;

function toSigned48(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

function fromNumber(v: number): bigint {
  return BigInt.asUintN(64, BigInt(Math.trunc(v)));
}

function canonical(v: bigint): boolean {
  const s = BigInt.asIntN(64, v);
  return s >= -(1n << 47n) && s < 1n << 47n;
}

/** The TSC before the offset: the VM's virtual clock, or retired instructions on a CPU without devices. */
function tscNow(c: Cpu): number {
  return c.devices !== null ? c.devices.tsc() : c.retired;
}

/** IA32_TSC_DEADLINE and the x2APIC registers (SDM Vol. 3A 11.12.1.2), kept by the local APIC. */
function isApicMsr(index: number): boolean {
  return index === 0x6e0 || (index >= 0x800 && index <= 0x8ff);
}

/** IA32_APIC_BASE bit 10 (x2APIC mode) and bit 11 (APIC global enable). */
const APIC_BASE_EXTD = 0x400n;
const APIC_BASE_EN = 0x800n;
/** CPUID.1:ECX bit 21: x2APIC. */
const CPUID_X2APIC = 1 << 21;

/**
 * The APIC mode transitions IA32_APIC_BASE allows (SDM Vol. 3A 11.12.5, Figure 11-27; KVM `kvm_apic_set_base`):
 * x2APIC needs CPUID's x2APIC bit and the enable bit; a guest may not go from x2APIC straight back to xAPIC, nor
 * from disabled straight to x2APIC.
 */
function apicModeChangeAllowed(c: Cpu, v: bigint, host: boolean): boolean {
  if (v & APIC_BASE_EXTD && (!(v & APIC_BASE_EN) || !guestHas(c.cpuid, 1, 2, CPUID_X2APIC))) return false;
  if (host) return true;
  const from = c.apicBase & (APIC_BASE_EXTD | APIC_BASE_EN);
  const to = v & (APIC_BASE_EXTD | APIC_BASE_EN);
  if (from === (APIC_BASE_EXTD | APIC_BASE_EN) && to === APIC_BASE_EN) return false;
  return !(from === 0n && to === (APIC_BASE_EXTD | APIC_BASE_EN));
}

/**
 * Reads an MSR, or undefined if this CPU has no such MSR (RDMSR #GP, KVM_GET_MSRS stops); `host` for the VMM's
 * KVM_GET_MSRS, which reads what the guest's CPUID hides.
 */
export function readMsr(c: Cpu, index: number, host = false): bigint | undefined {
  switch (index >>> 0) {
    case Msr.UCODE_REV:
      return c.otherMsrs.get(Msr.UCODE_REV) ?? UCODE_REV;
    case Msr.ARCH_CAPABILITIES:
      // KVM: a guest whose CPUID does not offer it gets #GP.
      if (!host && !guestHas(c.cpuid, 7, LEAF7_EDX, Feature.ARCH_CAPABILITIES)) return undefined;
      return c.otherMsrs.get(Msr.ARCH_CAPABILITIES) ?? ARCH_CAPABILITIES;
    case Msr.TSC:
      return BigInt.asUintN(64, c.tscOffset + BigInt(tscNow(c)));
    case Msr.APIC_BASE:
      return c.apicBase;
    case Msr.MTRRCAP:
      return 0x508n; // 8 variable ranges, fixed ranges, write-combining.
    case Msr.SYSENTER_CS:
      return BigInt(c.sysenterCs >>> 0);
    case Msr.SYSENTER_ESP:
      return fromNumber(c.sysenterEsp);
    case Msr.SYSENTER_EIP:
      return fromNumber(c.sysenterEip);
    case Msr.MISC_ENABLE:
      return c.miscEnable;
    case Msr.PAT:
      return c.pat;
    case Msr.EFER:
      return BigInt(c.efer);
    case Msr.STAR:
      return c.star;
    case Msr.LSTAR:
      return c.lstar;
    case Msr.CSTAR:
      return c.cstar;
    case Msr.SFMASK:
      return c.sfmask;
    case Msr.FS_BASE:
      return fromNumber(c.segBase[Seg.FS]);
    case Msr.GS_BASE:
      return fromNumber(c.segBase[Seg.GS]);
    case Msr.KERNEL_GS_BASE:
      return fromNumber(c.kernelGsBase);
    default:
      if (MTRR_SET.has(index >>> 0)) return c.otherMsrs.get(index >>> 0) ?? 0n;
      if (c.devices !== null && isApicMsr(index >>> 0)) return c.devices.readApicMsr(index >>> 0);
      return undefined;
  }
}

function validPat(v: bigint): boolean {
  for (let k = 0n; k < 64n; k += 8n) {
    const t = Number((v >> k) & 0xffn);
    if (t === 2 || t === 3 || t > 7) return false;
  }
  return true;
}

/** Writes an MSR; false when the write is refused (RDMSR/WRMSR #GP, KVM_SET_MSRS stops there). */
export function writeMsr(c: Cpu, index: number, value: bigint, host: boolean): boolean {
  const v = BigInt.asUintN(64, value);
  switch (index >>> 0) {
    case Msr.TSC:
      c.tscOffset = v - BigInt(tscNow(c));
      return true;
    case Msr.APIC_BASE:
      // Bits 0-7, 9 and those above MAXPHYADDR are reserved (SDM Vol. 3A 11.4.4).
      if (v & 0xfffff000000002ffn) return false;
      if (!apicModeChangeAllowed(c, v, host)) return false;
      c.apicBase = v;
      if (c.devices !== null) c.devices.apicBaseWritten(v);
      return true;
    case Msr.MTRRCAP:
      return host;
    case Msr.SYSENTER_CS:
      c.sysenterCs = Number(v & 0xffffffffn);
      return true;
    case Msr.SYSENTER_ESP:
    case Msr.SYSENTER_EIP:
    case Msr.FS_BASE:
    case Msr.GS_BASE:
    case Msr.KERNEL_GS_BASE:
    case Msr.LSTAR:
    case Msr.CSTAR: {
      if (!canonical(v)) return false;
      const n = toSigned48(v);
      if (index === Msr.SYSENTER_ESP) c.sysenterEsp = n;
      else if (index === Msr.SYSENTER_EIP) c.sysenterEip = n;
      else if (index === Msr.FS_BASE) c.segBase[Seg.FS] = n;
      else if (index === Msr.GS_BASE) c.segBase[Seg.GS] = n;
      else if (index === Msr.KERNEL_GS_BASE) c.kernelGsBase = n;
      else if (index === Msr.LSTAR) c.lstar = v;
      else c.cstar = v;
      return true;
    }
    case Msr.MISC_ENABLE:
      c.miscEnable = v;
      return true;
    case Msr.PAT:
      if (!validPat(v)) return false;
      c.pat = v;
      return true;
    case Msr.STAR:
      c.star = v;
      return true;
    case Msr.SFMASK:
      c.sfmask = v & 0xffffffffn;
      return v >> 32n === 0n || host;
    case Msr.EFER:
      return writeEfer(c, v, host);
    case Msr.UCODE_REV:
      // The guest writes 0 before CPUID to have the revision loaded; KVM ignores that, the VMM sets it.
      if (host) c.otherMsrs.set(Msr.UCODE_REV, v);
      return true;
    case Msr.ARCH_CAPABILITIES:
      // Read-only for the guest; the VMM may report less (KVM refuses bits it does not support).
      if (!host || v & ~ARCH_CAPABILITIES) return false;
      c.otherMsrs.set(Msr.ARCH_CAPABILITIES, v);
      return true;
    default:
      if (MTRR_SET.has(index >>> 0)) {
        c.otherMsrs.set(index >>> 0, v);
        return true;
      }
      if (c.devices !== null && isApicMsr(index >>> 0)) return c.devices.writeApicMsr(index >>> 0, v);
      return false;
  }
}

/** EFER: reserved bits, the guest's CPUID, and no LME change while paging is on (SDM Vol. 3A 9.8.5). */
function writeEfer(c: Cpu, v: bigint, host: boolean): boolean {
  if (v & ~0xd01n) return false;
  const value = Number(v);
  if (!host) {
    const t = c.cpuid;
    if (value & Efer.LME && !guestHas(t, 0x80000001, 3, Feature.LM)) return false;
    if (value & Efer.NXE && !guestHas(t, 0x80000001, 3, Feature.NX)) return false;
    if (value & Efer.SCE && !guestHas(t, 0x80000001, 3, Feature.SYSCALL)) return false;
    if (c.cr0 & Cr0.PG && (value ^ c.efer) & Efer.LME) return false;
  }
  const lma = host ? value & Efer.LMA : c.efer & Efer.LMA;
  c.efer = (value & ~Efer.LMA) | lma;
  c.flushTlb();
  syncMode(c);
  return true;
}
