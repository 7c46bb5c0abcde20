// Boots the nested guest under QEMU's software CPU and reads its result off the serial console.
import { spawn } from 'node:child_process';
import { FreezeWatch, frozenMessage, processCpuSeconds } from './freeze-watch.mjs';
import {
  LineSplitter,
  parseResultLine,
  parseSuiteHeader,
  parseSuiteStatus,
  parseVitestTotals,
} from './marker.mjs';
import { connectQmp } from './qmp.mjs';
import { isTestFailureLine } from './retry.mjs';

/** Seconds QEMU gets to exit after the guest printed its result (power-off under TCG is quick). */
const EXIT_GRACE_S = 30;
/** Seconds between SIGTERM and SIGKILL when QEMU has to be stopped. */
const KILL_GRACE_S = 5;
/** Seconds between samples of QEMU's CPU time for the freeze watch. */
const SAMPLE_EVERY_S = 5;
/** Seconds a frozen machine gets to print something again after the runner kicked it with an NMI. */
const KICK_WAIT_S = 15;
/** HMP commands whose output the runner logs when the machine froze: where the vCPU was, its APIC. */
const FROZEN_STATE_COMMANDS = ['info registers', 'info lapic'];

/**
 * QEMU's arguments: TCG with every CPU feature it emulates (`max` includes AMD SVM with nested
 * paging, which kvm_amd needs), one vCPU, no default devices, the serial port on stdio, and a
 * kernel that reboots at once on panic, which `-no-reboot` turns into QEMU exiting. With `qmpSocket`,
 * QEMU also listens there for QMP (the freeze watch's way to look at, and kick, a frozen machine).
 * With `dataDir` (an unpacked QEMU's `usr/share/qemu`, see qemu.mjs), QEMU takes its option ROMs
 * (linuxboot_dma.bin, kvmvapic.bin) from there before its built-in folders, so they match its version.
 */
export function qemuArgs({ kernel, initrd, memoryMiB = 2048, qmpSocket = null, dataDir = null }) {
  return [
    ...(dataDir === null ? [] : ['-L', dataDir]),
    ...(qmpSocket === null ? [] : ['-qmp', `unix:${qmpSocket},server=on,wait=off`]),
    ...['-accel', 'tcg', '-cpu', 'max', '-m', String(memoryMiB), '-smp', '1'],
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot'],
    ...['-kernel', kernel, '-initrd', initrd, '-append', 'console=ttyS0 quiet panic=-1'],
  ];
}

/**
 * Runs QEMU, copies the guest console to `write` line by line (without the \r the serial line
 * adds), and resolves with `{ result, totals, finished, failureSeen, timedOut, frozen, seconds,
 * markerSeconds, qemuStatus }` where `result` is the parsed marker or null, `totals` the vitest totals
 * lines seen, each prefixed with the name of the suite whose header came before it (if any),
 * `finished` the `{ name, status }` of each suite that ended, and `failureSeen` whether a test
 * failed in the suite that had not ended (see retry.mjs). QEMU
 * is killed after `timeoutS`, when it lingers after the marker, or when the whole nested machine
 * froze (`frozen` is then the verdict of freeze-watch.mjs). Before giving up on a frozen machine it
 * logs the vCPU's state and kicks it with an NMI through QMP at `qmpSocket`; `kicks` lists
 * `{ at, revivedAfterS }` (null when it stayed frozen). `register(stop)` receives a function that
 * stops QEMU (for signal handlers). `freezeWatch` overrides the watch's thresholds. `dataDir` goes to
 * `qemuArgs`; `moduleDir` (an unpacked QEMU's module folder) to `QEMU_MODULE_DIR`, so that QEMU never
 * loads the system QEMU's modules, built for another version.
 */
