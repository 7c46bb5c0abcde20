/**
 * @packageDocumentation
 * `@kvm-ts/native`: the kvm-ts backend over Linux `/dev/kvm`, through koffi. Importing it loads nothing native;
 * koffi and libc are loaded when the backend is opened, so the package installs and imports anywhere and fails,
 * with a reason, only when asked to run where there is no KVM.
 */
import type { KvmBackend } from '@kvm-ts/core';
import { openDevice, probeDevice } from './device.js';

export { type AbiTable, abiTable, type StructLayout } from './abi/index.js';
export { KVM_DEVICE } from './device.js';
export { detectFlavour } from './flavour.js';
export { installKickHandler, type KickTarget, kick } from './kick.js';
export type { NativeGuestMemory } from './memory.js';
export type { NativeKvm } from './system.js';
export type { NativeVcpu } from './vcpu.js';
export type { NativeVm } from './vm.js';
export { RunWatchdog, type WatchdogTarget } from './watchdog.js';

/** The native backend, for `openKvm({ backend: 'native' })` and `KVM_TS_BACKEND=native`. */
export const backend: KvmBackend = {
  name: 'native',
  probe: () => probeDevice(),
  open: (reason: string) => openDevice(reason),
};
