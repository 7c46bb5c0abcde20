// Tells a frozen nested machine from a slow or hung test. The guest's /init prints a heartbeat every
// HEARTBEAT_S seconds from L1's user space; it stops only when L1 itself stops running (its timers no
// longer fire), which no test of ours can cause: a hung test leaves L1's scheduler and timers going.
// Two freezes were seen: QEMU at 0% CPU (its vCPU halted, never woken), and, on 2026-11-26, QEMU at
// 100% CPU with its MTTCG vCPU thread looping between tcg_cpus_exec and qemu_wait_io_event without
// running guest code (perf and gdb on the live process). Both silence the heartbeat, so silence is
// the verdict; QEMU's CPU time only says which kind it was.
import { readFileSync } from 'node:fs';

/** Seconds between the guest's `[guest] heartbeat` lines (see guest-init.mjs). */
export const HEARTBEAT_S = 15;

/** Seconds of console silence (four missed heartbeats) that mean the nested machine froze. */
export const FROZEN_QUIET_S = 60;

/**
 * CPU seconds a second below which QEMU counts as idle over the silent window (a frozen QEMU was
 * seen at 0% and at 100%; a live one running our tests uses about one CPU second a second).
 */
export const IDLE_CPU_SHARE = 0.05;

/** Clock ticks a second in /proc/<pid>/stat (USER_HZ, 100 on every x86-64 Linux). */
const USER_HZ = 100;

/**
 * CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat (proc(5): fields 14
 * and 15, counted after the parenthesised command name, which may itself hold spaces), or null when
 * the process is gone.
 */
export function processCpuSeconds(pid, readStat = (path) => readFileSync(path, 'utf8')) {
  let stat;
  try {
    stat = readStat(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  return parseCpuSeconds(stat);
}

/** utime + stime of a /proc/<pid>/stat line, in seconds, or null if the line is malformed. */
export function parseCpuSeconds(stat) {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (14) and stime (15) are fields[11] and fields[12].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) return null;
  return (utime + stime) / USER_HZ;
}

/**
 * Decides, from samples of QEMU's CPU time and the times of console output, whether the nested
 * machine froze. Pure (times are passed in), so the tests can drive it.
 */
export class FreezeWatch {
  #quietS;
  /** Samples `{ at, cpu }`, oldest first, covering at least the last `quietS` seconds. */
  #samples = [];
  #lastOutputAt;

  constructor({ quietS = FROZEN_QUIET_S, startedAt = 0 } = {}) {
    this.#quietS = quietS;
    this.#lastOutputAt = startedAt;
  }

  /** The console printed something at `at` (seconds). */
  output(at) {
    this.#lastOutputAt = at;
  }

  /** When the console last printed something (seconds). */
  get lastOutputAt() {
    return this.#lastOutputAt;
  }

  /**
   * QEMU had used `cpu` CPU seconds at `at`. Returns null while the console is alive, or
   * `{ quietS, cpuS, windowS }` once it has been silent for `quietS` seconds: how long it has been
   * silent, and the CPU QEMU used over the last `windowS` seconds of samples (the last half of the
   * silence: the freeze began at most one heartbeat after the last line, so that half is all frozen).
   */
  sample(at, cpu) {
    this.#samples.push({ at, cpu });
    const window = this.#quietS / 2;
    // Keep the oldest sample at most `window` old, but never drop the last one that is.
    while (this.#samples.length > 1 && this.#samples[1].at <= at - window) this.#samples.shift();
    const quiet = at - this.#lastOutputAt;
    if (quiet < this.#quietS) return null;
    const oldest = this.#samples[0];
    return { quietS: quiet, cpuS: cpu - oldest.cpu, windowS: at - oldest.at };
  }
}

/** Whether QEMU was idle (halted, never woken) rather than busy over a frozen window. */
export function qemuWasIdle({ cpuS, windowS }) {
  return windowS > 0 && cpuS / windowS < IDLE_CPU_SHARE;
}

/** The one line the runner prints when the nested machine froze. */
export function frozenMessage(verdict) {
  const { quietS, cpuS, windowS } = verdict;
  const qemu = qemuWasIdle(verdict)
    ? `QEMU idle (${cpuS.toFixed(1)} s of CPU in the last ${Math.round(windowS)} s)`
    : `QEMU busy (${cpuS.toFixed(1)} s of CPU in the last ${Math.round(windowS)} s)`;
  return (
    `the nested machine froze: no console output, not even the guest's heartbeat, for ${Math.round(quietS)} s, ` +
    `${qemu}; this is the reference machine (QEMU TCG with nested SVM), not kvm-ts`
  );
}
