import { Capability, MpState } from '@kvm-ts/core';
import { expect } from 'vitest';
import { expectKvmError } from './assertions.js';
import type { CaseGroup } from './case.js';

/** KVM_CREATE_VCPU, the reset state, KVM_GET/SET_MP_STATE and KVM_NMI. */
export const vcpuCases: CaseGroup = {
  name: 'vCPU creation and state',
  cases: [
    {
      id: 'vcpu.duplicate-id',
      title: 'creating a vCPU with an id already in use is EEXIST',
      source: 'kvm_vm_ioctl_create_vcpu in virt/kvm/kvm_main.c (kvm_get_vcpu_by_id)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm, defer }) {
        const vm = kvm.createVm();
        defer(() => vm.close());
        vm.createVcpu(0);
        expectKvmError(() => vm.createVcpu(0), 'EEXIST');
        vm.createVcpu(1);
      },
    },
    {
      id: 'vcpu.id-out-of-range',
      title: 'a vCPU id at KVM_CAP_MAX_VCPU_ID or above is EINVAL',
      source: 'api.rst 4.7 (KVM_CREATE_VCPU: vcpu id below KVM_CAP_MAX_VCPU_ID)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm, defer }) {
        const vm = kvm.createVm();
        defer(() => vm.close());
        const limit = vm.checkExtension(Capability.MAX_VCPU_ID);
        expect(limit).toBeGreaterThan(0);
        expectKvmError(() => vm.createVcpu(limit), 'EINVAL');
        vm.createVcpu(limit - 1);
      },
    },
    {
      id: 'vcpu.reset-state',
      title: 'a new vCPU is in the architectural reset state (CS:IP F000:FFF0, CR0 60000010)',
      source: 'Intel SDM Vol. 3A 9.1.1 table 9-1; kvm_vcpu_reset in arch/x86/kvm/x86.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm, defer }) {
        const vm = kvm.createVm();
        defer(() => vm.close());
        const vcpu = vm.createVcpu(0);
        const regs = vcpu.getRegs();
        expect(regs.rip).toBe(0xfff0n);
        expect(regs.rflags).toBe(0x2n);
        const sregs = vcpu.getSregs();
        expect(sregs.cs.selector).toBe(0xf000);
        expect(sregs.cs.base).toBe(0xffff_0000n);
        expect(sregs.cs.limit).toBe(0xffff);
        expect(sregs.cr0).toBe(0x6000_0010n);
        expect(sregs.efer).toBe(0n);
        expect(sregs.idt.limit).toBe(0xffff);
      },
    },
    {
      id: 'vcpu.mp-state-userspace-irqchip',
      title: 'without an in-kernel irqchip a vCPU is RUNNABLE and other MP states are EINVAL',
      source: 'kvm_arch_vcpu_ioctl_set_mpstate in arch/x86/kvm/x86.c (!lapic_in_kernel)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm, defer }) {
        const vm = kvm.createVm();
        defer(() => vm.close());
        const vcpu = vm.createVcpu(0);
        expect(vcpu.getMpState().mpState).toBe(MpState.RUNNABLE);
        expectKvmError(() => vcpu.setMpState({ mpState: MpState.HALTED }), 'EINVAL');
        vcpu.setMpState({ mpState: MpState.RUNNABLE });
        expect(vcpu.getMpState().mpState).toBe(MpState.RUNNABLE);
      },
    },
    {
      id: 'vcpu.mp-state-in-kernel-irqchip',
      title: 'with the in-kernel irqchip the BSP is RUNNABLE, an AP UNINITIALIZED, and HALTED round-trips',
      source: 'api.rst 4.38/4.39 (KVM_GET/SET_MP_STATE); kvm_arch_vcpu_create (kvm_vcpu_is_reset_bsp)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm, defer }) {
        const vm = kvm.createVm();
        defer(() => vm.close());
        vm.createIrqchip();
        const bsp = vm.createVcpu(0);
        const ap = vm.createVcpu(1);
        expect(bsp.getMpState().mpState).toBe(MpState.RUNNABLE);
        expect(ap.getMpState().mpState).toBe(MpState.UNINITIALIZED);
        bsp.setMpState({ mpState: MpState.HALTED });
        expect(bsp.getMpState().mpState).toBe(MpState.HALTED);
        expectKvmError(() => bsp.setMpState({ mpState: 99 }), 'EINVAL');
      },
    },
    {
      id: 'vcpu.nmi-pending',
      title: 'KVM_NMI makes an NMI pending, as KVM_GET_VCPU_EVENTS shows',
      source: 'api.rst 4.77 (KVM_NMI); kvm_vcpu_ioctl_nmi and process_nmi in arch/x86/kvm/x86.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm, defer }) {
        const vm = kvm.createVm();
        defer(() => vm.close());
        const vcpu = vm.createVcpu(0);
        expect(vcpu.getVcpuEvents().nmi.pending).toBe(0);
        vcpu.nmi();
        expect(vcpu.getVcpuEvents().nmi.pending).toBe(1);
      },
    },
    {
      id: 'vcpu.signal-mask',
      title: 'KVM_SET_SIGNAL_MASK takes one 8-byte sigset or none, and refuses another size with EINVAL',
      source: 'kvm_vcpu_ioctl KVM_SET_SIGNAL_MASK in virt/kvm/kvm_main.c (len != sizeof(sigset_t))',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm, defer }) {
        const vm = kvm.createVm();
        defer(() => vm.close());
        const vcpu = vm.createVcpu(0);
        vcpu.setSignalMask([0n]);
        vcpu.setSignalMask(null);
        expectKvmError(() => vcpu.setSignalMask([0n, 0n]), 'EINVAL');
      },
    },
    {
      id: 'vcpu.enable-cap-unknown',
      title: 'KVM_ENABLE_CAP of a capability that cannot be enabled is EINVAL on the VM and the vCPU',
      source: 'kvm_vm_ioctl_enable_cap and kvm_vcpu_ioctl_enable_cap in arch/x86/kvm/x86.c (default case)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run({ kvm, defer }) {
        const vm = kvm.createVm();
        defer(() => vm.close());
        const vcpu = vm.createVcpu(0);
        expectKvmError(() => vm.enableCap({ cap: 0x7ff0, flags: 0, args: [0n, 0n, 0n, 0n] }), 'EINVAL');
        expectKvmError(() => vcpu.enableCap({ cap: 0x7ff0, flags: 0, args: [0n, 0n, 0n, 0n] }), 'EINVAL');
      },
    },
  ],
};
