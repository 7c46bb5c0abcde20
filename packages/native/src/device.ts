/**
 * Finding and opening `/dev/kvm`, with a reason a person can act on for each way it fails: no device (load
 * the module), permission denied (the kvm group or a udev rule), the wrong platform.
 */
import { closeSync, openSync } from 'node:fs';
import { type BackendProbe, Errno, KvmError } from '@kvm-ts/core';
import { detectFlavour } from './flavour.js';
import { libc, O_CLOEXEC, O_RDWR } from './libc.js';
import { NativeKvm } from './system.js';

/** The device KVM is reached through. */
export const KVM_DEVICE = '/dev/kvm';

/** What to do about each way the device can fail to open. */
function advice(errno: number, path: string): string | undefined {
  switch (errno) {
    case Errno.ENOENT:
      return (
        `there is no ${path}: load the kvm module for this CPU (sudo modprobe kvm_intel, or kvm_amd), and ` +
        'enable virtualization in the firmware or, inside a VM, nested virtualization on its host'
      );
    case Errno.EACCES:
      return (
        `permission denied on ${path}: add yourself to the kvm group (sudo usermod -aG kvm $USER, then log in ` +
        `again) or add a udev rule giving your group read/write access to ${path}`
      );
    case Errno.EPERM:
      return `the operating system refused access to ${path} (a container or sandbox policy?)`;
    case Errno.ENXIO:
    case Errno.ENODEV:
      return `${path} exists but no KVM module drives it: load kvm_intel or kvm_amd`;
    default:
      return undefined;
  }
}

function platformProblem(): string | undefined {
  if (process.platform !== 'linux') return `KVM needs Linux; this is ${process.platform}`;
  if (process.arch !== 'x64') return `kvm-ts drives x86-64 KVM; this machine is ${process.arch}`;
  return undefined;
}

function errnoOf(error: unknown): number {
  const code = (error as { code?: string }).code;
  return code && code in Errno ? Errno[code as keyof typeof Errno] : Errno.EIO;
}

/** Whether the device can be opened, checked with node:fs so that probing never loads koffi. */
export function probeDevice(path = KVM_DEVICE): BackendProbe {
  const problem = platformProblem();
  if (problem) return { usable: false, reason: problem };
  try {
    closeSync(openSync(path, 'r+'));
  } catch (error) {
    const errno = errnoOf(error);
    return { usable: false, reason: advice(errno, path) ?? `cannot open ${path}: ${String(error)}` };
  }
  return { usable: true, reason: `${path} can be opened (${detectFlavour()})` };
}

/** Opens the device as the system handle; `KvmError` with the errno and the advice when it cannot. */
export function openDevice(reason: string, path = KVM_DEVICE): NativeKvm {
  const problem = platformProblem();
  if (problem) throw new KvmError('open', Errno.ENODEV, problem);
  const lib = libc();
  const fd = lib.open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const errno = lib.koffi.errno();
    throw new KvmError('open', errno, advice(errno, path) ?? `cannot open ${path}: ${lib.strerror(errno)}`);
  }
  const kvm = new NativeKvm(fd, { name: 'native', flavour: detectFlavour(), reason });
  let version: number;
  try {
    version = kvm.getApiVersion();
  } catch (error) {
    kvm.close();
    throw new KvmError('open', Errno.ENODEV, `${path} is not a KVM device`, { cause: error });
  }
  if (version !== 12) {
    kvm.close();
    throw new KvmError('KVM_GET_API_VERSION', Errno.EINVAL, `KVM API version ${version}; kvm-ts needs 12`);
  }
  return kvm;
}
