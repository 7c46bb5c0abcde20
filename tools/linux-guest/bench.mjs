// `pnpm bench:linux`: seconds from process start to `/init`'s marker for Debian's kernel with the
// busybox initramfs, on the kvm-ts emulator (through `kvm-ts run`) and under QEMU TCG, side by side
// with the same kernel, initramfs and command line; prints both and the ratio.
//   pnpm bench:linux [-- --flavour cloud|generic] [--timeout S]   (default: cloud, 600 s a peer)
// QEMU runs its microvm machine (no PCI, no firmware tables), the closest it has to the VMM's.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findCommand } from '../nested-kvm/apt.mjs';
import { CMDLINE, ensureLinuxGuest, INIT_MARKER, scriptArgs } from './guest.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: options } = parseArgs({
  args: scriptArgs(),
  options: { flavour: { type: 'string', default: 'cloud' }, timeout: { type: 'string', default: '600' } },
});
const timeoutSeconds = Number(options.timeout);

/**
 * Runs `command` until `INIT_MARKER` appears on its stdout or `timeoutSeconds` pass, then kills it.
 * Resolves to `{ seconds }` or `{ failed }` with the last line of serial output, to say where it stopped.
 */
function timeToMarker(command, args) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let stderr = '';
    let settled = false;
    const settle = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(result);
    };
    const lastLine = () =>
      output
        .split(/\r?\n/)
        .filter((line) => line.trim())
        .at(-1) ?? '(no serial output)';
    const timer = setTimeout(
      () => settle({ failed: `no marker after ${timeoutSeconds} s; last line: ${lastLine()}` }),
      timeoutSeconds * 1000,
    );
    child.stdout.on('data', (chunk) => {
      output += chunk.toString('latin1');
      if (output.includes(INIT_MARKER)) settle({ seconds: (performance.now() - started) / 1000 });
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk.toString('latin1');
    });
    child.on('error', (error) => settle({ failed: error.message }));
    child.on('close', (code) => {
      const why = stderr.trim().split('\n').at(-1) ?? '';
      settle({ failed: `ended with status ${code} before the marker (${why}); last line: ${lastLine()}` });
    });
  });
}

const guest = await ensureLinuxGuest({
  flavour: options.flavour,
  cacheDir: join(root, '.cache', 'linux-guest'),
  log: (line) => console.error(`bench:linux: ${line}`),
});
console.log(`boot to /init: ${guest.label}, busybox initramfs, 512 MiB, "${CMDLINE}"`);

const peers = [];
const bin = join(root, 'apps', 'cli', 'dist', 'bin.js');
peers.push({
  name: 'kvm-ts emulator',
  missing: existsSync(bin) ? null : 'apps/cli is not built (pnpm build)',
  run: () =>
    timeToMarker(process.execPath, [
      bin,
      'run',
      guest.kernel,
      '--backend',
      'emulator',
      '--mem',
      '512M',
      '--initrd',
      guest.initramfs,
      '--append',
      CMDLINE,
    ]),
});
const qemu = findCommand('qemu-system-x86_64');
peers.push({
  name: 'QEMU TCG',
  missing: qemu ? null : 'qemu-system-x86_64 not found: install Debian qemu-system-x86',
  run: () =>
    timeToMarker(qemu, [
      ...['-accel', 'tcg', '-M', 'microvm,acpi=off', '-m', '512', '-nodefaults', '-no-user-config'],
      ...['-display', 'none', '-serial', 'stdio', '-no-reboot'],
      ...['-kernel', guest.kernel, '-initrd', guest.initramfs, '-append', CMDLINE],
    ]),
});

const results = new Map();
for (const peer of peers) {
  const result = peer.missing ? { failed: `skipped: ${peer.missing}` } : await peer.run();
  results.set(peer.name, result);
  console.log(
    `${peer.name.padEnd(16)} ${'seconds' in result ? `${result.seconds.toFixed(2)} s` : result.failed}`,
  );
}
const emulator = results.get('kvm-ts emulator');
const reference = results.get('QEMU TCG');
if ('seconds' in emulator && 'seconds' in reference) {
  console.log(
    `emulator / QEMU TCG: ${(emulator.seconds / reference.seconds).toFixed(2)}x the time (target: 3x)`,
  );
} else {
  console.log('emulator / QEMU TCG: no ratio (a peer did not reach the marker)');
}
