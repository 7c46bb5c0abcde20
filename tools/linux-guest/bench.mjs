// `pnpm bench:linux`: seconds from process start to `/init`'s marker for Debian's kernel with the
// busybox initramfs, on the kvm-ts emulator (through `kvm-ts run`) and under QEMU TCG, side by side
// with the same kernel, initramfs and command line; prints both and the ratio.
//   pnpm bench:linux [-- --flavour cloud|generic] [--timeout S] [--rounds N]
//   (default: cloud, 600 s a peer, 3 rounds)
// QEMU runs its microvm machine (no PCI, no firmware tables), the closest it has to the VMM's.
// On a shared machine one boot can take twice as long as the next: each round boots both peers back
// to back (the order alternating), so a round's ratio compares runs under about the same load, and
// the summary gives the median round with the spread. Each time also has the peer's CPU time
// (user + system, all threads; Linux only), which another tenant's load moves less than wall time.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findCommand } from '../nested-kvm/apt.mjs';
import { CMDLINE, ensureLinuxGuest, INIT_MARKER, scriptArgs } from './guest.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: options } = parseArgs({
  args: scriptArgs(),
  options: {
    flavour: { type: 'string', default: 'cloud' },
    timeout: { type: 'string', default: '600' },
    rounds: { type: 'string', default: '3' },
  },
});
const timeoutSeconds = Number(options.timeout);
const rounds = Number(options.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) {
  console.error(`bench:linux: --rounds takes a whole number from 1 to 50, not "${options.rounds}"`);
  process.exit(2);
}

/** Clock ticks a second in /proc/<pid>/stat (USER_HZ: 100 on every Linux architecture we run on). */
const USER_HZ = 100;

/** CPU seconds (user + system, all threads) the process `pid` has used so far, or undefined off Linux. */
function cpuSeconds(pid) {
  try {
    // Fields after the command name, which sits in parentheses and may hold spaces: utime and stime are
    // fields 14 and 15 of the line, 12 and 13 after it.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return undefined;
  }
}

/**
 * Runs `command` until `INIT_MARKER` appears on its stdout or `timeoutSeconds` pass, then kills it.
 * Resolves to `{ seconds, cpu }` (cpu: its CPU seconds at the marker, when known) or `{ failed }` with
 * the last line of serial output, to say where it stopped.
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
      if (output.includes(INIT_MARKER))
        settle({ seconds: (performance.now() - started) / 1000, cpu: cpuSeconds(child.pid) });
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

/** The middle value of `values` (the mean of the middle two for an even count). */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A peer's result as printed: wall time, and CPU time when known; or why it has none. */
function shown(result) {
  if (!('seconds' in result)) return result.failed;
  const cpu = result.cpu === undefined ? '' : ` (cpu ${result.cpu.toFixed(1)} s)`;
  return `${result.seconds.toFixed(2)} s${cpu}`;
}

const times = new Map(peers.map((peer) => [peer.name, []]));
const ratios = [];
for (let round = 1; round <= rounds; round++) {
  // Alternate which peer goes first, so neither always meets the machine as the other left it.
  const order = round % 2 === 1 ? peers : [...peers].reverse();
  const results = new Map();
  for (const peer of order) {
    const result = peer.missing ? { failed: `skipped: ${peer.missing}` } : await peer.run();
    results.set(peer.name, result);
    if ('seconds' in result) times.get(peer.name).push(result.seconds);
    console.log(`round ${round}/${rounds}  ${peer.name.padEnd(16)} ${shown(result)}`);
  }
  const emulator = results.get('kvm-ts emulator');
  const reference = results.get('QEMU TCG');
  if ('seconds' in emulator && 'seconds' in reference) {
    const ratio = emulator.seconds / reference.seconds;
    ratios.push(ratio);
    console.log(`round ${round}/${rounds}  emulator / QEMU TCG: ${ratio.toFixed(2)}x the time`);
  } else {
    console.log(`round ${round}/${rounds}  emulator / QEMU TCG: no ratio (a peer did not reach the marker)`);
    // A peer that cannot boot will not boot next round either.
    break;
  }
}
if (ratios.length > 0) {
  const perPeer = peers.map((peer) => `${peer.name} ${median(times.get(peer.name)).toFixed(2)} s`).join(', ');
  console.log(
    `emulator / QEMU TCG: ${median(ratios).toFixed(2)}x the time, the median of ${ratios.length} round(s) ` +
      `(${Math.min(...ratios).toFixed(2)}x to ${Math.max(...ratios).toFixed(2)}x; median times: ${perPeer}) (target: 3x)`,
  );
} else {
  console.log('emulator / QEMU TCG: no ratio (a peer did not reach the marker)');
}
