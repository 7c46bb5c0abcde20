/**
 * QEMU TCG as the oracle for privileged and mode-switching behaviour: generated multiboot kernels run a batch
 * of scenarios each (test/qemu-oracle/), print a state dump on COM1 after each, and the dumps of QEMU and of the
 * emulator must match line by line. Skipped, with the reason printed, without nasm or qemu-system-x86_64.
 */
import { describe, expect, it } from 'vitest';
import { assemble, kernelSource, type Scenario } from './qemu-oracle/kernel.js';
import { oracleMissing, runEmulator, runQemu } from './qemu-oracle/runners.js';
import { scenarios32 } from './qemu-oracle/scenarios32.js';
import { scenarios64 } from './qemu-oracle/scenarios64.js';

const missing = oracleMissing();
if (missing) console.log(`[qemu-oracle] skipped: ${missing}`);

interface Comparison {
  lines: number;
  mismatches: string[];
}

/** The scenario each dump line belongs to, by the index on the last `S` line. */
function byScenario(dump: string): Map<number, string[]> {
  const out = new Map<number, string[]>();
  let lines: string[] = [];
  for (const line of dump.trimEnd().split('\n')) {
    if (line.startsWith('S ')) {
      lines = [];
      out.set(Number.parseInt(line.split(' ')[1], 16), lines);
    }
    lines.push(line);
  }
  return out;
}

/** Compares QEMU's and the emulator's dumps line by line, scenario by scenario. */
function compare(scenarios: readonly Scenario[], qemu: string, emulator: string): Comparison {
  const q = byScenario(qemu);
  const e = byScenario(emulator);
  const mismatches: string[] = [];
  let lines = 0;
  scenarios.forEach((s, k) => {
    const ql = q.get(k) ?? ['(no dump)'];
    const el = e.get(k) ?? ['(no dump)'];
    const mask = s.qemuFix?.mask ?? ((line: string) => line);
    const fix = s.qemuFix?.fix ?? ((line: string) => line);
    for (let n = 0; n < Math.max(ql.length, el.length); n++) {
      lines++;
      const a = mask(fix(ql[n] ?? '(end)'));
      const b = mask(el[n] ?? '(end)');
      if (a !== b) mismatches.push(`#${k} ${s.name}\n  qemu     ${a}\n  emulator ${b}`);
    }
  });
  return { lines, mismatches };
}

/** Checks the emulator's vector and error code for scenarios where the SDM, not QEMU, is the reference. */
function checkSdm(scenarios: readonly Scenario[], emulator: string): string[] {
  const e = byScenario(emulator);
  const mismatches: string[] = [];
  scenarios.forEach((s, k) => {
    const line = e.get(k)?.[0] ?? '(no dump)';
    const [vector, error] = line
      .split(' ')
      .slice(3, 5)
      .map((x) => Number.parseInt(x, 16));
    if (s.sdm && (vector !== s.sdm.vector || error !== s.sdm.error))
      mismatches.push(
        `#${k} ${s.name}: SDM says vector ${s.sdm.vector} error ${s.sdm.error}\n  emulator ${line}`,
      );
  });
  return mismatches;
}

/** Runs `all` on QEMU and the emulator (those QEMU gets wrong on the emulator alone) and checks the dumps. */
async function oracle(
  label: string,
  frame: 'frame32.inc' | 'frame64.inc',
  all: readonly Scenario[],
): Promise<void> {
  const scenarios = all.filter((s) => !s.sdm);
  const image = assemble(kernelSource(frame, scenarios));
  const qemu = runQemu(image);
  const emulator = runEmulator(image);
  const qemuDump = await qemu;
  const result = compare(scenarios, qemuDump, emulator);
  // Where QEMU deviates from the manuals, the emulator alone runs the scenarios, checked against the SDM.
  const sdmScenarios = all.filter((s) => s.sdm);
  const sdm = checkSdm(sdmScenarios, runEmulator(assemble(kernelSource(frame, sdmScenarios))));
  console.log(
    `[qemu-oracle] ${label}: ${scenarios.length} scenarios, ${result.lines} dump lines compared with QEMU, ${result.mismatches.length} differ; ${sdmScenarios.length} scenarios checked against the SDM, ${sdm.length} differ`,
  );
  expect([...result.mismatches, ...sdm].slice(0, 20).join('\n')).toBe('');
  expect(qemuDump.endsWith('Z\n')).toBe(true);
}

describe.skipIf(missing !== null)('QEMU TCG oracle', () => {
  it('32-bit protected mode: every scenario dumps the same state on QEMU and the emulator', async () => {
    await oracle('32-bit', 'frame32.inc', scenarios32());
  }, 120_000);

  it('long mode: every scenario dumps the same state on QEMU and the emulator', async () => {
    await oracle('long mode', 'frame64.inc', scenarios64());
  }, 120_000);
});
