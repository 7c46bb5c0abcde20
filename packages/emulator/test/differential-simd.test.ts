/**
 * Differential tests of MMX, SSE..SSE4.2 and x87 instructions: the snippets of differential-simd/ run on the
 * host CPU (differential/native-runner.c, built with gcc) and on the emulator, in 64-bit mode and in 32-bit
 * compatibility mode; registers, the flags each instruction defines and the data buffer (which holds the
 * vector results, MXCSR and the x87 state saved with FNSAVE) must match. Skipped, with the reason printed,
 * where there is no gcc or the host is not x86-64 Linux. Instructions whose results the manuals leave to the
 * implementation (RCPPS, RSQRTPS: only an error bound) are tested separately in test/simd.
 * DIFF_SEED and DIFF_REPS widen a local run.
 */
import { describe, it } from 'vitest';
import { buildNativeRunner, expectAgreement } from './differential/harness.js';
import { generateSimdCases } from './differential-simd/cases.js';
import { generateX87Cases } from './differential-simd/x87-cases.js';

const runner = buildNativeRunner();
if (!runner.available) console.warn(`[differential-simd] skipped: ${runner.pathOrReason}`);
if (runner.available && !runner.compat32)
  console.warn('[differential-simd] 32-bit cases skipped: the kernel does not run 32-bit code');
const seed = Number(process.env.DIFF_SEED ?? 0);
const reps = Number(process.env.DIFF_REPS ?? 3);

describe('differential: MMX/SSE/x87 on the emulator vs the host CPU', () => {
  for (const mode of [64, 32] as const) {
    const skip = !runner.available || (mode === 32 && !runner.compat32);
    it.skipIf(skip)(
      `${mode}-bit mode: MMX, SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 forms agree`,
      () =>
        expectAgreement(
          runner,
          `differential-simd ${mode}-bit SSE`,
          generateSimdCases(0x51d + mode + seed, reps, mode),
          mode,
        ),
      300_000,
    );
    it.skipIf(skip)(
      `${mode}-bit mode: x87 forms agree`,
      () =>
        expectAgreement(
          runner,
          `differential-simd ${mode}-bit x87`,
          generateX87Cases(0x87 + mode + seed, 2 * reps, mode),
          mode,
        ),
      300_000,
    );
  }
});