export function bootGuest({
  qemu,
  dataDir = null,
  moduleDir = null,
  kernel,
  initrd,
  qmpSocket = null,
  timeoutS,
  write,
  register = () => {},
  freezeWatch = {},
}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const elapsed = () => (performance.now() - started) / 1000;
    const env = moduleDir === null ? process.env : { ...process.env, QEMU_MODULE_DIR: moduleDir };
    const child = spawn(qemu, qemuArgs({ kernel, initrd, qmpSocket, dataDir }), {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = new LineSplitter();
    let result = null;
    const totals = [];
    const finished = [];
    let failureSeen = false;
    let suite = null;
    let markerSeconds = null;
    let timedOut = false;
    let frozen = null;
    let killTimer = null;
    let watch = new FreezeWatch({ ...freezeWatch, startedAt: 0 });
    const kicks = [];
    /** The kick under way: `{ at, verdict }`, while the machine has KICK_WAIT_S to come back. */
    let kick = null;

    const stop = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_S * 1000);
    };
    register(stop);
    const deadline = setTimeout(() => {
      timedOut = true;
      write(`\n[test:kvm] guest still running after ${timeoutS} s: stopping QEMU\n`);
      stop();
    }, timeoutS * 1000);
    let lingerTimer = null;
    const sampler = setInterval(
      () => {
        const cpu = processCpuSeconds(child.pid);
        if (cpu === null || frozen !== null || result !== null) return;
        const now = elapsed();
        if (kick !== null) {
          if (watch.lastOutputAt > kick.at) {
            const revivedAfterS = watch.lastOutputAt - kick.at;
            kicks.push({ at: kick.at, revivedAfterS });
            write(`[test:kvm] the nested machine came back ${revivedAfterS.toFixed(1)} s after the NMI\n`);
            kick = null;
            watch = new FreezeWatch({ ...freezeWatch, startedAt: now });
          } else if (now - kick.at >= KICK_WAIT_S) {
            kicks.push({ at: kick.at, revivedAfterS: null });
            frozen = kick.verdict;
            write(`[test:kvm] still frozen ${KICK_WAIT_S} s after the NMI: stopping QEMU\n`);
            stop();
          }
          return;
        }
        const verdict = watch.sample(now, cpu);
        if (verdict === null) return;
        write(`\n[test:kvm] ${frozenMessage(verdict)}\n`);
        kick = { at: now, verdict };
        inspectAndKick(qmpSocket, write).catch((error) => write(`[test:kvm] QMP: ${error.message}\n`));
      },
      (freezeWatch.sampleEveryS ?? SAMPLE_EVERY_S) * 1000,
    );

    const take = (line) => {
      write(`${line.replace(/\r/g, '')}\n`);
      const header = parseSuiteHeader(line);
      if (header !== null) {
        suite = header;
        failureSeen = false;
      }
      const ended = parseSuiteStatus(line);
      if (ended !== null) finished.push(ended);
      else if (isTestFailureLine(line)) failureSeen = true;
      const total = parseVitestTotals(line);
      if (total !== null) totals.push(suite === null ? total : `${suite}: ${total}`);
      const parsed = parseResultLine(line);
      if (parsed === null) return;
      result = parsed;
      markerSeconds ??= elapsed();
      lingerTimer ??= setTimeout(() => {
        write(`[test:kvm] QEMU did not exit ${EXIT_GRACE_S} s after the result: stopping it\n`);
        stop();
      }, EXIT_GRACE_S * 1000);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text) => {
      watch.output(elapsed());
      for (const line of lines.push(text)) take(line);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text) => write(text.replace(/\r/g, '')));
    child.on('error', (error) => {
      clearTimeout(deadline);
      clearInterval(sampler);
      reject(error);
    });
    child.on('close', (code, signal) => {
      for (const line of lines.flush()) take(line);
      clearInterval(sampler);
      for (const timer of [deadline, lingerTimer, killTimer]) if (timer) clearTimeout(timer);
      resolve({
        result,
        totals,
        finished,
        failureSeen,
        timedOut,
        frozen,
        kicks,
        seconds: elapsed(),
        markerSeconds,
        qemuStatus: code ?? signal,
      });
    });
  });
}

/**
 * Logs a frozen machine's vCPU state (HMP `info registers`, `info lapic`) and injects an NMI: if
 * L1 merely lost a wake-up, the NMI (and the console line its handler prints) may start it again.
 */
async function inspectAndKick(qmpSocket, write) {
  if (qmpSocket === null) return;
  const qmp = await connectQmp(qmpSocket);
  try {
    for (const command of FROZEN_STATE_COMMANDS) {
      const text = await qmp.execute('human-monitor-command', { 'command-line': command });
      for (const line of String(text).split('\n')) {
        // The vector and x87 registers say nothing about a freeze.
        if (line.trim() === '' || /^(FCW|FPR|XMM|YMM|ZMM|Opmask)/.test(line)) continue;
        write(`[test:kvm] frozen: ${command}: ${line.trimEnd()}\n`);
      }
    }
    await qmp.execute('inject-nmi');
    write(`[test:kvm] kicked the frozen machine with an NMI (QMP inject-nmi); waiting ${KICK_WAIT_S} s\n`);
  } finally {
    qmp.close();
  }
}
