/**
 * The usage examples in the packages' READMEs, run as a reader would run them: the first ```ts block of a
 * library's README as a script (or, for the conformance suite, as the vitest file it says it is), and the first
 * ```sh block of the command's README line by line in a shell, with the `kvm-ts` bin this workspace links.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { nestedReason, noKvmReason, runScript } from './support/run-example.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Inside examples/, so that the snippets' `@kvm-ts/*` imports resolve as a user's would (examples depends on
// every package), and outside node_modules, where vitest would not look for a test file.
const scratch = join(root, 'examples', '.readme-snippets');
// Without a backend choice, as a reader's shell would be: `auto` decides.
const { KVM_TS_BACKEND: _, ...inherited } = process.env;
const vitestCli = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');

/** The first block of `language` in the README of `dir` (e.g. `packages/core`). */
function block(dir: string, language: 'ts' | 'sh'): string {
  const readme = readFileSync(join(root, dir, 'README.md'), 'utf8');
  const found = new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, 'm').exec(readme);
  if (!found) throw new Error(`${dir}/README.md has no \`\`\`${language} block`);
  return found[1];
}

/** The first ```ts block of `dir`'s README, written out under `name` so tsx or vitest can run it. */
function snippet(dir: string, name: string): string {
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, name);
  writeFileSync(file, block(dir, 'ts'));
  return file;
}

describe('the usage examples in the package READMEs', () => {
  it('core: runs the README guest on the emulator', () => {
    const run = runScript(snippet('packages/core', 'core.mts'), [], { KVM_TS_BACKEND: 'emulator' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('emulator emulator was chosen by KVM_TS_BACKEND\nout 3f8: 65\n');
  });

  if (noKvmReason) console.log(`README snippets on native skipped: ${noKvmReason}`);

  it.skipIf(noKvmReason)('core: runs the README guest on the native backend', () => {
    const run = runScript(snippet('packages/core', 'core.mts'), [], { KVM_TS_BACKEND: 'native' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('native native was chosen by KVM_TS_BACKEND\nout 3f8: 65\n');
  });

  it('emulator: opens the emulator and creates a VM, a slot and a vCPU', () => {
    const run = runScript(snippet('packages/emulator', 'emulator.mts'), []);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it.skipIf(noKvmReason)('native: prints the KVM flavour', () => {
    const run = runScript(snippet('packages/native', 'native.mts'), []);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^kvm_\w+\n$/);
  });

  // The sample VMM's snippet opens the best backend; KVM_TS_BACKEND pins it so each backend is checked.
  for (const name of ['emulator', 'native'] as const) {
    const skip = name === 'native' ? noKvmReason : nestedReason;
    it.skipIf(skip)(`vmm: boots the demo guest on the ${name} backend to its reset`, () => {
      const run = runScript(snippet('apps/vmm', 'vmm.mts'), [], { KVM_TS_BACKEND: name });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toContain(name === 'emulator' ? 'KVMTSEMU' : 'KVMKVMKVM');
      expect(run.stdout).toContain('counting primes below 20000');
      expect(run.stdout).toContain(' 2262 found');
      expect(run.stdout).toMatch(/\nguest reset the machine\n$/);
    });
  }

  it.skipIf(nestedReason)(
    'conformance: the README test file runs the whole suite on the emulator and passes',
    () => {
      const file = snippet('packages/conformance', 'conformance.test.ts');
      // A config of its own, or vitest would take examples/vitest.config.ts and its `include`.
      const config = join(scratch, 'vitest.config.mjs');
      writeFileSync(config, "export default { test: { include: ['*.test.ts'] } };\n");
      const run = spawnSync(
        process.execPath,
        [vitestCli, 'run', '--config', config, '--root', scratch, file],
        {
          encoding: 'utf8',
          env: inherited,
          timeout: 240_000,
        },
      );
      const summary = /Tests\s+(\d+) passed \((\d+)\)/.exec(stripVTControlCharacters(run.stdout));
      expect(run.status, run.stdout + run.stderr).toBe(0);
      expect(summary, run.stdout).not.toBeNull();
      // Every case ran and passed: the suite has more than 70 (77 when this was written).
      expect(Number(summary![1])).toBe(Number(summary![2]));
      expect(Number(summary![1])).toBeGreaterThan(70);
    },
  );

  it.skipIf(nestedReason)('cli: each command of the README runs with the kvm-ts bin and succeeds', () => {
    const lines = block('apps/cli', 'sh')
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').trim())
      .filter((line) => line.startsWith('kvm-ts '));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const bin = join(root, 'examples', 'node_modules', '.bin');
    const env = { ...inherited, PATH: `${bin}${delimiter}${process.env.PATH}` };
    for (const line of lines) {
      const stdout = execFileSync('sh', ['-c', line], {
        encoding: 'latin1',
        env,
        timeout: 120_000,
        stdio: 'pipe',
      });
      if (line.startsWith('kvm-ts demo')) expect(stdout).toContain(' 2262 found');
      if (line.includes('--json')) expect(() => JSON.parse(stdout), line).not.toThrow();
    }
  });
});
