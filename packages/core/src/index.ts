/**
 * @packageDocumentation
 * The Linux KVM API as TypeScript: the system ({@link Kvm}), VM ({@link Vm}) and vCPU ({@link Vcpu}) levels,
 * one method per ioctl, the kernel's structs as plain objects, exits as a discriminated union, errors as
 * {@link KvmError}, and {@link openKvm} to choose a backend at run time.
 */
export {
  type BackendLoader,
  type BackendProbe,
  backendNames,
  type KvmBackend,
  loadBackend,
  registerBackend,
} from './backend.js';
export { Capability, type CapabilityName } from './capabilities.js';
export { Errno, type ErrnoName, errnoName, KvmError, kvmFail } from './errors.js';
export * from './exits.js';
export type { BackendInfo, Kvm } from './kvm.js';
export { type OpenKvmOptions, openKvm } from './open.js';
export * from './structs/cpu-state.js';
export * from './structs/interrupts.js';
export * from './structs/memory.js';
export * from './structs/registers.js';
export type { KvmRunControls, Vcpu } from './vcpu.js';
export type { Vm } from './vm.js';
