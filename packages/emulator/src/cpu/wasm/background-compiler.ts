/**
 * Compiling block modules on another thread. `new WebAssembly.Module` is a tenth of a millisecond of fixed cost
 * per module (V8 sets up a native module, its code space and jump table), several thousand times in a Linux boot;
 * on the run loop's thread that was about 7% of a boot. Here a worker thread compiles them while the guest goes
 * on in the interpreter, and the run loop collects finished modules between slices.
 *
 * One module is on the thread at a time. Block functions asked for meanwhile wait, and go together in the next
 * module: in a boot most requests come while another is compiling (about two in three), and each module, each
 * message and each instantiation costs the same for one block or thirty. A module also waits for company: it
 * goes when MIN_BATCH functions wait or the first has waited MAX_WAIT_MS. Each message wakes the thread, which
 * on a busy two-core host takes the run loop's core for a while, so fewer, fuller modules are worth the few
 * milliseconds more the guest spends in the interpreter meanwhile. Unless the run loop `hurry`s them: a loop
 * waiting for its block runs thousands of passes in those milliseconds. Measured on a Linux boot to `/init`:
 * sending whenever the thread was idle, 2,100 modules; 8 functions or 4 ms, 840 modules, 3.5 million more
 * instructions interpreted (20.0 million) and about 2% less time; hurried after 64 more visits too, 16.8 million
 * interpreted but 1,040 modules; with 16 functions or 8 ms, 840 modules again, 18.4 million interpreted and
 * about 3% less time than 8 or 4 (13 alternating pairs, 10 faster).
 *
 * The host must let the thread be joined synchronously, because the run loop never yields to the event loop in
 * the middle of a slice: Node's worker_threads (`receiveMessageOnPort`), reached through
 * `process.getBuiltinModule` (Node 20.16 and later) so that nothing here imports a Node built-in and browsers
 * load this file unchanged. Elsewhere `backgroundCompiler()` is null and blocks compile in line, as before.
 */
import { hostNow } from '../host-clock.js';
import { blocksModule } from './encoder.js';
import type { WasmModule } from './host.js';

/** The parts of node:worker_threads used here (the package compiles without Node's typings). */
interface WorkerThreads {
  Worker: new (
    source: string,
    options: { eval: true; workerData: unknown; transferList: unknown[] },
  ) => { unref(): void; terminate(): Promise<number> };
  MessageChannel: new () => { port1: Port; port2: Port };
  receiveMessageOnPort(port: Port): { message: Finished } | undefined;
}

interface Port {
  postMessage(message: unknown, transfer?: unknown[]): void;
  unref?(): void;
}

/** What the worker sends back: a module's number and the module (null if the host refused the bytes). */
interface Finished {
  readonly id: number;
  readonly module: WasmModule | null;
  /** The error's name when it refused them (CompileError is a bug of ours; anything else a host policy). */
  readonly error: string | null;
}

/**
 * The worker: compiles what arrives on its port and counts each answer in the shared word the run loop reads. It
 * reaches worker_threads as the starting thread did (the thread only exists where `getBuiltinModule` does).
 */
const WORKER_SOURCE = `
const { workerData } = process.getBuiltinModule('node:worker_threads');
const { port, done } = workerData;
port.on('message', ({ id, bytes }) => {
  let module = null;
  let error = null;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (e) {
    error = e && e.name ? e.name : 'Error';
  }
  port.postMessage({ id, module, error });
  Atomics.add(done, 0, 1);
});
`;

/**
 * A block function compiled on the worker, or why not: handed to the job's callback by `collect` with the
 * module that holds it and its export's index there (encoder.ts's `blockExport`). The jobs of one module share it.
 */
export type CompileDone = (module: WasmModule | null, index: number, error: string | null) => void;

/** The most block functions one module holds: a bound on how long the first of them waits for the rest. */
const MAX_BATCH = 32;

/** The functions that make a module worth sending at once. */
const MIN_BATCH = 16;

/** How long the first waiting function waits for MIN_BATCH - 1 more, in milliseconds (unless hurried). */
const MAX_WAIT_MS = 8;

/** The wait in force (`setBatchWait`). */
let batchWaitMs = MAX_WAIT_MS;

/**
 * Sets how long the first waiting function waits for company (MAX_WAIT_MS unless changed); returns the previous
 * setting. Tests that count modules hold a batch open while they ask for its blocks, which on a loaded machine
 * can take longer than MAX_WAIT_MS, then let it go by restoring the wait.
 */
export function setBatchWait(ms: number): number {
  const old = batchWaitMs;
  batchWaitMs = ms;
  return old;
}

