/**
 * @packageDocumentation
 * The kvm-ts emulator backend: the KVM API of `@kvm-ts/core` over an x86-64 CPU written in TypeScript, for
 * machines (and, later, browsers) without `/dev/kvm`. Load it with `openKvm({ backend: 'emulator' })`.
 */
import type { KvmBackend } from '@kvm-ts/core';
import { EmulatorKvm } from './backend/system.js';

export type { IdleTime } from './backend/in-kernel-devices.js';
export { EmulatorKvm, KVM_API_VERSION, VCPU_MMAP_SIZE } from './backend/system.js';
export { DEFAULT_INSTRUCTION_BUDGET, EmulatorVcpu, PIO_DATA_OFFSET } from './backend/vcpu.js';
export { EmulatorVm } from './backend/vm.js';

/** The emulator backend for `openKvm`: always usable, it needs nothing from the host. */
export const backend: KvmBackend = {
  name: 'emulator',
  probe: () => ({ usable: true, reason: 'the emulator needs nothing from the host' }),
  open: (reason: string) => new EmulatorKvm(reason),
};
