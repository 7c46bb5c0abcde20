/**
 * A watchdog for `run()`: a helper thread that kicks the vCPU when a run outlasts its deadline and, if KVM_RUN
 * still has not returned after a grace period, kills the process with a message on stderr. A guest that
 * wedges KVM_RUN (PVM's real-mode triple fault spins in the kernel) then costs one test process, never a
 * hung CI job. The vCPU thread itself cannot time anything out: it is blocked inside the ioctl.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { KickTarget } from './kick.js';

/**
 * What the watchdog interrupts: a vCPU (its thread and `kvm_run`, from `vcpu.kickTarget()`), or only a thread
 * (without `runAddress`: a test runner's thread, whatever vCPU it may be running).
 */
export type WatchdogTarget = Pick<KickTarget, 'thread'> & Partial<Pick<KickTarget, 'runAddress'>>;

// The helper thread's code, run as an eval'd CommonJS Worker so the package needs no extra file at run time.
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const state = new Int32Array(workerData.state);
const runAddress = workerData.target.runAddress;
// koffi is loaded only when a kick is due: most watchdogs never fire, and a thread ended while its addon is
// still loading takes the whole process down (Node's fatal napi_throw), as seen when tests close quickly.
let pthreadKill;
let flag;
function kick() {
  if (!pthreadKill) {
    const koffi = require(workerData.koffiPath);
    pthreadKill = koffi.load('libc.so.6').func('pthread_kill', 'int', ['uint64_t', 'int']);
    if (runAddress !== undefined) flag = new Uint8Array(koffi.view(runAddress, 2));
  }
  if (flag) Atomics.store(flag, 1, 1);
  pthreadKill(workerData.target.thread, 12);
}
for (;;) {
  const generation = Atomics.load(state, 0);
  if (generation < 0) break;
  if (generation % 2 === 0) { Atomics.wait(state, 0, generation); continue; }
  if (Atomics.wait(state, 0, generation, Atomics.load(state, 1)) !== 'timed-out') continue;
  kick();
  if (Atomics.wait(state, 0, generation, workerData.graceMs) !== 'timed-out') continue;
  writeSync(2, 'kvm-ts watchdog: the watched thread (in KVM_RUN?) did not return ' + workerData.graceMs +
    ' ms after it was kicked; killing the process so that nothing waits for it forever\\n');
  process.kill(process.pid, 'SIGKILL');
}
`;

/** Arms around each `run()`: `arm(ms)` before, `disarm()` after. */
export class RunWatchdog {
  private readonly state = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;
  private readonly exited: Promise<unknown>;

  /**
   * @param target the vCPU to kick (from `vcpu.kickTarget()`, which also installs the SIGUSR2 listener), or a
   *   thread to signal (then call `installKickHandler()` first: SIGUSR2's default action ends the process)
   * @param graceMs how long after the kick KVM_RUN may take to return before the process is killed
   */
  constructor(target: WatchdogTarget, graceMs = 2000) {
    const koffiPath = createRequire(import.meta.url).resolve('koffi');
    this.worker = new Worker(WATCHDOG_SOURCE, {
      eval: true,
      workerData: { koffiPath, target, state: this.state.buffer, graceMs },
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.unref();
  }

  /** Starts the clock: the run that follows must return within `timeoutMs`. */
  arm(timeoutMs: number): void {
    Atomics.store(this.state, 1, timeoutMs);
    if (Atomics.load(this.state, 0) % 2 === 0) Atomics.add(this.state, 0, 1);
    Atomics.notify(this.state, 0);
  }

  /** Stops the clock after a run returned. */
  disarm(): void {
    if (Atomics.load(this.state, 0) % 2 === 1) Atomics.add(this.state, 0, 1);
    Atomics.notify(this.state, 0);
  }

  /** Ends the helper thread: it leaves its loop and exits by itself, so it is never stopped mid-kick. */
  async close(): Promise<void> {
    Atomics.store(this.state, 0, -1);
    Atomics.notify(this.state, 0);
    await this.exited;
  }
}
