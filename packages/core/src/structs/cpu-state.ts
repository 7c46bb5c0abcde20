/** One model-specific register and its value, as `struct kvm_msr_entry`. */
export interface KvmMsrEntry {
  index: number;
  data: bigint;
}

/** One CPUID leaf, as `struct kvm_cpuid_entry2` (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2). */
export interface KvmCpuidEntry2 {
  function: number;
  index: number;
  /** {@link CpuidFlag} bits. */
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** Bits of `kvm_cpuid_entry2.flags`. */
export const CpuidFlag = {
  /** The leaf has sub-leaves selected by ECX (`index`); spelled as in the kernel's header. */
  SIGNIFCANT_INDEX: 1,
  STATEFUL_FUNC: 2,
  STATE_READ_NEXT: 4,
} as const;

/**
 * A linear-address translation, as `struct kvm_translation` (KVM_TRANSLATE), through the vCPU's current paging
 * mode.
 */
export interface KvmTranslation {
  linearAddress: bigint;
  physicalAddress: bigint;
  valid: number;
  writeable: number;
  usermode: number;
}

/** The multiprocessing state of a vCPU, `KVM_MP_STATE_*` (KVM_GET_MP_STATE / KVM_SET_MP_STATE). */
export const MpState = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
} as const;

/** As `struct kvm_mp_state`. */
export interface KvmMpState {
  mpState: number;
}

/**
 * Events pending or being delivered on a vCPU, as `struct kvm_vcpu_events` (KVM_GET_VCPU_EVENTS /
 * KVM_SET_VCPU_EVENTS): the exception, interrupt and NMI in flight, the interrupt shadow, SIPI and SMM state.
 */
export interface KvmVcpuEvents {
  exception: {
    injected: number;
    nr: number;
    hasErrorCode: number;
    pending: number;
    errorCode: number;
  };
  interrupt: {
    injected: number;
    nr: number;
    soft: number;
    /** {@link InterruptShadow} bits: the STI or MOV SS shadow. */
    shadow: number;
  };
  nmi: {
    injected: number;
    pending: number;
    masked: number;
  };
  sipiVector: number;
  /** {@link VcpuEventsFlag} bits saying which optional fields are valid. */
  flags: number;
  smi: {
    smm: number;
    pending: number;
    smmInsideNmi: number;
    latchedInit: number;
  };
  tripleFault: {
    pending: number;
  };
  exceptionHasPayload: number;
  exceptionPayload: bigint;
}

/** Bits of `kvm_vcpu_events.flags` (`KVM_VCPUEVENT_VALID_*`). */
export const VcpuEventsFlag = {
  VALID_NMI_PENDING: 0x1,
  VALID_SIPI_VECTOR: 0x2,
  VALID_SHADOW: 0x4,
  VALID_SMM: 0x8,
  VALID_PAYLOAD: 0x10,
  VALID_TRIPLE_FAULT: 0x20,
} as const;

/** Bits of `kvm_vcpu_events.interrupt.shadow` (`KVM_X86_SHADOW_INT_*`). */
export const InterruptShadow = {
  MOV_SS: 1,
  STI: 2,
} as const;

/**
 * Guest debugging controls, as `struct kvm_guest_debug` (KVM_SET_GUEST_DEBUG): single-stepping, software and
 * hardware breakpoints reported to the VMM as DEBUG exits.
 */
export interface KvmGuestDebug {
  /** {@link GuestDebugFlag} bits. */
  control: number;
  /** DR0-DR3, (unused), (unused), DR6 (unused), DR7: eight values. */
  debugreg: bigint[];
}

/** Bits of `kvm_guest_debug.control` (`KVM_GUESTDBG_*`). */
export const GuestDebugFlag = {
  ENABLE: 0x1,
  SINGLESTEP: 0x2,
  USE_SW_BP: 0x10000,
  USE_HW_BP: 0x20000,
  INJECT_DB: 0x40000,
  INJECT_BP: 0x80000,
  BLOCKIRQ: 0x100000,
} as const;

/** Size in bytes of `struct kvm_lapic_state`: the local APIC's 4 KiB register page, first 1 KiB. */
export const KVM_APIC_REG_SIZE = 1024;

/** The local APIC's registers, as `struct kvm_lapic_state` (KVM_GET_LAPIC / KVM_SET_LAPIC). */
export interface KvmLapicState {
  /** 1024 bytes, each register at its MMIO offset (SDM Vol. 3A 11.4.1). */
  regs: Uint8Array;
}

/** As `struct kvm_enable_cap` (KVM_ENABLE_CAP on a VM or vCPU). */
export interface KvmEnableCap {
  cap: number;
  flags: number;
  args: bigint[];
}
