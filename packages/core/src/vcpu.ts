import type { KvmExit } from './exits.js';
import type {
  KvmCpuidEntry2,
  KvmEnableCap,
  KvmGuestDebug,
  KvmLapicState,
  KvmMpState,
  KvmMsrEntry,
  KvmTranslation,
  KvmVcpuEvents,
} from './structs/cpu-state.js';
import type { KvmDebugregs, KvmFpu, KvmRegs, KvmSregs, KvmXcrs, KvmXsave } from './structs/registers.js';

/**
 * The control fields of `struct kvm_run` a VMM reads and writes around `run()`, shared with the backend as
 * the mmap'd page is shared with KVM.
 */
export interface KvmRunControls {
  /** `request_interrupt_window`: ask for an IRQ_WINDOW_OPEN exit as soon as the guest can take an interrupt. */
  requestInterruptWindow: boolean;
  /** `immediate_exit`: when set as `run()` starts, it returns an INTR exit at once without entering the guest. */
  immediateExit: boolean;
  /** `ready_for_interrupt_injection`: after an exit, whether `interrupt()` would be delivered right away. */
  readonly readyForInterruptInjection: boolean;
  /** `if_flag`: the guest's RFLAGS.IF at the exit (valid without an in-kernel LAPIC). */
  readonly ifFlag: boolean;
  /** `cr8`: the guest's task priority, read and written around `run()` (valid without an in-kernel LAPIC). */
  cr8: bigint;
  /** `apic_base`: the guest's IA32_APIC_BASE at the exit (valid without an in-kernel LAPIC). */
  readonly apicBase: bigint;
}

/**
 * A virtual CPU: the vCPU-level ioctls of the KVM API, one method each. Obtained from `Vm.createVcpu`
 * (KVM_CREATE_VCPU). On the native backend every call belongs on the thread that created the vCPU.
 */
export interface Vcpu extends KvmRunControls, Disposable {
  /** The vCPU id given to `createVcpu` (the initial APIC id). */
  readonly id: number;

  /**
   * KVM_RUN: run the guest until it exits to the VMM, and say why. An IO-in or MMIO-read exit is completed by
   * filling the exit's `data` before calling `run()` again. A run interrupted before the guest exited (EINTR on
   * KVM) returns an `intr` exit.
   */
  run(): KvmExit;

  /**
   * KVM_RUN without holding the caller's thread: the same exit as `run()`, awaited while the caller's event
   * loop goes on, so that a VMM can run several vCPUs (and its devices) from one thread. Optional: a backend
   * whose `run()` already returns within a bounded slice may leave it out, and the VMM then calls `run()`.
   * Setting `immediateExit` while a `runAsync()` is pending makes it return an `intr` exit promptly (the
   * backend kicks the run, as a signal interrupts KVM_RUN). Do not call other methods of this vCPU meanwhile.
   */
  runAsync?(): Promise<KvmExit>;

  /** KVM_GET_REGS: the general-purpose registers. */
  getRegs(): KvmRegs;
  /** KVM_SET_REGS: replace the general-purpose registers. */
  setRegs(regs: KvmRegs): void;
  /** KVM_GET_SREGS: segments, descriptor tables, control registers, EFER, APIC base, pending interrupt. */
  getSregs(): KvmSregs;
  /** KVM_SET_SREGS: replace the special registers, loading segment caches directly. */
  setSregs(sregs: KvmSregs): void;
  /** KVM_TRANSLATE: translate a guest linear address through the vCPU's current paging mode. */
  translate(linearAddress: bigint): KvmTranslation;
  /**
   * KVM_INTERRUPT: queue an external interrupt vector for injection (only without an in-kernel irqchip: ENXIO
   * otherwise).
   */
  interrupt(irq: number): void;
  /**
   * KVM_GET_MSRS: read MSRs. Reading stops at the first MSR the vCPU does not have; the entries read are
   * returned, so a shorter result names the first unreadable index by its position.
   */
  getMsrs(indices: readonly number[]): KvmMsrEntry[];
  /** KVM_SET_MSRS: write MSRs in order, stopping at the first the vCPU refuses; returns how many were set. */
  setMsrs(entries: readonly KvmMsrEntry[]): number;
  /**
   * KVM_SET_SIGNAL_MASK: the signals blocked while the guest runs, as 64-bit words of a `sigset_t`; `null`
   * runs with the thread's own mask.
   */
  setSignalMask(mask: readonly bigint[] | null): void;
  /** KVM_GET_FPU: the x87 and SSE state. */
  getFpu(): KvmFpu;
  /** KVM_SET_FPU: replace the x87 and SSE state. */
  setFpu(fpu: KvmFpu): void;
  /** KVM_GET_XSAVE: the XSAVE area. */
  getXsave(): KvmXsave;
  /** KVM_SET_XSAVE: replace the XSAVE area. */
  setXsave(xsave: KvmXsave): void;
  /** KVM_GET_XCRS: the extended control registers (XCR0). */
  getXcrs(): KvmXcrs;
  /** KVM_SET_XCRS: replace the extended control registers. */
  setXcrs(xcrs: KvmXcrs): void;
  /** KVM_GET_DEBUGREGS: DR0-DR3, DR6, DR7. */
  getDebugregs(): KvmDebugregs;
  /** KVM_SET_DEBUGREGS: replace the debug registers. */
  setDebugregs(regs: KvmDebugregs): void;
  /** KVM_GET_VCPU_EVENTS: pending and in-flight exceptions, interrupts, NMIs, the interrupt shadow. */
  getVcpuEvents(): KvmVcpuEvents;
  /** KVM_SET_VCPU_EVENTS: replace the pending events. */
  setVcpuEvents(events: KvmVcpuEvents): void;
  /** KVM_SET_CPUID2: the CPUID leaves the guest sees; set before the first `run()`. */
  setCpuid2(entries: readonly KvmCpuidEntry2[]): void;
  /** KVM_GET_CPUID2: the CPUID leaves set with `setCpuid2`. */
  getCpuid2(): KvmCpuidEntry2[];
  /** KVM_SET_GUEST_DEBUG: single-step and breakpoint control, reported as DEBUG exits. */
  setGuestDebug(debug: KvmGuestDebug): void;
  /** KVM_GET_LAPIC: the in-kernel local APIC's registers (needs `createIrqchip`). */
  getLapic(): KvmLapicState;
  /** KVM_SET_LAPIC: replace the in-kernel local APIC's registers. */
  setLapic(state: KvmLapicState): void;
  /** KVM_GET_MP_STATE: runnable, halted, waiting for INIT/SIPI. */
  getMpState(): KvmMpState;
  /** KVM_SET_MP_STATE: set the multiprocessing state. */
  setMpState(state: KvmMpState): void;
  /** KVM_NMI: queue a non-maskable interrupt (without an in-kernel LAPIC). */
  nmi(): void;
  /** KVM_ENABLE_CAP on the vCPU: turn on an optional vCPU capability. */
  enableCap(cap: KvmEnableCap): void;

  /** Releases the vCPU (closes its file descriptor). Further calls raise EBADF. */
  close(): void;
}
