/**
 * The signal side of `NativeVcpu.kick()`. KVM_RUN returns EINTR only for a signal the thread does not ignore,
 * so the process needs a SIGUSR2 handler. Node's `process.on('SIGUSR2')` installs one process-wide through
 * libuv; the handler itself does nothing, the signal only interrupts KVM_RUN on the thread it is sent to.
 */
let installed = false;

/** Installs a do-nothing SIGUSR2 listener on the main thread, once; call it before kicking a vCPU. */
export function installKickHandler(): void {
  if (installed) return;
  installed = true;
  process.on('SIGUSR2', () => {});
}
