import type { Kvm } from '@kvm-ts/core';
import { describe, it } from 'vitest';
import { type Deviation, describeDeviation, findDeviation, knownDeviations } from './deviations.js';
import { createMachine, type Machine } from './setup/machine.js';
import type { CaseContext, ConformanceCase } from './suite/case.js';
import { conformanceGroups } from './suite/groups.js';

/** A backend under test: how to open it, and the deviations to apply by its flavour. */
export interface ConformanceTarget {
  /** Shown in the suite's `describe` title. */
  readonly name: string;
  /** Opens a fresh system handle; called once per case, and closed after it. */
  readonly open: () => Promise<Kvm>;
  /**
   * Known differences of flavours from the reference KVM; {@link knownDeviations} when omitted. Only those whose
   * `flavour` equals `kvm.backend.flavour` apply.
   */
  readonly deviations?: readonly Deviation[];
  /**
   * Milliseconds each case may take (vitest's per-test timeout); vitest's configured default when omitted. Slow
   * backends (an emulator, KVM nested under a software CPU) want more.
   */
  readonly testTimeout?: number;
}

function closeAll(kvm: Kvm, cleanups: (() => void)[]): unknown[] {
  const errors: unknown[] = [];
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch (error) {
      errors.push(error);
    }
  }
  try {
    kvm.close();
  } catch {
    // A case may have closed the handle itself (lifecycle.closed-handles).
  }
  return errors;
}

async function runCase(
  target: ConformanceTarget,
  testCase: ConformanceCase,
  skip: (note: string) => never,
): Promise<void> {
  const kvm = await target.open();
  const cleanups: (() => void)[] = [];
  try {
    const deviation = findDeviation(target.deviations ?? knownDeviations, testCase.id, kvm.backend.flavour);
    if (deviation) {
      const note = describeDeviation(deviation);
      console.warn(`[conformance] ${testCase.id}: ${note}`);
      if (deviation.handling === 'skip') skip(note);
    }
    const context: CaseContext = {
      kvm,
      deviation: deviation?.handling === 'alternative' ? deviation : undefined,
      machine(options) {
        const machine: Machine = createMachine(kvm, options);
        cleanups.push(() => machine.close());
        return machine;
      },
      defer(cleanup) {
        cleanups.push(cleanup);
      },
    };
    await testCase.run(context);
  } catch (error) {
    closeAll(kvm, cleanups);
    throw error;
  }
  const errors = closeAll(kvm, cleanups);
  if (errors.length > 0) {
    throw new AggregateError(errors, `${testCase.id}: closing what the case created failed`);
  }
}

/**
 * Registers the conformance suite as vitest `describe`/`it` blocks for one backend. Call it at the top level of
 * a test file:
 *
 * ```ts
 * import { runConformance } from '@kvm-ts/conformance';
 * import { openKvm } from '@kvm-ts/core';
 * runConformance({ name: 'emulator', open: () => openKvm({ backend: 'emulator' }) });
 * ```
 *
 * Each case opens its own handle, builds what it needs (closing it afterwards, pass or fail), and bounds every
 * run loop, so a broken backend fails rather than hangs, except where KVM itself never returns (those cases
 * carry a `skip` deviation for that flavour). Test titles end in the case id, `[group.name]`.
 */
export function runConformance(target: ConformanceTarget): void {
  describe(`kvm-ts conformance: ${target.name}`, () => {
    for (const group of conformanceGroups) {
      describe(group.name, () => {
        for (const testCase of group.cases) {
          it(`${testCase.title} [${testCase.id}]`, (test) =>
            runCase(target, testCase, (note) => test.skip(note)));
        }
      });
    }
  });
}
