/**
 * @packageDocumentation
 * `@kvm-ts/native`: the kvm-ts backend over Linux `/dev/kvm`, through koffi. Importing it loads nothing native;
 * koffi and libc are loaded when the backend is opened, so the package installs and imports anywhere and fails,
 * with a reason, only when asked to run where there is no KVM.
 */
import { closeSync, openSync } from 'node:fs';
import { Errno, type BackendProbe, type Kvm, type KvmBackend, KvmError } from '@kvm-ts/core';
import { detectFlavour } from './flavour.js';
import { libc, O_CLOEXEC, O_RDWR } from './libc.js';
import { NativeKvm } from './system.js';

export { type AbiTable, abiTable } from './abi/index.js';
export { detectFlavour } from './flavour.js';
export { installKickHandler, type KickTarget, kick } from './kick.js';
export type { NativeGuestMemory } from './memory.js';
export type { NativeKvm } from './system.js';
export type { NativeVcpu } from './vcpu.js';
export type { NativeVm } from './vm.js';

/** The device KVM is reached through. */
export const KVM_DEVICE = '/dev/kvm';

/** What to do about each way `/dev/kvm` can fail to open. */
const OPEN_ADVICE: Partial<Record<number, string>> = {
  [Errno.ENOENT]:
    'there is no /dev/kvm: load the kvm module for this CPU (sudo modprobe kvm_intel, or kvm_amd), and enable ' +
    'virtualization in the firmware or, inside a VM, nested virtualization on its host',
  [Errno.EACCES]:
    'permission denied on /dev/kvm: add yourself to the kvm group (sudo usermod -aG kvm $USER, then log in ' +
    'again) or add a udev rule giving your group read/write access to /dev/kvm',
  [Errno.EPERM]: 'the operating system refused access to /dev/kvm (a container or sandbox policy?)',
  [Errno.ENXIO]: '/dev/kvm exists but no KVM module drives it: load kvm_intel or kvm_amd',
  [Errno.ENODEV]: '/dev/kvm exists but no KVM module drives it: load kvm_intel or kvm_amd',
};

function platformProblem(): string | undefined {
  if (process.platform !== 'linux') return `KVM needs Linux; this is ${process.platform}`;
  if (process.arch !== 'x64') return `kvm-ts drives x86-64 KVM; this machine is ${process.arch}`;
  return undefined;
}

function errnoOf(error: unknown): number {
  const code = (error as { code?: string }).code;
  return code && code in Errno ? Errno[code as keyof typeof Errno] : Errno.EIO;
}

/** The native backend, for `openKvm({ backend: 'native' })` and `KVM_TS_BACKEND=native`. */
export const backend: KvmBackend = {
  name: 'native',

  probe(): BackendProbe {
    const problem = platformProblem();
    if (problem) return { usable: false, reason: problem };
    try {
      // node:fs rather than koffi: probing must not load native code.
      closeSync(openSync(KVM_DEVICE, 'r+'));
    } catch (error) {
      const errno = errnoOf(error);
      return { usable: false, reason: OPEN_ADVICE[errno] ?? `cannot open ${KVM_DEVICE}: ${String(error)}` };
    }
    return { usable: true, reason: `${KVM_DEVICE} can be opened (${detectFlavour()})` };
  },

  open(reason: string): Kvm {
    const problem = platformProblem();
    if (problem) throw new KvmError('open', Errno.ENODEV, problem);
    const lib = libc();
    const fd = lib.open(KVM_DEVICE, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      const errno = lib.koffi.errno();
      throw new KvmError('open', errno, OPEN_ADVICE[errno] ?? `cannot open ${KVM_DEVICE}: ${lib.strerror(errno)}`);
    }
    const kvm = new NativeKvm(fd, { name: 'native', flavour: detectFlavour(), reason });
    const version = kvm.getApiVersion();
    if (version !== 12) {
      kvm.close();
      throw new KvmError('KVM_GET_API_VERSION', Errno.EINVAL, `KVM API version ${version}; kvm-ts needs 12`);
    }
    return kvm;
  },
};
