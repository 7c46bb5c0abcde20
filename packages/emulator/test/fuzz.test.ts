/**
 * Random byte streams run as guest code in real, protected and long mode: whatever the bytes are, every run
 * must end in an exit (the budget's INTR included) without a JavaScript exception escaping the emulator, and
 * within the instruction budget. Seeded, so a failure reproduces: `FUZZ_TRIALS=20000 FUZZ_SEED=7 npx vitest run
 * test/fuzz.test.ts` runs many more programs locally than CI's default; FUZZ_BLOCK_THRESHOLD=2 compiles code into
 * blocks at its second visit (setBlockThreshold), so the compiled forms meet random code too.
 */
import type { KvmExit } from '@kvm-ts/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setBlockThreshold } from '../src/cpu/blocks.js';
import { backend, type EmulatorVcpu } from '../src/index.js';
import { machineFor } from './support/listing.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TRIALS = Number(process.env.FUZZ_TRIALS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? 0);
const BLOCK_THRESHOLD = process.env.FUZZ_BLOCK_THRESHOLD;
let savedThreshold = 0;
beforeAll(() => {
  if (BLOCK_THRESHOLD !== undefined) savedThreshold = setBlockThreshold(Number(BLOCK_THRESHOLD));
});
afterAll(() => {
  if (BLOCK_THRESHOLD !== undefined) setBlockThreshold(savedThreshold);
});

// KVM itself ends a run with INTERNAL_ERROR (suberror EMULATION) for code fetched from MMIO, so the reason is
// allowed; an exception thrown inside the emulator is not, and the vCPU records it in `lastInternalError`.
const REASONS: KvmExit['reason'][] = ['io', 'mmio', 'hlt', 'shutdown', 'intr', 'debug', 'internal_error'];

describe('fuzz: random guest code', () => {
  for (const mode of ['real', 'protected', 'long'] as const) {
    it(
      `${mode} mode: ${TRIALS} random programs end in exits, never host exceptions`,
      () => {
        const next = rng(mode.length * 7919 + SEED * 104729);
        const kvm = backend.open('fuzz');
        const seen = new Map<string, number>();
        for (let trial = 0; trial < TRIALS; trial++) {
          const bytes = Uint8Array.from({ length: 256 }, () => Math.floor(next() * 256));
          using m = machineFor(kvm, mode, { bytes, origin: 0x1000, labels: {} });
          // Random data around the code too, so stray jumps land on more random code.
          for (let k = 0x1100; k < 0x3000; k++) m.ram[k] = Math.floor(next() * 256);
          const vcpu = m.vcpu as EmulatorVcpu;
          vcpu.instructionBudget = 5000;
          for (let run = 0; run < 8; run++) {
            const exit = vcpu.run();
            expect(REASONS).toContain(exit.reason);
            if (vcpu.lastInternalError !== undefined) {
              const error = vcpu.lastInternalError as Error;
              const code = Buffer.from(bytes).toString('hex');
              throw new Error(
                `${mode} trial ${trial} (seed ${SEED}): host exception ${error.stack ?? error}\ncode ${code}`,
              );
            }
            seen.set(exit.reason, (seen.get(exit.reason) ?? 0) + 1);
            if (exit.reason === 'shutdown' || exit.reason === 'internal_error') break;
          }
        }
        kvm.close();
        console.log(`[fuzz] ${mode}: ${[...seen].map(([r, n]) => `${r} ${n}`).join(', ')}`);
      },
      60_000 + TRIALS * 100,
    );
  }
});

// Found by seed 3, real-mode program 3638: after its code ran into ARPL (#UD in real mode), IVT vector 6 sent
// the CPU to an instruction that raised #UD again. A fault retires nothing, so `run()` went round delivering
// faults without ever reaching its instruction budget and held the host. The minimal form: a UD2 whose own
// IVT entry points back at it.
describe('fuzz regressions', () => {
  it('a handler that faults at once (a fault loop) ends the run at the instruction budget', () => {
    const kvm = backend.open('fuzz regression');
    try {
      using m = machineFor(kvm, 'real', { bytes: Uint8Array.of(0x0f, 0x0b), origin: 0x1000, labels: {} });
      // IVT vector 6 (#UD), 0000:1000: the UD2 itself.
      new DataView(m.ram.buffer, m.ram.byteOffset).setUint32(6 * 4, 0x0000_1000, true);
      const vcpu = m.vcpu as EmulatorVcpu;
      // The stack in its own 64 KiB (SS = 2000h), so the frames the loop pushes never overwrite the IVT or code.
      const sregs = vcpu.getSregs();
      vcpu.setSregs({ ...sregs, ss: { ...sregs.ss, selector: 0x2000, base: 0x20000n } });
      vcpu.instructionBudget = 100;
      const sp0 = Number(vcpu.getRegs().rsp);
      for (let run = 1; run <= 3; run++) {
        expect(vcpu.run().reason).toBe('intr');
        const regs = vcpu.getRegs();
        expect(regs.rip).toBe(0x1000n);
        // Each delivery pushes FLAGS, CS and IP (6 bytes) and counts as one step of the budget.
        expect(Number(regs.rsp)).toBe((sp0 - 6 * 100 * run) & 0xffff);
      }
    } finally {
      kvm.close();
    }
  });
});
