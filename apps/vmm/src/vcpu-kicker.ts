import { Worker } from 'node:worker_threads';

/** The signal sent to interrupt KVM_RUN. Its handler does nothing: the interruption is the point. */
const KICK_SIGNAL = 'SIGUSR2';

/**
 * The watchdog thread: it samples a shared counter the vCPU thread bumps before each `run()`, and when a run
 * has gone on for a whole interval without returning it signals the process. Linux delivers a process signal
 * to the main thread first (kernel/signal.c, complete_signal), so KVM_RUN there returns EINTR, which the
 * backend reports as an `intr` exit. Plain CommonJS because it is evaluated, not imported.
 */
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const shared = new Int32Array(workerData.shared);
let last = -1;
setInterval(() => {
  const beat = Atomics.load(shared, 0);
  if (Atomics.load(shared, 1) === 1 && beat === last) process.kill(process.pid, workerData.signal);
  last = beat;
}, workerData.intervalMs);
`;

/**
 * Keeps a synchronous `vcpu.run()` from holding the event loop forever: a guest spinning without exits, or
 * halted waiting for an interrupt the terminal has not delivered yet, is interrupted every `intervalMs` so the
 * run loop can read input, check its timeout and stop. This is how QEMU and Firecracker kick vCPU threads,
 * done from a worker thread because the vCPU runs on Node's main thread.
 */
export class VcpuKicker {
  private readonly shared = new Int32Array(new SharedArrayBuffer(8));
  private worker: Worker | null = null;
  private readonly ignore = (): void => {};

  constructor(private readonly intervalMs = 10) {}

  /** Starts the watchdog thread and installs the signal's empty handler. */
  start(): void {
    if (this.worker) return;
    process.on(KICK_SIGNAL, this.ignore);
    this.worker = new Worker(WATCHDOG_SOURCE, {
      eval: true,
      workerData: { shared: this.shared.buffer, intervalMs: this.intervalMs, signal: KICK_SIGNAL },
    });
    this.worker.unref();
  }

  /** Call right before `vcpu.run()`. */
  entering(): void {
    Atomics.add(this.shared, 0, 1);
    Atomics.store(this.shared, 1, 1);
  }

  /** Call right after `vcpu.run()` returns. */
  left(): void {
    Atomics.store(this.shared, 1, 0);
  }

  /** Stops the watchdog and removes the handler. */
  async stop(): Promise<void> {
    Atomics.store(this.shared, 1, 0);
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
    process.off(KICK_SIGNAL, this.ignore);
  }
}
