/**
 * A vCPU's own thread: a Worker that issues every ioctl of one vCPU, from KVM_CREATE_VCPU on, as KVM asks
 * (a vCPU's ioctls belong on one thread; KVM_RUN blocks it). The owning thread hands each call over through
 * shared memory and either waits for it (`Atomics.wait`, for the short ioctls: the `Vcpu` interface stays
 * synchronous) or awaits it (`Atomics.waitAsync`, for KVM_RUN: the event loop keeps running while the guest
 * does). Arguments travel through a shared scratch buffer; `kvm_run` itself is shared memory already.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { Errno } from '@kvm-ts/core';
import type { IoctlExecutor } from './libc.js';

/** `control[0]`: the hand-over state. */
const IDLE = 0;
const REQUEST = 1;
const DONE = 2;
const QUIT = -1;
/** `numbers[]` slots. */
const FD = 0;
const REQUEST_NUMBER = 1;
const INT_ARG = 2;
const ARG_LENGTH = 3;
const RESULT = 4;
const OS_THREAD = 5;
/** `ARG_LENGTH` for an integer argument and for a null pointer. */
const BY_VALUE = -1;
const NULL_POINTER = -2;
/** The largest struct an ioctl may pass (a kvm_msrs of 16k entries, a kvm_cpuid2 of 6k). */
const SCRATCH_SIZE = 256 * 1024;

// Runs on the vCPU thread, as an eval'd CommonJS Worker so the package needs no extra entry file.
const THREAD_SOURCE = `
const { workerData } = require('node:worker_threads');
const koffi = require(workerData.koffiPath);
const lib = koffi.load('libc.so.6');
const ioctlPointer = lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']);
const ioctlValue = lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']);
const pthreadSelf = lib.func('pthread_self', 'uint64_t', []);
const control = new Int32Array(workerData.control);
const numbers = new Float64Array(workerData.numbers);
const scratch = new Uint8Array(workerData.scratch);
numbers[${OS_THREAD}] = Number(pthreadSelf());
Atomics.store(control, 1, 1);
Atomics.notify(control, 1);
for (;;) {
  let state = Atomics.load(control, 0);
  while (state !== ${REQUEST} && state !== ${QUIT}) {
    Atomics.wait(control, 0, state);
    state = Atomics.load(control, 0);
  }
  if (state === ${QUIT}) break;
  const length = numbers[${ARG_LENGTH}];
  const fd = numbers[${FD}];
  const request = numbers[${REQUEST_NUMBER}];
  const result = length === ${BY_VALUE}
    ? ioctlValue(fd, request, numbers[${INT_ARG}])
    : ioctlPointer(fd, request, length === ${NULL_POINTER} ? null : scratch.subarray(0, length));
  numbers[${RESULT}] = result < 0 ? -koffi.errno() : result;
  Atomics.store(control, 0, ${DONE});
  Atomics.notify(control, 0);
}
`;

/** Ends a thread whose owner was collected without `close()`: the Worker would otherwise wait forever. */
const abandoned = new FinalizationRegistry<{ control: Int32Array; worker: Worker }>(({ control, worker }) => {
  Atomics.store(control, 0, QUIT);
  Atomics.notify(control, 0);
  void worker.terminate();
});

/** The owning side of a vCPU thread: an {@link IoctlExecutor} whose calls run on the Worker. */
export class VcpuThread implements IoctlExecutor {
  private readonly control = new Int32Array(new SharedArrayBuffer(8));
  private readonly numbers = new Float64Array(new SharedArrayBuffer(8 * 6));
  private readonly scratch = new Uint8Array(new SharedArrayBuffer(SCRATCH_SIZE));
  private readonly worker: Worker;
  private closed = false;

  private constructor() {
    const koffiPath = createRequire(import.meta.url).resolve('koffi');
    this.worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: {
        koffiPath,
        control: this.control.buffer,
        numbers: this.numbers.buffer,
        scratch: this.scratch.buffer,
      },
    });
    this.worker.unref();
    abandoned.register(this, { control: this.control, worker: this.worker }, this);
  }

  /** Starts a thread and waits until it is ready to take calls. */
  static async start(): Promise<VcpuThread> {
    const thread = new VcpuThread();
    const failed = new Promise<never>((_, reject) => thread.worker.once('error', reject));
    const ready = Atomics.waitAsync(thread.control, 1, 0);
    if (ready.async) await Promise.race([ready.value, failed]);
    return thread;
  }

  /** The thread's `pthread_t`, for signalling it (`kick`). */
  get osThread(): number {
    return this.numbers[OS_THREAD];
  }

  /** Whether a call handed over with {@link valueAsync} has not completed yet. */
  get busy(): boolean {
    return Atomics.load(this.control, 0) !== IDLE;
  }

  private submit(fd: number, request: number, arg: number, length: number): number {
    if (this.closed) return -Errno.EBADF;
    if (this.busy) return -Errno.EBUSY;
    this.numbers[FD] = fd;
    this.numbers[REQUEST_NUMBER] = request;
    this.numbers[INT_ARG] = arg;
    this.numbers[ARG_LENGTH] = length;
    Atomics.store(this.control, 0, REQUEST);
    Atomics.notify(this.control, 0);
    return 0;
  }

  private finish(): number {
    const result = this.numbers[RESULT];
    Atomics.store(this.control, 0, IDLE);
    return result;
  }

  pointer(fd: number, request: number, arg: Uint8Array | null): number {
    const length = arg ? arg.length : NULL_POINTER;
    if (arg && arg.length > SCRATCH_SIZE) return -Errno.E2BIG;
    if (arg) this.scratch.set(arg);
    const refused = this.submit(fd, request, 0, length);
    if (refused < 0) return refused;
    Atomics.wait(this.control, 0, REQUEST);
    if (arg) arg.set(this.scratch.subarray(0, arg.length));
    return this.finish();
  }

  value(fd: number, request: number, arg: number): number {
    const refused = this.submit(fd, request, arg, BY_VALUE);
    if (refused < 0) return refused;
    Atomics.wait(this.control, 0, REQUEST);
    return this.finish();
  }

  /** An ioctl with an integer argument (KVM_RUN), awaited without blocking this thread. */
  async valueAsync(fd: number, request: number, arg: number): Promise<number> {
    const refused = this.submit(fd, request, arg, BY_VALUE);
    if (refused < 0) return refused;
    const wait = Atomics.waitAsync(this.control, 0, REQUEST);
    if (wait.async) await wait.value;
    return this.finish();
  }

  /** Ends the thread. A call in flight (a KVM_RUN) must have returned first: kick the vCPU. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    abandoned.unregister(this);
    Atomics.store(this.control, 0, QUIT);
    Atomics.notify(this.control, 0);
    await this.worker.terminate();
  }
}
