/**
 * The one table of known differences between KVM flavours, keyed by what `kvm.backend.flavour` reports. The
 * reference is hardware KVM: Debian's 6.1 kernel with kvm_amd, nested under QEMU's software CPU
 * (REAL-KVM.md). Each entry gives the reference's answer and each deviating flavour's answer side by side; a
 * test asks {@link expectedAnswer} and checks whatever this host's KVM should say, so nothing is skipped
 * silently: a flavour's deviation is a checked expectation of its own.
 */

/** One behaviour on which KVM flavours are known to differ. */
export interface Deviation {
  /** What is being done. */
  readonly case: string;
  /** The answer on the reference (kvm_amd, Linux 6.1). */
  readonly reference: string;
  /** Answers that differ from the reference, by flavour. */
  readonly flavours: Readonly<Partial<Record<string, string>>>;
  /** Flavours on which provoking the case would hang the test process: the test says so and does not run it. */
  readonly unsafe?: Readonly<Partial<Record<string, string>>>;
  /** Set when the case cannot be provoked through this API at all (kept here so the difference is on record). */
  readonly untestable?: string;
}

/** Every known difference, measured with the same probe on both KVMs (REAL-KVM.md). */
export const DEVIATIONS = {
  realModeTripleFault: {
    case: 'a real-mode guest triple-faults (IDT limit 0, then ud2)',
    reference: 'shutdown',
    flavours: { kvm_pvm: 'hang' },
    unsafe: { kvm_pvm: 'KVM_RUN never returns: the thread spins in the kernel' },
  },
  createPit2BeforeIrqchip: {
    case: 'KVM_CREATE_PIT2 before KVM_CREATE_IRQCHIP',
    reference: 'ok',
    flavours: { kvm_pvm: 'ENOENT' },
  },
  multiAddressSpace: {
    case: 'KVM_CHECK_EXTENSION(KVM_CAP_MULTI_ADDRESS_SPACE) on a VM',
    reference: '2',
    flavours: { kvm_pvm: '0' },
  },
  slotInAddressSpace1: {
    case: 'KVM_SET_USER_MEMORY_REGION with as_id 1 (slot | 1 << 16)',
    reference: 'ok',
    flavours: { kvm_pvm: 'EINVAL' },
  },
  unmappedSlotRun: {
    case: 'KVM_RUN with a slot whose userspace_addr is not mapped',
    reference: 'EFAULT',
    flavours: { kvm_pvm: 'internal_error' },
    untestable: 'slots only map live createMemory() blocks, and a closed block stays mapped (zeroed)',
  },
  getCpuid2WritesCount: {
    case: 'KVM_GET_CPUID2 with room to spare: is nent written back on success?',
    reference: 'no',
    flavours: { kvm_pvm: 'yes' },
  },
  setSupportedCpuidAfterRun: {
    case: 'KVM_SET_CPUID2 with the KVM_GET_SUPPORTED_CPUID list again after a run',
    reference: 'ok',
    flavours: { kvm_pvm: 'EINVAL' },
  },
} as const satisfies Record<string, Deviation>;

/** The answer this host's KVM flavour should give. */
export function expectedAnswer(flavour: string, key: keyof typeof DEVIATIONS): string {
  const deviation: Deviation = DEVIATIONS[key];
  return deviation.flavours[flavour] ?? deviation.reference;
}

/** Why a case cannot be run on `flavour`, if it would hang there. */
export function unsafeOn(flavour: string, key: keyof typeof DEVIATIONS): string | undefined {
  const deviation: Deviation = DEVIATIONS[key];
  return deviation.unsafe?.[flavour];
}
