/**
 * Stopping a running vCPU from another thread. KVM_RUN returns EINTR (an `intr` exit) when the vCPU's thread
 * gets a signal it does not ignore, and returns at once when `kvm_run.immediate_exit` is set as it starts;
 * setting the flag first and then signalling the thread covers both a run in progress and one about to begin.
 *
 * The signal is SIGUSR2. Node's `process.on('SIGUSR2')` installs a process-wide handler through libuv (the
 * listener does nothing; the signal only interrupts the system call on the thread it is sent to), so that the
 * signal neither kills the process nor is ignored.
 */
import { Errno } from '@kvm-ts/core';
import { STRUCTS } from './abi/index.js';
import { failure, libc, viewOf } from './libc.js';

/** SIGUSR2 on x86-64 Linux: the signal a kick sends. */
export const SIGUSR2 = 12;

/**
 * What another thread needs to kick a vCPU: its thread (`pthread_t`) and the address of its `kvm_run`. Plain
 * data, so it can be posted to a Worker.
 */
export interface KickTarget {
  readonly thread: number | bigint;
  readonly runAddress: number;
}

let installed = false;

/**
 * Installs the do-nothing SIGUSR2 listener, once per process; called for you by `vcpu.kickTarget()`. Only the
 * main thread can install it (Node delivers signals to listeners there), so a vCPU Worker relies on the main
 * thread having done so: `runVcpuWorker` does.
 */
export function installKickHandler(): void {
  if (installed) return;
  installed = true;
  process.on('SIGUSR2', () => {});
}

/**
 * Makes the vCPU's current or next KVM_RUN return an `intr` exit, from any thread. The vCPU's owner clears
 * `immediateExit` before running it again.
 */
export function kick(target: KickTarget): void {
  const lib = libc();
  const flag = new Uint8Array(viewOf(target.runAddress, STRUCTS.kvm_run.fields.immediate_exit + 1));
  Atomics.store(flag, STRUCTS.kvm_run.fields.immediate_exit, 1);
  const error = lib.pthreadKill(target.thread, SIGUSR2);
  // pthread_kill returns the error number itself instead of setting errno.
  if (error !== 0)
    throw failure('pthread_kill', error, error === Errno.ESRCH ? 'the vCPU thread has ended' : undefined);
}
