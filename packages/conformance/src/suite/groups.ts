import type { CaseGroup, ConformanceCase } from './case.js';
import { controlCases } from './control.js';
import { interruptCases } from './interrupts.js';
import { memoryCases } from './memory.js';
import { programCases } from './programs.js';
import { registerCases } from './registers.js';
import { systemCases } from './system.js';
import { vcpuCases } from './vcpu.js';

/** Every group of the suite, in the order they run. */
export const conformanceGroups: readonly CaseGroup[] = [
  systemCases,
  memoryCases,
  vcpuCases,
  registerCases,
  programCases,
  interruptCases,
  controlCases,
];

/** Every case of the suite, for tools that list what is (not yet) checked on which KVM. */
export const conformanceCases: readonly ConformanceCase[] = conformanceGroups.flatMap((g) => g.cases);
