import type { KvmCpuidEntry2 } from './structs/cpu-state.js';
import type { Vm } from './vm.js';

/** Which backend an open {@link Kvm} runs on, and why it was chosen. */
export interface BackendInfo {
  /** `'native'`, `'emulator'`, or a third-party backend's name. */
  readonly name: string;
  /**
   * What implements KVM underneath: for the native backend the kernel module (`kvm_intel`, `kvm_amd`,
   * `kvm_pvm`, ...), for the emulator `'emulator'`.
   */
  readonly flavour: string;
  /** One sentence: why this backend was chosen (for `auto`, why native was or was not usable). */
  readonly reason: string;
}

/**
 * The system level of the KVM API (ioctls on `/dev/kvm`), one method each. Obtained from `openKvm`.
 */
export interface Kvm extends Disposable {
  /** The backend behind this handle. */
  readonly backend: BackendInfo;
  /** KVM_GET_API_VERSION: always 12 on a usable KVM. */
  getApiVersion(): number;
  /** KVM_CHECK_EXTENSION: a capability's value (0 when absent); see `Capability`. */
  checkExtension(cap: number): number;
  /** KVM_GET_VCPU_MMAP_SIZE: the size of a vCPU's shared `kvm_run` region. */
  getVcpuMmapSize(): number;
  /** KVM_GET_MSR_INDEX_LIST: the MSRs `getMsrs`/`setMsrs` handle. */
  getMsrIndexList(): number[];
  /** KVM_GET_MSR_FEATURE_INDEX_LIST: the feature MSRs readable with KVM_GET_MSRS on the system. */
  getMsrFeatureIndexList(): number[];
  /** KVM_GET_SUPPORTED_CPUID: the CPUID leaves this KVM can offer a guest. */
  getSupportedCpuid(): KvmCpuidEntry2[];
  /** KVM_GET_EMULATED_CPUID: CPUID features KVM emulates in software. */
  getEmulatedCpuid(): KvmCpuidEntry2[];
  /** KVM_CREATE_VM: a new, empty VM. `machineType` is 0 for the default x86 VM. */
  createVm(machineType?: number): Vm;
  /** Closes the system handle. VMs already created stay usable until closed. */
  close(): void;
}
