/**
 * @packageDocumentation
 * The kvm-ts conformance suite: one set of expectations, taken from the KVM documentation, the Intel and AMD
 * manuals and real KVM, that every backend of `@kvm-ts/core` must meet. {@link runConformance} registers it as
 * vitest tests for a backend; the guest programs (nasm-built machine code) and the VM set-up helpers are
 * exported for backends' own tests.
 */
export { type Deviation, describeDeviation, findDeviation, knownDeviations } from './deviations.js';
export * from './guests/generated.js';
export { type GuestProgram, guestProgram, symbol } from './guests/program.js';
export { Layout, Port } from './layout.js';
export { type ConformanceTarget, runConformance } from './run-conformance.js';
export {
  CpuBit,
  type CpuMode,
  entryRegs,
  longModeSregs,
  protectedModeSregs,
  realModeSregs,
} from './setup/cpu-modes.js';
export { createMachine, type Machine, type MachineOptions, RAM_SLOT } from './setup/machine.js';
export { PageBit, type PageTables, walkPageTables, writeIdentityPageTables } from './setup/page-tables.js';
export {
  describeExit,
  type ExitSnapshot,
  MAX_EXITS,
  runExpecting,
  runUntil,
  snapshotExit,
} from './setup/run.js';
export { expectKvmError } from './suite/assertions.js';
export type { CaseContext, CaseGroup, CheckedFlavour, ConformanceCase } from './suite/case.js';
export { conformanceCases, conformanceGroups } from './suite/groups.js';
