/**
 * What the system, VM and vCPU objects share: one KVM file descriptor, ioctls on it through the checked libc
 * wrapper, EBADF once closed, and the finalizer that closes a descriptor whose owner was forgotten.
 */
import { Errno } from '@kvm-ts/core';
import { checked, failure, type IoctlExecutor, type Libc, libc, localExecutor, orErrno } from './libc.js';
import { forget, releaseWhenCollected } from './lifetime.js';

/** A KVM file descriptor owned by one object. */
export class Descriptor {
  protected readonly lib: Libc = libc();
  private descriptor: number;

  /**
   * @param kind what the descriptor is, for the EBADF message (`'VM'`, `'vCPU'`, ...)
   * @param executor where the ioctls run: this thread unless the vCPU has a thread of its own
   */
  constructor(
    fd: number,
    private readonly kind: string,
    protected executor: IoctlExecutor = localExecutor(),
  ) {
    this.descriptor = fd;
    releaseWhenCollected(this, { fd }, this);
  }

  /** The open descriptor, or EBADF for `operation` once closed. */
  protected fd(operation: string): number {
    if (this.descriptor < 0) throw failure(operation, Errno.EBADF, `the ${this.kind} was closed`);
    return this.descriptor;
  }

  /** Whether the descriptor was closed; every ioctl then raises EBADF. */
  get isClosed(): boolean {
    return this.descriptor < 0;
  }

  /** An ioctl whose argument is a struct in `arg` (or none). */
  protected ioctl(operation: string, request: number, arg: Uint8Array | null): number {
    const fd = this.fd(operation);
    return checked(operation, this.executor.pointer(fd, request, arg));
  }

  /** An ioctl whose argument is an integer passed by value. */
  protected ioctlValue(operation: string, request: number, arg: number): number {
    const fd = this.fd(operation);
    return checked(operation, this.executor.value(fd, request, arg));
  }

  /** Closes the descriptor; later calls raise EBADF. Closing twice does nothing. */
  protected closeDescriptor(): void {
    if (this.descriptor < 0) return;
    const fd = this.descriptor;
    this.descriptor = -1;
    forget(this);
    checked('close', orErrno(this.lib.close(fd)));
  }
}

/** Requires a non-negative integer that fits `max`, as the kernel would otherwise see a truncated value. */
export function checkInteger(operation: string, name: string, value: number, max = 0xffffffff): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw failure(operation, Errno.EINVAL, `${name} must be an integer from 0 to ${max}, not ${value}`);
  }
  return value;
}
