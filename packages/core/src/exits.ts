/**
 * Why KVM_RUN returned: the `KVM_EXIT_*` numbers of `kvm_run.exit_reason` (`linux/kvm.h`).
 */
export const ExitReason = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
  IOAPIC_EOI: 26,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
  MEMORY_FAULT: 39,
} as const;

/** `kvm_run.io.direction` (`KVM_EXIT_IO_IN` / `KVM_EXIT_IO_OUT`). */
export const IoDirection = { IN: 0, OUT: 1 } as const;

/** `kvm_run.system_event.type` (`KVM_SYSTEM_EVENT_*`). */
export const SystemEventType = {
  SHUTDOWN: 1,
  RESET: 2,
  CRASH: 3,
  WAKEUP: 4,
  SUSPEND: 5,
  SEV_TERM: 6,
} as const;

/** `kvm_run.internal.suberror` (`KVM_INTERNAL_ERROR_*`). */
export const InternalErrorSuberror = {
  EMULATION: 1,
  SIMUL_EX: 2,
  DELIVERY_EV: 3,
  UNEXPECTED_EXIT_REASON: 4,
} as const;

/**
 * KVM_EXIT_IO: the guest executed IN, OUT, INS or OUTS on a port no in-kernel device claims.
 *
 * `data` views the `count * size` bytes at `kvm_run + data_offset`. For `OUT` it holds what the guest wrote;
 * for `IN` the VMM fills it and the guest sees it when `run()` is called next.
 */
export interface IoExit {
  readonly reason: 'io';
  readonly code: typeof ExitReason.IO;
  /** {@link IoDirection}. */
  direction: number;
  /** Bytes per item: 1, 2 or 4. */
  size: number;
  port: number;
  /** Items transferred: 1 for IN/OUT, the repeat count for `rep ins`/`rep outs`. */
  count: number;
  data: Uint8Array;
}

/**
 * KVM_EXIT_MMIO: a guest access to a physical address no memory slot backs, or a write to a read-only slot.
 *
 * `data` views the 8-byte `kvm_run.mmio.data`; the first `len` bytes matter. For a read the VMM fills them and
 * the guest sees them when `run()` is called next.
 */
export interface MmioExit {
  readonly reason: 'mmio';
  readonly code: typeof ExitReason.MMIO;
  physAddr: bigint;
  data: Uint8Array;
  len: number;
  isWrite: boolean;
}

/** KVM_EXIT_HLT: the guest executed HLT and no in-kernel irqchip waits for it. */
export interface HltExit {
  readonly reason: 'hlt';
  readonly code: typeof ExitReason.HLT;
}

/** KVM_EXIT_SHUTDOWN: the guest triple-faulted (or otherwise shut the CPU down); it cannot go on. */
export interface ShutdownExit {
  readonly reason: 'shutdown';
  readonly code: typeof ExitReason.SHUTDOWN;
}

/** KVM_EXIT_FAIL_ENTRY: the hardware refused to enter the guest with the state it was given. */
export interface FailEntryExit {
  readonly reason: 'fail_entry';
  readonly code: typeof ExitReason.FAIL_ENTRY;
  hardwareEntryFailureReason: bigint;
  cpu: number;
}

/** KVM_EXIT_INTERNAL_ERROR: KVM could not go on (for example an instruction its emulator does not handle). */
export interface InternalErrorExit {
  readonly reason: 'internal_error';
  readonly code: typeof ExitReason.INTERNAL_ERROR;
  /** {@link InternalErrorSuberror}. */
  suberror: number;
  /** Up to 16 words of diagnostic data. */
  data: bigint[];
}

/** KVM_EXIT_DEBUG: a single step or breakpoint requested with `setGuestDebug`, as `struct kvm_debug_exit_arch`. */
export interface DebugExit {
  readonly reason: 'debug';
  readonly code: typeof ExitReason.DEBUG;
  /** The exception vector: 1 (#DB) or 3 (#BP). */
  exception: number;
  pc: bigint;
  dr6: bigint;
  dr7: bigint;
}

