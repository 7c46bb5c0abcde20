/**
 * The `kvm-ts` command as users run it: a child process, guest output on stdout, messages on stderr, the exit
 * status as documented. Guests run on every backend that opens here; the others are skipped with the reason.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openKvm } from '@kvm-ts/core';
import { afterAll, describe, expect, it } from 'vitest';

// Inside the nested reference KVM (`pnpm test:kvm` sets KVM_TS_NESTED, and builds come first) the built bin runs:
// under QEMU's software CPU, tsx transpiling the sources cost 15-20 s a command.
const nested = process.env.KVM_TS_NESTED
  ? 'inside the nested reference KVM only the native runs are made; the host test run makes the others'
  : null;
const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const command = nested
  ? [join(appDir, 'dist', 'bin.js')]
  : ['--import', 'tsx', join(appDir, 'src', 'bin.ts')];
const work = mkdtempSync(join(tmpdir(), 'kvm-ts-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function kvmTs(args: string[], input = '') {
  const result = spawnSync(process.execPath, [...command, ...args], {
    encoding: 'latin1',
    input,
    timeout: 120_000,
    env: withoutBackendChoice(),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function withoutBackendChoice(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.KVM_TS_BACKEND;
  return env;
}

function file(name: string, bytes: number[]): string {
  const path = join(work, name);
  writeFileSync(path, Uint8Array.from(bytes));
  return path;
}

async function opens(name: string): Promise<string | null> {
  try {
    (await openKvm({ backend: name })).close();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

if (nested) console.log(`kvm-ts without a guest skipped: ${nested}`);
describe.skipIf(nested !== null)('kvm-ts without a guest', () => {
  it('explains every command with examples', () => {
    const top = kvmTs(['--help']);
    expect(top.status).toBe(0);
    for (const command of ['info', 'abi', 'run', 'demo']) expect(top.stdout).toContain(command);
    for (const command of ['info', 'abi', 'run', 'demo']) {
      const help = kvmTs([command, '--help']);
      expect(help.status).toBe(0);
      expect(help.stdout).toContain('Examples:');
    }
    const run = kvmTs(['run', '--help']).stdout;
    for (const option of [
      '--backend',
      '--format',
      '--mem',
      '--cpus',
      '--load-addr',
      '--entry',
      '--mode',
      '--initrd',
      '--append',
      '--timeout',
      '--trace-exits',
    ]) {
      expect(run).toContain(option);
    }
    expect(run).toContain('Exit status:');
  });

  it('reports a bad option, a missing file and a malformed image in one line, status 2, no stack trace', () => {
    const badSize = kvmTs(['run', '--mem', '12Q', 'x']);
    expect(badSize.status).toBe(2);
    expect(badSize.stderr).toBe(
      "kvm-ts: option '--mem <size>' argument '12Q' is invalid. expected a size such as 256M, 1G or 65536K\n",
    );
    const missing = kvmTs(['run', join(work, 'nope.bin')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe(`kvm-ts: cannot read image ${join(work, 'nope.bin')}: ENOENT\n`);
    const tooMany = kvmTs(['run', '--backend', 'emulator', '--cpus', '255', file('cpus.bin', [0xf4])]);
    expect(tooMany.status).toBe(2);
    expect(tooMany.stderr).toContain(
      'kvm-ts: --cpus 255: the emulator backend runs at most 254 vCPUs here (KVM_CAP_MAX_VCPUS, and 254 in the MP table)\n',
    );
    expect(tooMany.stderr).not.toContain('    at ');
    const zero = kvmTs(['run', '--cpus', '0', 'x']);
    expect(zero.status).toBe(2);
    expect(zero.stderr.trim().split('\n')).toHaveLength(1);
    const unknown = kvmTs(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toBe("kvm-ts: unknown command 'frobnicate'\n");
  });
});

for (const backend of ['native', 'emulator']) {
  const why = backend === 'emulator' && nested ? nested : await opens(backend);
  if (why) console.log(`skipping kvm-ts runs on ${backend}: ${why}`);
  describe.skipIf(why !== null)(`kvm-ts on the ${backend} backend`, () => {
    it('info --json reports the backend, API version 12, capabilities, CPUID and MSRs', () => {
      const info = kvmTs(['info', '--backend', backend, '--json']);
      expect(info.status).toBe(0);
      const report = JSON.parse(info.stdout);
      expect(report.backend.name).toBe(backend);
      expect(report.apiVersion).toBe(12);
      expect(report.vcpuMmapSize).toBeGreaterThan(0);
      expect(report.capabilities.USER_MEMORY).toBe(1);
      expect(report.supportedCpuid.length).toBeGreaterThan(0);
      expect(Array.isArray(report.msrIndexList)).toBe(true);
      const text = kvmTs(['info', '--backend', backend]);
      expect(text.stdout).toMatch(/^backend: +\S+/);
      expect(text.stdout).toContain('API version:      12');
    });

    it('runs the demo with status 0, serial output alone on stdout and messages on stderr', () => {
      const demo = kvmTs(['demo', '--backend', backend, '--timeout', '100']);
      expect(demo.stderr).toContain('guest reset the machine');
      expect(demo.status).toBe(0);
      expect(demo.stdout).toContain('switched to 64-bit long mode');
      expect(demo.stdout).toContain('2262 found');
      expect(demo.stdout).not.toContain('kvm-ts:');
      expect(demo.stderr).toMatch(new RegExp(`^kvm-ts: backend ${backend} `));
    }, 150_000);

    it('follows the exit port: out 0xf4, 0x10 gives status 33', () => {
      // mov al, 0x10; out 0xf4, al; hlt
      const guest = file(`exit-${backend}.bin`, [0xb0, 0x10, 0xe6, 0xf4, 0xf4]);
      const run = kvmTs(['run', guest, '--backend', backend]);
      expect(run.status).toBe(33);
      expect(run.stderr).toContain('guest wrote 16 to the exit port (status 33)');
    });

    it('runs with --cpus 2: the APs wait for a start-up IPI the guest never sends, and stop with it', () => {
      // mov al, 0x11; out 0xf4, al; hlt
      const guest = file(`cpus-${backend}.bin`, [0xb0, 0x11, 0xe6, 0xf4, 0xf4]);
      const run = kvmTs(['run', guest, '--backend', backend, '--cpus', '2']);
      expect(run.stderr).toContain('2 vCPUs');
      expect(run.stderr).toContain('guest wrote 17 to the exit port (status 35)');
      expect(run.status).toBe(35);
    });

    it('feeds piped stdin to COM1: an echo guest reads two bytes and prints them back', () => {
      // Real mode: poll LSR.DR, read, write back, twice; then out 0xf4, 0.
      const code = [
        0xb9,
        0x02,
        0x00, // mov cx, 2
        0xba,
        0xfd,
        0x03, // mov dx, 0x3fd
        0xec, // in al, dx
        0xa8,
        0x01, // test al, 1
        0x74,
        0xfb, // jz -5
        0xba,
        0xf8,
        0x03, // mov dx, 0x3f8
        0xec, // in al, dx
        0xee, // out dx, al
        0xe2,
        0xf1, // loop -15 (to mov dx, 0x3fd)
        0x30,
        0xc0, // xor al, al
        0xe6,
        0xf4, // out 0xf4, al
      ];
      const run = kvmTs(
        ['run', file(`echo-${backend}.bin`, code), '--backend', backend, '--timeout', '30'],
        'hi',
      );
      expect(run.stdout).toBe('hi');
      expect(run.status).toBe(1);
    });

    it('ends a spinning guest at --timeout with status 8 and prints exits with --trace-exits', () => {
      // out 0x80, al; jmp $
      const run = kvmTs([
        'run',
        file(`spin-${backend}.bin`, [0xe6, 0x80, 0xeb, 0xfe]),
        '--backend',
        backend,
        '--timeout',
        '0.5',
        '--trace-exits',
      ]);
      expect(run.status).toBe(8);
      expect(run.stderr).toContain('exit: io out port 0x80 size 1');
      expect(run.stderr).toMatch(/kvm-ts: timed out after 0.5 s/);
    }, 60_000);
  });
}
