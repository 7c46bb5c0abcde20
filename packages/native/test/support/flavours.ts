/**
 * The one table of known differences between KVM flavours, keyed by what `kvm.backend.flavour` reports. The
 * reference is hardware KVM: Debian's 6.1 kernel with kvm_amd, nested under QEMU's software CPU
 * (REAL-KVM.md). Each entry gives the reference's answer and each deviating flavour's answer side by side.
 * The native tests ask {@link expectedAnswer} and check whatever this host's KVM should say, and the
 * conformance suite gets the same entries through {@link conformanceDeviations}: nothing is skipped silently,
 * a flavour's deviation is a checked expectation of its own (or, where provoking it would hang, a printed
 * reason).
 */
import type { Deviation as ConformanceDeviation } from '@kvm-ts/conformance';

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
  /** How the conformance suite's case of the same behaviour is handled on the deviating flavours. */
  readonly conformance?: {
    readonly caseId: string;
    readonly why: string;
    readonly handling: 'skip' | 'alternative';
    readonly alternative?: ConformanceDeviation['alternative'];
  };
}

/**
 * Every known difference. Each flavour's answer was measured on the host's kvm_pvm; each reference answer was
 * measured by these same tests on the nested kvm_amd (`pnpm test:kvm`), except where the entry says otherwise.
 */
export const DEVIATIONS = {
  realModeTripleFault: {
    case: 'a real-mode guest triple-faults (IDT limit 0, then ud2)',
    reference: 'shutdown',
    flavours: { kvm_pvm: 'hang' },
    unsafe: { kvm_pvm: 'KVM_RUN never returns: the thread spins in the kernel' },
    conformance: {
      caseId: 'guest.real-mode-triple-fault',
      why: 'PVM does not model a real-mode shutdown; running the case would hang the test process',
      handling: 'skip',
    },
  },
  createPit2BeforeIrqchip: {
    case: 'KVM_CREATE_PIT2 before KVM_CREATE_IRQCHIP',
    reference: 'ok',
    flavours: { kvm_pvm: 'ENOENT' },
    conformance: {
      caseId: 'irq.pit2-before-irqchip',
      why: 'newer kernels require the in-kernel irqchip for the PIT; PVM runs on host kernel 6.18',
      handling: 'alternative',
      alternative: { errno: 'ENOENT' },
    },
  },
  multiAddressSpace: {
    case: 'KVM_CHECK_EXTENSION(KVM_CAP_MULTI_ADDRESS_SPACE)',
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
    reference: 'EFAULT (measured with a C probe, REAL-KVM.md)',
    flavours: { kvm_pvm: 'internal_error' },
    untestable: 'slots only map live createMemory() blocks, and a closed block stays mapped (zeroed)',
  },
  getCpuid2WritesCount: {
    case: 'KVM_GET_CPUID2 with room to spare: is nent written back on success?',
    reference: 'no',
    flavours: { kvm_pvm: 'yes' },
  },
  getCpuid2RewritesLeaves: {
    case: 'KVM_GET_CPUID2 after KVM_SET_CPUID2: the same leaves?',
    reference: 'yes, no more and no fewer',
    flavours: {
      kvm_pvm: 'adds leaf 0xD sub-leaves to a list without them, drops leaves 0x1D and 0x1E (AMX)',
    },
    conformance: {
      caseId: 'cpuid.get-returns-the-set-leaves',
      why: 'PVM rewrites the CPUID table on KVM_SET_CPUID2 (measured on the host kernel 6.18)',
      handling: 'skip',
    },
  },
  setSupportedCpuidAfterRun: {
    case: 'KVM_SET_CPUID2 with the KVM_GET_SUPPORTED_CPUID list again after a run',
    reference: 'ok',
    flavours: { kvm_pvm: 'EINVAL' },
    conformance: {
      caseId: 'cpuid.set-same-after-run',
      why: 'PVM adjusts the stored leaves, so the repeat no longer compares equal',
      handling: 'alternative',
      alternative: { errno: 'EINVAL' },
    },
  },
  irqWindowWithIfSet: {
    case: 'KVM_RUN with request_interrupt_window while the guest already has IF=1, before a HLT',
    reference: 'irq_window_open before the next instruction (SVM VINTR intercept), RIP still at the HLT',
    flavours: { kvm_pvm: 'hlt, with ready_for_interrupt_injection 1' },
    conformance: {
      caseId: 'irq.window-and-injection',
      why: 'PVM checks the interrupt window only when the guest exits for another reason',
      handling: 'alternative',
      alternative: { exit: 'hlt' },
    },
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

/** The table's entries that concern the conformance suite, in its `Deviation` shape, one per flavour. */
export function conformanceDeviations(): ConformanceDeviation[] {
  const deviations: ConformanceDeviation[] = [];
  for (const entry of Object.values(DEVIATIONS) as Deviation[]) {
    if (!entry.conformance) continue;
    for (const [flavour, behaviour] of Object.entries(entry.flavours)) {
      deviations.push({
        caseId: entry.conformance.caseId,
        flavour,
        behaviour: entry.unsafe?.[flavour] ?? `${entry.case}: ${behaviour}`,
        reference: entry.reference,
        why: entry.conformance.why,
        handling: entry.conformance.handling,
        ...(entry.conformance.alternative ? { alternative: entry.conformance.alternative } : {}),
      });
    }
  }
  return deviations;
}