/** KVM_EXIT_IRQ_WINDOW_OPEN: the guest can take an interrupt now, as asked with `requestInterruptWindow`. */
export interface IrqWindowOpenExit {
  readonly reason: 'irq_window_open';
  readonly code: typeof ExitReason.IRQ_WINDOW_OPEN;
}

/**
 * KVM_EXIT_INTR: the run was interrupted before the guest exited on its own: `immediateExit` was set, a signal
 * arrived, or the vCPU was kicked. On KVM this is KVM_RUN failing with EINTR; here it is an exit so a VMM's loop
 * handles it in one place.
 */
export interface IntrExit {
  readonly reason: 'intr';
  readonly code: typeof ExitReason.INTR;
}

/** KVM_EXIT_SYSTEM_EVENT: the guest asked to shut down, reset or reported a crash. */
export interface SystemEventExit {
  readonly reason: 'system_event';
  readonly code: typeof ExitReason.SYSTEM_EVENT;
  /** {@link SystemEventType}. */
  type: number;
  data: bigint[];
}

/** KVM_EXIT_EXCEPTION: an exception the guest cannot handle was reported to the VMM. */
export interface ExceptionExit {
  readonly reason: 'exception';
  readonly code: typeof ExitReason.EXCEPTION;
  exception: number;
  errorCode: number;
}

/** KVM_EXIT_HYPERCALL: a hypercall forwarded to user space. */
export interface HypercallExit {
  readonly reason: 'hypercall';
  readonly code: typeof ExitReason.HYPERCALL;
  nr: bigint;
  args: bigint[];
  /** What the guest gets back in RAX; the VMM sets it before the next `run()`. */
  ret: bigint;
}

/** KVM_EXIT_IOAPIC_EOI: a level-triggered interrupt's EOI with a split irqchip. */
export interface IoapicEoiExit {
  readonly reason: 'ioapic_eoi';
  readonly code: typeof ExitReason.IOAPIC_EOI;
  vector: number;
}

/** KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR: an MSR access forwarded to user space. */
export interface MsrExit {
  readonly reason: 'x86_rdmsr' | 'x86_wrmsr';
  readonly code: typeof ExitReason.X86_RDMSR | typeof ExitReason.X86_WRMSR;
  /** Set to 1 by the VMM to inject #GP instead of completing the access. */
  error: number;
  msrReason: number;
  index: number;
  /** For a read, the VMM fills it; for a write, the value written. */
  data: bigint;
}

/** KVM_EXIT_MEMORY_FAULT: KVM could not resolve a guest memory access (KVM_RUN also fails with EFAULT). */
export interface MemoryFaultExit {
  readonly reason: 'memory_fault';
  readonly code: typeof ExitReason.MEMORY_FAULT;
  flags: bigint;
  gpa: bigint;
  size: bigint;
}

/** Any exit reason this API has no variant of (for example SET_TPR or NMI), with its raw number. */
export interface OtherExit {
  readonly reason: 'other';
  readonly code: number;
}

/**
 * What `Vcpu.run()` (KVM_RUN) returns: a discriminated union on `reason` mirroring `struct kvm_run`'s
 * `exit_reason` and exit union. `code` is the `KVM_EXIT_*` number.
 *
 * Backends may reuse one object per variant across runs, as `kvm_run` is one shared page: read what you need
 * before the next `run()`.
 */
export type KvmExit =
  | IoExit
  | MmioExit
  | HltExit
  | ShutdownExit
  | FailEntryExit
  | InternalErrorExit
  | DebugExit
  | IrqWindowOpenExit
  | IntrExit
  | SystemEventExit
  | ExceptionExit
  | HypercallExit
  | IoapicEoiExit
  | MsrExit
  | MemoryFaultExit
  | OtherExit;
