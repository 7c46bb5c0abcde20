/**
 * Differential tests: the same generated snippets run natively on the host CPU (native-runner.c, built with
 * gcc) and on the emulator, in 64-bit mode and in 32-bit compatibility mode; registers, the flags the manuals
 * define, and a data buffer must match. Skipped, with the reason printed, where there is no gcc or the host is
 * not x86-64 Linux.
 */
import { describe, it } from 'vitest';
import { generateCases } from './differential/cases.js';
import { buildNativeRunner, expectAgreement } from './differential/harness.js';

const runner = buildNativeRunner();
if (!runner.available) console.warn(`[differential] skipped: ${runner.pathOrReason}`);
if (runner.available && !runner.compat32)
  console.warn('[differential] 32-bit cases skipped: the kernel does not run 32-bit code');

describe('differential: emulator vs host CPU', () => {
  for (const mode of [64, 32] as const) {
    it.skipIf(!runner.available || (mode === 32 && !runner.compat32))(
      `${mode}-bit mode: generated ALU, shift, multiply, bit, move and string cases agree`,
      () => expectAgreement(runner, `differential ${mode}-bit`, generateCases(0x5eed + mode, 24, mode), mode),
      120_000,
    );
  }
});
