import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const examplesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');

/** Why the native backend cannot run here, or `undefined` when `/dev/kvm` opens for reading and writing. */
export const noKvmReason: string | undefined = (() => {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return undefined;
  } catch (error) {
    return `/dev/kvm cannot be opened here (${(error as Error).message}): native runs skipped`;
  }
})();

/**
 * Inside the nested reference KVM (`pnpm test:kvm` sets KVM_TS_NESTED) the examples are there for the native
 * backend; their emulator runs are the host's, and would only be slower under QEMU's software CPU.
 */
export const nestedReason: string | undefined = process.env.KVM_TS_NESTED
  ? 'inside the nested reference KVM only the native runs are made; the emulator runs are the host test run'
  : undefined;

/** The backends each example is run on: the emulator (except nested), native where `/dev/kvm` exists. */
export const backends = [
  { name: 'emulator', skip: nestedReason },
  { name: 'native', skip: noKvmReason },
] as const;

/** What an example printed and how it ended. */
export interface ExampleRun {
  stdout: string;
  stderr: string;
  status: number | null;
}

/**
 * Runs `examples/<name>/main.ts` with tsx, as a reader would, with `args` on its command line and
 * KVM_TS_BACKEND removed from the environment unless given in `env`.
 */
export function runExample(name: string, args: string[], env: Record<string, string> = {}): ExampleRun {
  return runScript(join(examplesDir, name, 'main.ts'), args, env);
}

/** Runs a TypeScript file with tsx, KVM_TS_BACKEND removed from the environment unless given in `env`. */
export function runScript(file: string, args: string[], env: Record<string, string> = {}): ExampleRun {
  const { KVM_TS_BACKEND: _, ...inherited } = process.env;
  const result = spawnSync(process.execPath, [tsxCli, file, ...args], {
    encoding: 'utf8',
    env: { ...inherited, ...env },
    timeout: process.env.KVM_TS_NESTED ? 300_000 : 50_000,
  });
  if (result.error) throw result.error;
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}
