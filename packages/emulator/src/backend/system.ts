/**
 * The system level of the API (`/dev/kvm` ioctls) for the emulator.
 */
import { type BackendInfo, type Kvm, type KvmCpuidEntry2, kvmFail, type Vm } from '@kvm-ts/core';
import { emulatedCpuid, supportedCpuid } from '../cpu/cpuid.js';
import { MSR_INDEX_LIST } from '../cpu/msr.js';
import { checkCapability } from './capabilities.js';
import { EmulatorVm } from './vm.js';

/** KVM_GET_VCPU_MMAP_SIZE on x86: the run page, the PIO data page and the coalesced-MMIO ring page. */
export const VCPU_MMAP_SIZE = 3 * 4096;

/** KVM_GET_API_VERSION. */
export const KVM_API_VERSION = 12;

/** The emulator's system handle. */
export class EmulatorKvm implements Kvm {
  readonly backend: BackendInfo;
  private closed = false;

  constructor(reason: string) {
    this.backend = { name: 'emulator', flavour: 'emulator', reason };
  }

  private check(op: string): void {
    if (this.closed) kvmFail(op, 'EBADF', 'the KVM handle is closed');
  }

  getApiVersion(): number {
    this.check('KVM_GET_API_VERSION');
    return KVM_API_VERSION;
  }

  checkExtension(cap: number): number {
    this.check('KVM_CHECK_EXTENSION');
    return checkCapability(cap);
  }

  getVcpuMmapSize(): number {
    this.check('KVM_GET_VCPU_MMAP_SIZE');
    return VCPU_MMAP_SIZE;
  }

  getMsrIndexList(): number[] {
    this.check('KVM_GET_MSR_INDEX_LIST');
    return [...MSR_INDEX_LIST];
  }

  getMsrFeatureIndexList(): number[] {
    this.check('KVM_GET_MSR_FEATURE_INDEX_LIST');
    return [];
  }

  getSupportedCpuid(): KvmCpuidEntry2[] {
    this.check('KVM_GET_SUPPORTED_CPUID');
    return supportedCpuid();
  }

  getEmulatedCpuid(): KvmCpuidEntry2[] {
    this.check('KVM_GET_EMULATED_CPUID');
    return emulatedCpuid();
  }

  createVm(machineType = 0): Vm {
    this.check('KVM_CREATE_VM');
    if (machineType !== 0) kvmFail('KVM_CREATE_VM', 'EINVAL', `machine type ${machineType} is not supported`);
    return new EmulatorVm();
  }

  close(): void {
    this.closed = true;
  }

  /** `using` support: the same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
