/**
 * The system level: ioctls on `/dev/kvm`, one method each.
 */
import { type BackendInfo, Errno, type Kvm, type KvmCpuidEntry2 } from '@kvm-ts/core';
import { STRUCTS, SYSTEM_IOCTLS } from './abi/index.js';
import { cpuid2Size, decodeCpuid2, decodeMsrList, msrListSize } from './codec/cpu-state.js';
import { dataView } from './codec/fields.js';
import { checkInteger, Descriptor } from './descriptor.js';
import { NativeVm } from './vm.js';

const IOCTL = SYSTEM_IOCTLS;
/** KVM_MAX_CPUID_ENTRIES: the most KVM_GET_SUPPORTED_CPUID answers with; a first try of this size suffices. */
const MAX_CPUID_ENTRIES = 256;

/** The system handle: an open `/dev/kvm`. */
export class NativeKvm extends Descriptor implements Kvm {
  constructor(
    fd: number,
    readonly backend: BackendInfo,
  ) {
    super(fd, 'KVM system handle');
  }

  getApiVersion(): number {
    return this.ioctlValue('KVM_GET_API_VERSION', IOCTL.KVM_GET_API_VERSION, 0);
  }

  checkExtension(cap: number): number {
    const value = checkInteger('KVM_CHECK_EXTENSION', 'cap', cap);
    return this.ioctlValue('KVM_CHECK_EXTENSION', IOCTL.KVM_CHECK_EXTENSION, value);
  }

  getVcpuMmapSize(): number {
    return this.ioctlValue('KVM_GET_VCPU_MMAP_SIZE', IOCTL.KVM_GET_VCPU_MMAP_SIZE, 0);
  }

  getMsrIndexList(): number[] {
    return this.msrList('KVM_GET_MSR_INDEX_LIST', IOCTL.KVM_GET_MSR_INDEX_LIST);
  }

  getMsrFeatureIndexList(): number[] {
    return this.msrList('KVM_GET_MSR_FEATURE_INDEX_LIST', IOCTL.KVM_GET_MSR_FEATURE_INDEX_LIST);
  }

  /** Asks with room for none: KVM answers E2BIG and writes the count it needs, then the list is read. */
  private msrList(operation: string, request: number): number[] {
    const probe = new Uint8Array(msrListSize(0));
    try {
      this.ioctl(operation, request, probe);
      return [];
    } catch (error) {
      if ((error as { errno?: number }).errno !== Errno.E2BIG) throw error;
    }
    const count = dataView(probe).getUint32(STRUCTS.kvm_msr_list.fields.nmsrs, true);
    const bytes = new Uint8Array(msrListSize(count));
    dataView(bytes).setUint32(STRUCTS.kvm_msr_list.fields.nmsrs, count, true);
    this.ioctl(operation, request, bytes);
    return decodeMsrList(bytes);
  }

  getSupportedCpuid(): KvmCpuidEntry2[] {
    return this.cpuid('KVM_GET_SUPPORTED_CPUID', IOCTL.KVM_GET_SUPPORTED_CPUID);
  }

  getEmulatedCpuid(): KvmCpuidEntry2[] {
    return this.cpuid('KVM_GET_EMULATED_CPUID', IOCTL.KVM_GET_EMULATED_CPUID);
  }

  private cpuid(operation: string, request: number): KvmCpuidEntry2[] {
    const bytes = new Uint8Array(cpuid2Size(MAX_CPUID_ENTRIES));
    dataView(bytes).setUint32(STRUCTS.kvm_cpuid2.fields.nent, MAX_CPUID_ENTRIES, true);
    this.ioctl(operation, request, bytes);
    return decodeCpuid2(bytes);
  }

  createVm(machineType = 0): NativeVm {
    const type = checkInteger('KVM_CREATE_VM', 'machineType', machineType);
    const mmapSize = this.getVcpuMmapSize();
    const fd = this.ioctlValue('KVM_CREATE_VM', IOCTL.KVM_CREATE_VM, type);
    return new NativeVm(fd, mmapSize);
  }

  close(): void {
    this.closeDescriptor();
  }

  /** `using` support: the same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
