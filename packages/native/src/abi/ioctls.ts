import { STRUCTS, type StructName } from './structs.js';

/** `KVMIO`: the ioctl type byte of every KVM request (`linux/kvm.h`). */
const KVMIO = 0xae;

// `_IOC` direction bits (`asm-generic/ioctl.h`): the direction is seen from user space.
const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;

/**
 * `_IOC(dir, type, nr, size)`. Requests with the READ bit exceed 2^31, so the result is made unsigned (`>>> 0`):
 * koffi passes it as an `unsigned long`.
 */
function ioc(dir: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
}

const sizeOf = (arg: StructName | number): number => (typeof arg === 'number' ? arg : STRUCTS[arg].size);
const io = (nr: number): number => ioc(IOC_NONE, nr, 0);
const ior = (nr: number, arg: StructName | number): number => ioc(IOC_READ, nr, sizeOf(arg));
const iow = (nr: number, arg: StructName | number): number => ioc(IOC_WRITE, nr, sizeOf(arg));
const iowr = (nr: number, arg: StructName | number): number => ioc(IOC_READ | IOC_WRITE, nr, sizeOf(arg));

/** The ioctls issued on the system descriptor (`/dev/kvm`). */
export const SYSTEM_IOCTLS = {
  KVM_GET_API_VERSION: io(0x00),
  KVM_CREATE_VM: io(0x01),
  KVM_GET_MSR_INDEX_LIST: iowr(0x02, 'kvm_msr_list'),
  /** Also valid on a VM descriptor (KVM_CAP_CHECK_EXTENSION_VM). */
  KVM_CHECK_EXTENSION: io(0x03),
  KVM_GET_VCPU_MMAP_SIZE: io(0x04),
  KVM_GET_SUPPORTED_CPUID: iowr(0x05, 'kvm_cpuid2'),
  KVM_GET_EMULATED_CPUID: iowr(0x09, 'kvm_cpuid2'),
  KVM_GET_MSR_FEATURE_INDEX_LIST: iowr(0x0a, 'kvm_msr_list'),
} as const;

/** The ioctls issued on a VM descriptor. */
export const VM_IOCTLS = {
  KVM_CREATE_VCPU: io(0x41),
  KVM_GET_DIRTY_LOG: iow(0x42, 'kvm_dirty_log'),
  KVM_SET_USER_MEMORY_REGION: iow(0x46, 'kvm_userspace_memory_region'),
  KVM_SET_TSS_ADDR: io(0x47),
  KVM_SET_IDENTITY_MAP_ADDR: iow(0x48, 8),
  KVM_CREATE_IRQCHIP: io(0x60),
  KVM_IRQ_LINE: iow(0x61, 'kvm_irq_level'),
  KVM_GET_IRQCHIP: iowr(0x62, 'kvm_irqchip'),
  // The kernel declares SET_IRQCHIP as _IOR although the data flows in; the number is what matters.
  KVM_SET_IRQCHIP: ior(0x63, 'kvm_irqchip'),
  KVM_SET_GSI_ROUTING: iow(0x6a, 'kvm_irq_routing'),
  KVM_CREATE_PIT2: iow(0x77, 'kvm_pit_config'),
  KVM_SET_CLOCK: iow(0x7b, 'kvm_clock_data'),
  KVM_GET_CLOCK: ior(0x7c, 'kvm_clock_data'),
  KVM_GET_PIT2: ior(0x9f, 'kvm_pit_state2'),
  KVM_SET_PIT2: iow(0xa0, 'kvm_pit_state2'),
  /** Also valid on a vCPU descriptor, for vCPU capabilities. */
  KVM_ENABLE_CAP: iow(0xa3, 'kvm_enable_cap'),
  KVM_SIGNAL_MSI: iow(0xa5, 'kvm_msi'),
} as const;

/** The ioctls issued on a vCPU descriptor. */
export const VCPU_IOCTLS = {
  KVM_RUN: io(0x80),
  KVM_GET_REGS: ior(0x81, 'kvm_regs'),
  KVM_SET_REGS: iow(0x82, 'kvm_regs'),
  KVM_GET_SREGS: ior(0x83, 'kvm_sregs'),
  KVM_SET_SREGS: iow(0x84, 'kvm_sregs'),
  KVM_TRANSLATE: iowr(0x85, 'kvm_translation'),
  KVM_INTERRUPT: iow(0x86, 'kvm_interrupt'),
  KVM_GET_MSRS: iowr(0x88, 'kvm_msrs'),
  KVM_SET_MSRS: iow(0x89, 'kvm_msrs'),
  KVM_SET_SIGNAL_MASK: iow(0x8b, 'kvm_signal_mask'),
  KVM_GET_FPU: ior(0x8c, 'kvm_fpu'),
  KVM_SET_FPU: iow(0x8d, 'kvm_fpu'),
  KVM_GET_LAPIC: ior(0x8e, 'kvm_lapic_state'),
  KVM_SET_LAPIC: iow(0x8f, 'kvm_lapic_state'),
  KVM_SET_CPUID2: iow(0x90, 'kvm_cpuid2'),
  KVM_GET_CPUID2: iowr(0x91, 'kvm_cpuid2'),
  KVM_GET_MP_STATE: ior(0x98, 'kvm_mp_state'),
  KVM_SET_MP_STATE: iow(0x99, 'kvm_mp_state'),
  KVM_NMI: io(0x9a),
  KVM_SET_GUEST_DEBUG: iow(0x9b, 'kvm_guest_debug'),
  KVM_GET_VCPU_EVENTS: ior(0x9f, 'kvm_vcpu_events'),
  KVM_SET_VCPU_EVENTS: iow(0xa0, 'kvm_vcpu_events'),
  KVM_GET_DEBUGREGS: ior(0xa1, 'kvm_debugregs'),
  KVM_SET_DEBUGREGS: iow(0xa2, 'kvm_debugregs'),
  KVM_GET_XSAVE: ior(0xa4, 'kvm_xsave'),
  KVM_SET_XSAVE: iow(0xa5, 'kvm_xsave'),
  KVM_GET_XCRS: ior(0xa6, 'kvm_xcrs'),
  KVM_SET_XCRS: iow(0xa7, 'kvm_xcrs'),
} as const;

/** Every ioctl request number this package issues, by the kernel's macro name. */
export const IOCTLS = { ...SYSTEM_IOCTLS, ...VM_IOCTLS, ...VCPU_IOCTLS } as const;

/** The name of an ioctl in {@link IOCTLS}. */
export type IoctlName = keyof typeof IOCTLS;
