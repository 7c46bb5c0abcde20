import { Capability, CpuidFlag } from '@kvm-ts/core';
import { expect } from 'vitest';
import { expectKvmError } from './assertions.js';
import type { CaseGroup } from './case.js';

/** MSRs KVM_GET_MSR_INDEX_LIST lists on every x86 KVM (msrs_to_save_base in arch/x86/kvm/x86.c). */
const ALWAYS_LISTED_MSRS = {
  IA32_TSC: 0x10,
  IA32_SYSENTER_CS: 0x174,
  STAR: 0xc000_0081,
  LSTAR: 0xc000_0082,
  KERNEL_GS_BASE: 0xc000_0102,
};

/** CPUID.80000001H:EDX bit 29, long mode (Intel SDM Vol. 2A, CPUID). */
const CPUID_LM = 1 << 29;
/** CPUID.01H:ECX bit 22, MOVBE: KVM_GET_EMULATED_CPUID offers it (api.rst, KVM_GET_EMULATED_CPUID). */
const CPUID_MOVBE = 1 << 22;

/** KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, KVM_GET_VCPU_MMAP_SIZE, the MSR lists and CPUID lists. */
export const systemCases: CaseGroup = {
  name: 'system queries',
  cases: [
    {
      id: 'system.api-version',
      title: 'KVM_GET_API_VERSION is 12',
      source: 'api.rst 4.1: "the API version is 12 and will not change"',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm }) {
        expect(kvm.getApiVersion()).toBe(12);
      },
    },
    {
      id: 'system.vcpu-mmap-size',
      title: 'KVM_GET_VCPU_MMAP_SIZE is whole pages holding kvm_run',
      source: 'api.rst 4.5; kvm_run is 2352 bytes on x86-64 and KVM maps at least a page',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm }) {
        const size = kvm.getVcpuMmapSize();
        expect(size).toBeGreaterThanOrEqual(4096);
        expect(size % 4096).toBe(0);
      },
    },
    {
      id: 'system.check-extension',
      title: 'KVM_CHECK_EXTENSION reports the capabilities the suite relies on, and 0 for unknown ones',
      source: 'api.rst 4.4 and section 8; kvm_vm_ioctl_check_extension in arch/x86/kvm/x86.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm }) {
        for (const cap of [
          Capability.USER_MEMORY,
          Capability.IRQCHIP,
          Capability.HLT,
          Capability.MP_STATE,
          Capability.SET_GUEST_DEBUG,
          Capability.VCPU_EVENTS,
          Capability.DEBUGREGS,
          Capability.XSAVE,
          Capability.XCRS,
          Capability.PIT2,
          Capability.READONLY_MEM,
          Capability.IMMEDIATE_EXIT,
          Capability.SET_TSS_ADDR,
          Capability.SET_IDENTITY_MAP_ADDR,
          Capability.ADJUST_CLOCK,
        ]) {
          expect(kvm.checkExtension(cap), `capability ${cap}`).toBeGreaterThan(0);
        }
        const nrVcpus = kvm.checkExtension(Capability.NR_VCPUS);
        expect(nrVcpus).toBeGreaterThan(0);
        expect(kvm.checkExtension(Capability.MAX_VCPUS)).toBeGreaterThanOrEqual(nrVcpus);
        expect(kvm.checkExtension(Capability.NR_MEMSLOTS)).toBeGreaterThanOrEqual(32);
        expect(kvm.checkExtension(0x7ff0)).toBe(0);
      },
    },
    {
      id: 'system.check-extension-vm',
      title: 'KVM_CHECK_EXTENSION on a VM agrees with the system for VM-independent capabilities',
      source: 'api.rst 4.4 (KVM_CAP_CHECK_EXTENSION_VM)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm, defer }) {
        const vm = kvm.createVm();
        defer(() => vm.close());
        for (const cap of [
          Capability.USER_MEMORY,
          Capability.IRQCHIP,
          Capability.NR_MEMSLOTS,
          Capability.PIT2,
        ]) {
          expect(vm.checkExtension(cap), `capability ${cap}`).toBe(kvm.checkExtension(cap));
        }
        expect(vm.checkExtension(0x7ff0)).toBe(0);
      },
    },
    {
      id: 'system.create-vm-type',
      title: 'KVM_CREATE_VM with a machine type x86 does not know is EINVAL',
      source: 'api.rst 4.2 (KVM_CREATE_VM type); kvm_arch_init_vm in arch/x86/kvm/x86.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm }) {
        expectKvmError(() => kvm.createVm(0x7f), 'EINVAL');
        kvm.createVm(0).close();
      },
    },
    {
      id: 'system.msr-index-list',
      title: 'KVM_GET_MSR_INDEX_LIST lists the MSRs every x86 KVM saves, each once',
      source: 'api.rst 4.3; msrs_to_save_base in arch/x86/kvm/x86.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm }) {
        const list = kvm.getMsrIndexList();
        expect(new Set(list).size).toBe(list.length);
        for (const [name, index] of Object.entries(ALWAYS_LISTED_MSRS)) {
          expect(list, name).toContain(index);
        }
      },
    },
    {
      id: 'system.msr-feature-index-list',
      title: 'KVM_GET_MSR_FEATURE_INDEX_LIST is non-empty when KVM_CAP_GET_MSR_FEATURES is set',
      source: 'api.rst 4.3 (KVM_GET_MSR_FEATURE_INDEX_LIST)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm }) {
        const list = kvm.getMsrFeatureIndexList();
        expect(new Set(list).size).toBe(list.length);
        if (kvm.checkExtension(Capability.GET_MSR_FEATURES) > 0) expect(list.length).toBeGreaterThan(0);
      },
    },
    {
      id: 'system.supported-cpuid',
      title: 'KVM_GET_SUPPORTED_CPUID has the basic and extended leaves, with long mode, each once',
      source: 'api.rst 4.46; Intel SDM Vol. 2A CPUID',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm }) {
        const entries = kvm.getSupportedCpuid();
        const keys = entries.map(
          (e) => `${e.function}:${e.flags & CpuidFlag.SIGNIFCANT_INDEX ? e.index : 0}`,
        );
        expect(new Set(keys).size).toBe(keys.length);
        const leaf = (fn: number) => entries.find((e) => e.function === fn && e.index === 0);
        expect(leaf(0)?.eax).toBeGreaterThanOrEqual(1);
        expect(leaf(1)).toBeDefined();
        expect(leaf(0x8000_0000)?.eax).toBeGreaterThanOrEqual(0x8000_0001);
        expect((leaf(0x8000_0001)?.edx ?? 0) & CPUID_LM).toBe(CPUID_LM);
      },
    },
    {
      id: 'system.emulated-cpuid',
      title: 'KVM_GET_EMULATED_CPUID offers MOVBE in leaf 1',
      source: 'api.rst 4.93 (KVM_GET_EMULATED_CPUID); __do_cpuid_func_emulated in arch/x86/kvm/cpuid.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm }) {
        const entries = kvm.getEmulatedCpuid();
        const leaf1 = entries.find((e) => e.function === 1);
        expect(leaf1).toBeDefined();
        expect((leaf1?.ecx ?? 0) & CPUID_MOVBE).toBe(CPUID_MOVBE);
      },
    },
  ],
};
