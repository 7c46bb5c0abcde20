/**
 * Linux errno values KVM returns from its ioctls (x86-64 numbering, `asm-generic/errno-base.h` and
 * `errno.h`). Backends raise {@link KvmError} with one of these so that a VMM handles a refusal the same way
 * whichever backend it runs on.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
} as const;

/** The name of an errno KVM can return, such as `'EINVAL'`. */
export type ErrnoName = keyof typeof Errno;

const errnoNames = new Map<number, ErrnoName>(
  Object.entries(Errno).map(([name, value]) => [value, name as ErrnoName]),
);

/** The symbolic name of an errno number (`22` gives `'EINVAL'`), or `'E<number>'` for one not in {@link Errno}. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/**
 * The one error every backend raises when an operation is refused: it carries the ioctl (`operation`), the
 * errno KVM returns for that refusal (`errno`, `code`), and a message a person can act on.
 *
 * A refused operation leaves the system, VM or vCPU as it was, as the kernel does.
 */
export class KvmError extends Error {
  /** The errno name, such as `'EINVAL'`: stable, for `switch` and `instanceof`-free checks. */
  readonly code: string;

  /**
   * @param operation the ioctl or API step that failed, such as `'KVM_SET_USER_MEMORY_REGION'`
   * @param errno the errno number KVM returns (or would return) for this failure
   * @param detail what went wrong and, where possible, what to do about it
   */
  constructor(
    readonly operation: string,
    readonly errno: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${errnoName(errno)}: ${detail}`, options);
    this.name = 'KvmError';
    this.code = errnoName(errno);
  }
}

/** Raises a {@link KvmError} for `operation` with the errno named `code`; a shorthand for backends. */
export function kvmFail(operation: string, code: ErrnoName, detail: string): never {
  throw new KvmError(operation, Errno[code], detail);
}
