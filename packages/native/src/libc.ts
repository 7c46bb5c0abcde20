/**
 * The C library through koffi, loaded on first use: importing this package never loads koffi, so a program on
 * macOS, Windows or a Linux without KVM can import it and only fails when it opens the native backend.
 *
 * Every call that can fail goes through {@link checked} (or, on the KVM_RUN hot path, the same test inlined):
 * the return value is tested and `errno` read at once, before any other JavaScript can run a foreign call
 * that would overwrite it, and the failure becomes a `KvmError` naming the ioctl or libc call.
 */
import { createRequire } from 'node:module';
import { Errno, KvmError } from '@kvm-ts/core';

type Koffi = typeof import('koffi');

/** `open(2)` flags and `mmap(2)` constants for x86-64 Linux (`asm-generic/fcntl.h`, `asm-generic/mman-common.h`). */
export const O_RDWR = 0o2;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
/** `(void *)-1`: koffi decodes a uint64 of 2^64-1 as a bigint, every real address as a number. */
const MAP_FAILED = 0xffffffffffffffffn;

/** The libc entry points this package calls, with the prototypes koffi binds. */
export interface Libc {
  readonly koffi: Koffi;
  open(path: string, flags: number): number;
  close(fd: number): number;
  /** `ioctl` with a pointer argument: a Uint8Array (its bytes are passed by address) or null. */
  ioctlPtr(fd: number, request: number, arg: Uint8Array | null): number;
  /** `ioctl` with an integer argument: KVM_RUN, KVM_CREATE_VCPU, KVM_CHECK_EXTENSION, ... */
  ioctlInt(fd: number, request: number, arg: number): number;
  /** Addresses are plain numbers: user space lives below 2^47. MAP_FAILED comes back as a bigint. */
  mmap(
    addr: number,
    length: number,
    prot: number,
    flags: number,
    fd: number,
    offset: number,
  ): number | bigint;
  munmap(addr: number, length: number): number;
  strerror(errno: number): string;
  pthreadSelf(): number | bigint;
  pthreadKill(thread: number | bigint, signal: number): number;
}

let loaded: Libc | undefined;

/**
 * Loads koffi and binds libc, once per thread (a Worker has its own module instance). Throws `KvmError` ENODEV
 * when koffi or libc cannot be loaded (a platform koffi has no prebuild for).
 */
export function libc(): Libc {
  if (loaded) return loaded;
  let koffi: Koffi;
  try {
    // A synchronous require keeps backend.open() synchronous, as the core's KvmBackend interface asks.
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (error) {
    throw new KvmError('open', Errno.ENODEV, `koffi could not be loaded: ${String(error)}`, { cause: error });
  }
  const lib = koffi.load('libc.so.6');
  const strerror = lib.func('strerror', 'const char *', ['int']);
  loaded = {
    koffi,
    open: lib.func('open', 'int', ['const char *', 'int']),
    close: lib.func('close', 'int', ['int']),
    // Two fixed prototypes of the variadic ioctl: koffi's variadic path costs about 100 ns more per call.
    ioctlPtr: lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']),
    ioctlInt: lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']),
    mmap: lib.func('mmap', 'uint64_t', ['uint64_t', 'size_t', 'int', 'int', 'int', 'int64_t']),
    munmap: lib.func('munmap', 'int', ['uint64_t', 'size_t']),
    strerror: (errno: number) => String(strerror(errno)),
    pthreadSelf: lib.func('pthread_self', 'uint64_t', []),
    pthreadKill: lib.func('pthread_kill', 'int', ['uint64_t', 'int']),
  };
  return loaded;
}

/** What a person can do about the common refusals, by errno; the rest get the C library's own words. */
const HINTS: Partial<Record<number, string>> = {
  [Errno.EBADF]: 'the object was closed',
  [Errno.ENOTTY]: 'this KVM does not know the ioctl (an older kernel, or the wrong descriptor)',
};

/** The KvmError for a failed call: the operation, the errno, and what it means here. */
export function failure(operation: string, errno: number, detail?: string): KvmError {
  const words = loaded ? loaded.strerror(errno) : `errno ${errno}`;
  const hint = detail ?? HINTS[errno];
  return new KvmError(operation, errno, hint ? `${words}: ${hint}` : words);
}

/**
 * A libc call's result in the kernel's own convention: the value when it succeeded, `-errno` when it failed.
 * Called directly around the foreign call (`orErrno(lib.close(fd))`), so errno is read before any other
 * JavaScript can make a foreign call that would overwrite it.
 */
export function orErrno(result: number): number {
  return result < 0 ? -loaded!.koffi.errno() : result;
}

/**
 * The one wrapper every fallible libc call passes through: a result from {@link orErrno} (or from a vCPU
 * thread, which uses the same convention) that is negative becomes a `KvmError` for `operation`.
 */
export function checked(operation: string, result: number): number {
  if (result < 0) throw failure(operation, -result);
  return result;
}

/**
 * Where a descriptor's ioctls are issued: on the calling thread, or on the vCPU's own Worker
 * (`vcpu-thread.ts`). Results follow {@link orErrno}: the ioctl's value, or `-errno`.
 */
export interface IoctlExecutor {
  pointer(fd: number, request: number, arg: Uint8Array | null): number;
  value(fd: number, request: number, arg: number): number;
}

/** Issues ioctls on the calling thread. */
export function localExecutor(): IoctlExecutor {
  const lib = libc();
  return {
    pointer: (fd, request, arg) => orErrno(lib.ioctlPtr(fd, request, arg)),
    value: (fd, request, arg) => orErrno(lib.ioctlInt(fd, request, arg)),
  };
}

/** `mmap` that throws `KvmError` on failure, returning the address as a number. */
export function mapOrThrow(
  operation: string,
  length: number,
  prot: number,
  flags: number,
  fd: number,
  addr = 0,
): number {
  const lib = libc();
  const address = lib.mmap(addr, length, prot, flags, fd, 0);
  if (address === MAP_FAILED || typeof address === 'bigint') {
    const errno = lib.koffi.errno();
    throw failure(operation, errno);
  }
  return address;
}

/** A zero-copy view over `length` bytes of foreign memory at `address` (koffi's external ArrayBuffer). */
export function viewOf(address: number, length: number): ArrayBuffer {
  return libc().koffi.view(address, length);
}
