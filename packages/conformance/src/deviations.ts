import type { ErrnoName, KvmExit } from '@kvm-ts/core';

/**
 * A known, documented difference between one KVM flavour (`kvm.backend.flavour`: `kvm_pvm`, `emulator`, ...)
 * and the reference, hardware KVM (`kvm_amd` under QEMU, see the repository's REAL-KVM notes) for one case of
 * the suite. The suite never drops a case silently: with `handling: 'skip'` the case is skipped with this text
 * as the printed reason; with `'alternative'` it runs and asserts the flavour's answer (`alternative`) instead
 * of the reference's, and says so.
 */
export interface Deviation {
  /** The `id` of the conformance case, as printed in brackets after its title. */
  readonly caseId: string;
  /** The flavour that differs, as reported in `kvm.backend.flavour`. */
  readonly flavour: string;
  /** What this flavour does. */
  readonly behaviour: string;
  /** What the reference (hardware `kvm_amd`) does. */
  readonly reference: string;
  /** Why the difference exists or is accepted. */
  readonly why: string;
  /** `skip`: the case must not run on this flavour. `alternative`: assert `alternative` instead. */
  readonly handling: 'skip' | 'alternative';
  /**
   * The flavour's answer, for `handling: 'alternative'`: the errno it raises where the reference succeeds or
   * raises another, or the exit it gives where the reference gives another.
   */
  readonly alternative?: { readonly errno?: ErrnoName; readonly exit?: KvmExit['reason'] };
}

/**
 * The differences measured so far, keyed by flavour. `kvm_pvm` is the host's `/dev/kvm` here: PVM, a KVM that
 * needs no VT-x/AMD-V; each entry was measured with the same C probe on PVM and on nested `kvm_amd`.
 */
export const knownDeviations: readonly Deviation[] = [
  {
    caseId: 'guest.real-mode-triple-fault',
    flavour: 'kvm_pvm',
    behaviour: 'KVM_RUN never returns: the vCPU thread spins in the kernel',
    reference: 'KVM_RUN returns KVM_EXIT_SHUTDOWN',
    why: 'PVM does not model a real-mode shutdown; running the case would hang the test process',
    handling: 'skip',
  },
  {
    caseId: 'irq.window-and-injection',
    flavour: 'kvm_pvm',
    behaviour:
      'with IF already 1, KVM_RUN with request_interrupt_window runs the guest on to its HLT: KVM_EXIT_HLT with ' +
      'ready_for_interrupt_injection 1, and the interrupt injected then returns after the HLT',
    reference:
      'KVM_EXIT_IRQ_WINDOW_OPEN before the next guest instruction (SVM VINTR intercept), RIP still at the HLT ' +
      '(measured with this suite on kvm_amd, Linux 6.1)',
    why: 'PVM checks the interrupt window only when the guest exits for another reason',
    handling: 'alternative',
    alternative: { exit: 'hlt' },
  },
  {
    caseId: 'cpuid.get-returns-the-set-leaves',
    flavour: 'kvm_pvm',
    behaviour:
      'KVM_GET_CPUID2 adds leaf 0xD sub-leaves to a list that had none, and drops leaves 0x1D and 0x1E (AMX) ' +
      'of the KVM_GET_SUPPORTED_CPUID list',
    reference: 'KVM_GET_CPUID2 returns the leaves KVM_SET_CPUID2 stored, no more and no fewer',
    why: 'PVM rewrites the CPUID table on KVM_SET_CPUID2 (measured with a C probe on the host kernel 6.18)',
    handling: 'skip',
  },
  {
    caseId: 'irq.pit2-before-irqchip',
    flavour: 'kvm_pvm',
    behaviour: 'KVM_CREATE_PIT2 before KVM_CREATE_IRQCHIP fails with ENOENT',
    reference: 'KVM_CREATE_PIT2 succeeds (Linux 6.1)',
    why: 'newer kernels require the in-kernel irqchip for the PIT; PVM runs on host kernel 6.18',
    handling: 'alternative',
    alternative: { errno: 'ENOENT' },
  },
  {
    caseId: 'cpuid.set-same-after-run',
    flavour: 'kvm_pvm',
    behaviour: 'setting the KVM_GET_SUPPORTED_CPUID list again after KVM_RUN fails with EINVAL',
    reference:
      'succeeds: KVM accepts a KVM_SET_CPUID2 after KVM_RUN that repeats the current CPUID (Linux 6.1)',
    why: 'PVM adjusts the stored leaves, so the repeat no longer compares equal',
    handling: 'alternative',
    alternative: { errno: 'EINVAL' },
  },
];

/** The deviation of `caseId` on `flavour` in `deviations`, if any. */
export function findDeviation(
  deviations: readonly Deviation[],
  caseId: string,
  flavour: string,
): Deviation | undefined {
  return deviations.find((d) => d.caseId === caseId && d.flavour === flavour);
}

/** The sentence printed when a deviation applies. */
export function describeDeviation(deviation: Deviation): string {
  const action = deviation.handling === 'skip' ? 'skipped' : 'asserting its alternative';
  return (
    `${deviation.flavour} deviates (${action}): ${deviation.behaviour}; ` +
    `reference kvm_amd: ${deviation.reference}; why: ${deviation.why}`
  );
}
