import type { Kvm } from '@kvm-ts/core';
import type { Deviation } from '../deviations.js';
import type { Machine, MachineOptions } from '../setup/machine.js';

/** KVM flavours an expectation was checked on with a real KVM (`kvm.backend.flavour` values). */
export type CheckedFlavour = 'kvm_pvm' | 'kvm_amd' | 'kvm_intel';

/** What a case gets to work with. Everything it creates through here is closed after it, pass or fail. */
export interface CaseContext {
  /** A system handle opened for this case. */
  readonly kvm: Kvm;
  /** The deviation of this case on the flavour under test, when it is `alternative`. */
  readonly deviation: Deviation | undefined;
  /** A VM with RAM, a vCPU and the CPU state for a mode (see `createMachine`). */
  machine(options: MachineOptions): Machine;
  /** Runs `cleanup` after the case (in reverse order of registration). */
  defer(cleanup: () => void): void;
}

/**
 * One expectation of the suite. `checkedOn` lists the real KVM flavours the suite ran it on and found it held
 * without a deviation. Every expectation still has to be checked on the reference, nested `kvm_amd`, until
 * `checkedOn` includes it; an empty list means it comes from the documentation and kernel sources only (or the
 * only real KVM tried deviates).
 */
export interface ConformanceCase {
  /** Stable id, `<group>.<name>`: deviations refer to it. */
  readonly id: string;
  readonly title: string;
  /** Where the expectation comes from: api.rst, the SDM/APM, or kernel sources (file and function). */
  readonly source: string;
  readonly checkedOn: readonly CheckedFlavour[];
  /** The case itself: sets up through `context`, runs guests, asserts with vitest's `expect`. */
  run(context: CaseContext): void | Promise<void>;
}

/** A named group of cases, registered as one `describe` block. */
export interface CaseGroup {
  readonly name: string;
  readonly cases: readonly ConformanceCase[];
}
