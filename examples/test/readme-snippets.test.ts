import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { noKvmReason, runScript } from './support/run-example.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Inside examples/node_modules, so that the snippet's `@kvm-ts/*` imports resolve as a user's would.
const scratch = join(root, 'examples', 'node_modules', '.readme-snippets');

/** The first ```ts block of a package's README, written out as a script tsx can run. */
function snippet(pkg: string): string {
  const readme = readFileSync(join(root, 'packages', pkg, 'README.md'), 'utf8');
  const block = /^```ts\n([\s\S]*?)^```$/m.exec(readme);
  if (!block) throw new Error(`packages/${pkg}/README.md has no \`\`\`ts block`);
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, `${pkg}.mts`);
  writeFileSync(file, block[1]);
  return file;
}

describe('the usage examples in the package READMEs', () => {
  it('core: runs the README guest on the emulator', () => {
    const run = runScript(snippet('core'), [], { KVM_TS_BACKEND: 'emulator' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('emulator emulator was chosen by KVM_TS_BACKEND\nout 3f8: 65\n');
  });

  if (noKvmReason) console.log(`README snippets on native skipped: ${noKvmReason}`);

  it.skipIf(noKvmReason)('core: runs the README guest on the native backend', () => {
    const run = runScript(snippet('core'), [], { KVM_TS_BACKEND: 'native' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('native native was chosen by KVM_TS_BACKEND\nout 3f8: 65\n');
  });

  it('emulator: opens the emulator and creates a VM, a slot and a vCPU', () => {
    const run = runScript(snippet('emulator'), []);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it.skipIf(noKvmReason)('native: prints the KVM flavour', () => {
    const run = runScript(snippet('native'), []);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^kvm_\w+\n$/);
  });
});
