/**
 * The emulator's vCPU runs on the process's main thread, and every other thread of the process works for it:
 * V8's compiler and garbage-collector helpers (TurboFan compiles the emulator's JavaScript and tiers up its
 * WebAssembly blocks), and the emulator's own thread that compiles block modules. On a host with few cores they
 * outnumber the cores, and the scheduler gives them the run loop's core in turn: in a boot of Debian's Linux on a
 * 2-core host the run loop waited for a core 0.5-0.6 s of about 6 s. With those threads at a lower priority it
 * waited 0.1 s, and they still had the other core. Linux alone sets the priority of one thread of a process
 * (`setpriority` on a thread id); elsewhere this does nothing.
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';

/**
 * How much nicer than the main thread the helper threads are made (Linux nice values, 19 at most). Boots of
 * Debian's cloud kernel to /init on a 2-core host, alternating with and without: 10 of 10 pairs faster with 10,
 * medians 5.51 s against 5.88 s, the run loop's wait for a core 0.11 s against 0.53 s. In a rotation of six
 * rounds, 5, 10 and 19 did equally well (medians 6.43, 6.50 and 6.58 s in a slow hour, 6.95 s without).
 */
export const HELPER_NICENESS = 10;

/** Where Linux lists a process's threads. */
const TASKS = '/proc/self/task';

/**
 * Makes every thread of this process except the main one `niceness` nicer than the main thread, once each:
 * `lowered` holds the thread ids done, and those lowered now are added. Returns how many were lowered now; 0
 * where the threads cannot be listed (not Linux) or set.
 */
export function lowerHelperThreads(lowered: Set<number>, niceness = HELPER_NICENESS, tasks = TASKS): number {
  let ids: string[];
  try {
    ids = readdirSync(tasks);
  } catch {
    return 0;
  }
  const main = process.pid;
  const nice = Math.min(19, getPriority(main) + niceness);
  let count = 0;
  for (const name of ids) {
    const id = Number(name);
    if (id === main || lowered.has(id)) continue;
    try {
      setPriority(id, nice);
    } catch {
      // Gone already, or not allowed: it keeps its priority.
      continue;
    }
    lowered.add(id);
    count++;
  }
  return count;
}

/**
 * Lowers the helper threads now and, every `everyMs`, those started since (the emulator starts its compiler
 * thread at its first hot block; V8 may start helpers later). The timer does not keep the process alive. Returns
 * the function that stops it; lowered threads stay lowered. Off the main thread (a VMM run inside a worker) it
 * does nothing: the vCPU is not the thread it would favour.
 */
export function keepMainThreadAhead(everyMs = 100): () => void {
  if (!isMainThread) return () => {};
  const lowered = new Set<number>();
  lowerHelperThreads(lowered);
  const timer = setInterval(() => lowerHelperThreads(lowered), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
