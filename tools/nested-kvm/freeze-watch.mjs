// Tells a frozen nested machine from a slow or hung test: when the whole L1 guest stops (QEMU's
// software CPU idles for good, L1's timers no longer fire), QEMU uses no CPU and the console, which
// the guest's heartbeat otherwise feeds every HEARTBEAT_S seconds, goes silent. A test of ours that
// hangs keeps both going (node spins, or L1 idles but its heartbeat still ticks).
import { readFileSync } from 'node:fs';

/** Seconds between the guest's `[guest] heartbeat` lines (see guest-init.mjs). */
export const HEARTBEAT_S = 15;

/**
 * Seconds of console silence, with QEMU using less than FROZEN_MAX_CPU_S of CPU, that mean the
 * nested machine froze: four missed heartbeats.
 */
export const FROZEN_QUIET_S = 60;

/**
 * CPU seconds QEMU may use over FROZEN_QUIET_S and still count as frozen. A live guest running our
 * tests burns about one CPU second a second under TCG; a frozen one was seen at 0% for minutes.
 */
export const FROZEN_MAX_CPU_S = 1;

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
 * Decides, from samples of QEMU's CPU time and the time of the last console output, whether the
 * nested machine froze. Pure (times are passed in), so the tests can drive it.
 */
export class FreezeWatch {
  #quietS;
  #maxCpuS;
  /** Samples `{ at, cpu }`, oldest first, covering at least the last `quietS` seconds. */
  #samples = [];
  #lastOutputAt;

  constructor({ quietS = FROZEN_QUIET_S, maxCpuS = FROZEN_MAX_CPU_S, startedAt = 0 } = {}) {
    this.#quietS = quietS;
    this.#maxCpuS = maxCpuS;
    this.#lastOutputAt = startedAt;
  }

  /** The console printed something at `at` (seconds). */
  output(at) {
    this.#lastOutputAt = at;
  }

  /**
   * QEMU had used `cpu` CPU seconds at `at`. Returns null while the machine looks alive, or
   * `{ quietS, cpuS }` (how long the console has been silent, CPU used over the window) once it
   * has been silent for `quietS` seconds while QEMU used less than `maxCpuS` of CPU.
   */
  sample(at, cpu) {
    this.#samples.push({ at, cpu });
    // Keep the newest sample at least quietS old, so the window is always a full one.
    while (this.#samples.length > 1 && this.#samples[1].at <= at - this.#quietS) this.#samples.shift();
    const quiet = at - this.#lastOutputAt;
    const oldest = this.#samples[0];
    if (quiet < this.#quietS || at - oldest.at < this.#quietS) return null;
    const used = cpu - oldest.cpu;
    return used < this.#maxCpuS ? { quietS: quiet, cpuS: used } : null;
  }
}

/** The one line the runner prints when the nested machine froze. */
export function frozenMessage({ quietS, cpuS }) {
  return (
    `the nested machine froze: QEMU used ${cpuS.toFixed(2)} s of CPU and the guest printed nothing ` +
    `(not even its heartbeat) for ${Math.round(quietS)} s; this is the reference machine ` +
    '(QEMU TCG with nested SVM), not kvm-ts'
  );
}