/** One worker thread compiling block functions for every VM of the process, and the jobs it has not answered. */
export class BackgroundCompiler {
  private nextId = 1;
  /** The jobs of the module on the thread, by the module's number. */
  private readonly sent = new Map<number, CompileDone[]>();
  /** Functions waiting for the thread, and their jobs. */
  private readonly waiting: Uint8Array[] = [];
  private readonly waitingDone: CompileDone[] = [];
  /** Answers the worker has sent (it counts them here), and those collected. */
  private readonly done = new Int32Array(new SharedArrayBuffer(4));
  private seen = 0;
  /** When the first of the waiting functions was asked for (`hostNow()`). */
  private since = 0;
  /** Whether the waiting functions go as soon as the thread is idle (`hurry`). */
  private urgent = false;

  private constructor(
    private readonly threads: WorkerThreads,
    private readonly port: Port,
  ) {}

  /** The process's compiler thread, started at the first call; null where the host has no joinable threads. */
  static start(): BackgroundCompiler | null {
    const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
      ?.getBuiltinModule;
    const threads = getBuiltin?.('node:worker_threads') as WorkerThreads | undefined;
    if (threads === undefined || typeof SharedArrayBuffer !== 'function') return null;
    try {
      const { port1, port2 } = new threads.MessageChannel();
      const compiler = new BackgroundCompiler(threads, port1);
      const worker = new threads.Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { port: port2, done: compiler.done },
        transferList: [port2],
      });
      // Neither the thread nor the port keeps a process alive that has nothing else to do.
      worker.unref();
      port1.unref?.();
      return compiler;
    } catch {
      return null;
    }
  }

  /** Functions waiting for the thread: submitted, not yet sent in a module. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Jobs submitted and not yet collected. */
  get pending(): number {
    let jobs = this.waitingDone.length;
    for (const batch of this.sent.values()) jobs += batch.length;
    return jobs;
  }

  /**
   * Asks for `fn` (a code-section entry of encoder.ts's `blockFunction`) to be compiled, in the next module sent
   * (`sendIfDue`); `done` runs in `collect`.
   */
  submit(fn: Uint8Array, done: CompileDone): void {
    if (this.waiting.length === 0) this.since = hostNow();
    this.waiting.push(fn);
    this.waitingDone.push(done);
    this.sendIfDue();
  }

  /**
   * For the run loop between slices, when no answer is ready: sends the waiting functions if they are due
   * (`sendIfDue` reads the clock only when some wait and the thread is idle).
   */
  poll(): void {
    this.sendIfDue();
  }

  /**
   * Lets the waiting functions go without waiting for company: one of them is wanted now (the run loop keeps
   * interpreting code it covers). They go at once if the thread is idle, else as soon as its answer is collected.
   */
  hurry(): void {
    if (this.waiting.length === 0) return;
    this.urgent = true;
    this.sendIfDue();
  }

  /**
   * Sends a module when the thread is idle and MIN_BATCH functions wait, the first has waited MAX_WAIT_MS, or
   * they were hurried.
   */
  private sendIfDue(): void {
    if (this.sent.size !== 0 || this.waiting.length === 0) return;
    if (this.urgent || this.waiting.length >= MIN_BATCH || hostNow() - this.since >= batchWaitMs) this.send();
  }

  /**
   * Sends the waiting functions (up to MAX_BATCH) as one module. Its bytes are copied, not transferred: a
   * transfer detaches an ArrayBuffer, and the first detach in a process makes V8 check every typed-array access
   * in optimized code for one from then on (its ArrayBufferDetaching protector), the run loop's included. Linux
   * booted side by side with the transferring version took 98% of its time (median of 8); posting a copy of a
   * 40 KB module took 25 us, as long as a transfer.
   */
  private send(): void {
    const bytes = blocksModule(this.waiting.splice(0, MAX_BATCH));
    const id = this.nextId++;
    this.sent.set(id, this.waitingDone.splice(0, MAX_BATCH));
    this.port.postMessage({ id, bytes });
    this.urgent = false;
    // Those beyond MAX_BATCH wait for the next module, from now.
    this.since = hostNow();
  }

  /** Whether answers are waiting: one int32 read, for the run loop between slices. */
  ready(): boolean {
    return this.done[0] !== this.seen;
  }

  /** Hands every waiting answer to its jobs' callbacks, and sends the functions waiting meanwhile if due. */
  collect(): void {
    while (this.done[0] !== this.seen) {
      const answer = this.threads.receiveMessageOnPort(this.port);
      if (answer === undefined) break;
      this.seen++;
      const { id, module, error } = answer.message;
      const jobs = this.sent.get(id) ?? [];
      this.sent.delete(id);
      for (let k = 0; k < jobs.length; k++) jobs[k](module, k, error);
    }
    this.sendIfDue();
  }
}
