/**
 * Compiling block modules on another thread. `new WebAssembly.Module` is a tenth of a millisecond of fixed cost
 * per block (V8 sets up a native module, its code space and jump table), several thousand times in a Linux boot;
 * on the run loop's thread that was about 7% of a boot. Here a worker thread compiles them while the guest goes
 * on in the interpreter, and the run loop collects finished modules between slices.
 *
 * The host must let the thread be joined synchronously, because the run loop never yields to the event loop in
 * the middle of a slice: Node's worker_threads (`receiveMessageOnPort`), reached through
 * `process.getBuiltinModule` (Node 20.16 and later) so that nothing here imports a Node built-in and browsers
 * load this file unchanged. Elsewhere `backgroundCompiler()` is null and blocks compile in line, as before.
 */
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

/** What the worker sends back: a job's number and its module (null if the host refused the bytes). */
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

/** A module compiled on the worker, or why not: handed to the job's callback by `collect`. */
export type CompileDone = (module: WasmModule | null, error: string | null) => void;

/** One worker thread compiling block modules for every VM of the process, and the jobs it has not answered. */
export class BackgroundCompiler {
  private nextId = 1;
  private readonly jobs = new Map<number, CompileDone>();
  /** Answers the worker has sent (it counts them here), and those collected. */
  private readonly done = new Int32Array(new SharedArrayBuffer(4));
  private seen = 0;

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

  /** Jobs submitted and not yet collected. */
  get pending(): number {
    return this.jobs.size;
  }

  /** Sends `bytes` (their buffer is transferred: the caller gives them up) to be compiled; `done` runs in `collect`. */
  submit(bytes: Uint8Array, done: CompileDone): void {
    const id = this.nextId++;
    this.jobs.set(id, done);
    this.port.postMessage({ id, bytes }, [bytes.buffer]);
  }

  /** Whether answers are waiting: one int32 read, for the run loop between slices. */
  ready(): boolean {
    return this.done[0] !== this.seen;
  }

  /** Hands every waiting answer to its job's callback. */
  collect(): void {
    while (this.done[0] !== this.seen) {
      const answer = this.threads.receiveMessageOnPort(this.port);
      if (answer === undefined) return;
      this.seen++;
      const { id, module, error } = answer.message;
      const done = this.jobs.get(id);
      this.jobs.delete(id);
      done?.(module, error);
    }
  }
}
