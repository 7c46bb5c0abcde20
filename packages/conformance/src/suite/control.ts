import { GuestDebugFlag } from '@kvm-ts/core';
import { expect } from 'vitest';
import { longMode, realMode, singleStep } from '../guests/generated.js';
import { symbol } from '../guests/program.js';
import { Layout, Port } from '../layout.js';
import { walkPageTables } from '../setup/page-tables.js';
import { runExpecting } from '../setup/run.js';
import { expectHlt, expectKvmError, expectOut } from './assertions.js';
import type { CaseGroup } from './case.js';

/** DR6.BS: the #DB was a single step (Intel SDM Vol. 3A 18.2.3). */
const DR6_BS = 0x4000n;

/** Guest debugging, immediate exit, address translation, the VM clock and VM-wide set-up ioctls. */
export const controlCases: CaseGroup = {
  name: 'run control, translation and VM set-up',
  cases: [
    {
      id: 'debug.single-step',
      title: 'KVM_GUESTDBG_SINGLESTEP gives a DEBUG exit (#DB) after each instruction, pc at the next one',
      source: 'api.rst 4.60 (KVM_SET_GUEST_DEBUG), 5 (kvm_debug_exit_arch); db_interception in svm.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'real', guest: singleStep });
        vcpu.setGuestDebug({
          control: GuestDebugFlag.ENABLE | GuestDebugFlag.SINGLESTEP,
          debugreg: Array(8).fill(0n),
        });
        for (const label of ['step1', 'step2', 'step3', 'step4']) {
          const exit = runExpecting(vcpu, 'debug');
          expect(exit.exception, label).toBe(1);
          expect(exit.pc, label).toBe(BigInt(symbol(singleStep, label)));
          expect(exit.dr6 & DR6_BS, label).toBe(DR6_BS);
        }
        expect(vcpu.getRegs().rip).toBe(BigInt(symbol(singleStep, 'step4')));
        vcpu.setGuestDebug({ control: 0, debugreg: Array(8).fill(0n) });
        expectOut(vcpu, Port.OUT, 2, 0x1235);
        expectHlt(vcpu);
      },
    },
    {
      id: 'run.immediate-exit',
      title:
        'with immediate_exit set, KVM_RUN returns at once (EINTR: an intr exit) without running the guest',
      source: 'api.rst 5 (immediate_exit: KVM_RUN returns -EINTR); KVM_CAP_IMMEDIATE_EXIT',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'real', guest: realMode });
        vcpu.immediateExit = true;
        runExpecting(vcpu, 'intr');
        runExpecting(vcpu, 'intr');
        expect(vcpu.getRegs().rip).toBe(BigInt(realMode.loadAddress));
        vcpu.immediateExit = false;
        expectOut(vcpu, Port.OUT, 1, 0x5a);
      },
    },
    {
      id: 'run.cr8-and-apic-base',
      title:
        'without an in-kernel LAPIC, kvm_run.cr8 sets CR8 as KVM_RUN starts and reports it, with apic_base, at exits',
      source:
        'api.rst 5 (cr8, apic_base: valid without an in-kernel local APIC); Intel SDM Vol. 3A 10.4.4 (FEE00900H)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'real', guest: realMode });
        vcpu.cr8 = 7n;
        expectOut(vcpu, Port.OUT, 1, 0x5a);
        expect(vcpu.getSregs().cr8).toBe(7n);
        expect(vcpu.cr8).toBe(7n);
        expect(vcpu.apicBase).toBe(vcpu.getSregs().apicBase);
        expect(vcpu.apicBase & 0xffff_f000n).toBe(0xfee0_0000n);
      },
    },
    {
      id: 'translate.no-paging',
      title: 'KVM_TRANSLATE without paging maps a linear address to the same physical address',
      source: 'api.rst 4.15 (KVM_TRANSLATE); Intel SDM Vol. 3A 4.1 (paging disabled)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'protected' });
        const result = vcpu.translate(0x1234_5678n);
        expect(result.valid).toBe(1);
        expect(result.physicalAddress).toBe(0x1234_5678n);
        expect(result.linearAddress).toBe(0x1234_5678n);
      },
    },
    {
      id: 'translate.long-mode',
      title: 'KVM_TRANSLATE in long mode walks the page tables: identity, alias, and not-present addresses',
      source: 'api.rst 4.15; AMD APM Vol. 2 5.3 (long-mode paging); Intel SDM Vol. 3A 4.5',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu, ram, pageTables } = context.machine({ mode: 'long', guest: longMode });
        if (!pageTables) throw new Error('long mode machine without page tables');
        const cases = [
          0x1234n,
          BigInt(Layout.DATA_ADDR) + 0x10n,
          BigInt(Layout.ALIAS_BASE) + 0x5678n,
          0x3fff_f000n,
        ];
        for (const linear of cases) {
          const expected = walkPageTables(ram, pageTables.pml4, linear);
          const result = vcpu.translate(linear);
          expect(result.valid, `0x${linear.toString(16)}`).toBe(1);
          expect(result.physicalAddress, `0x${linear.toString(16)}`).toBe(expected);
        }
        expect(vcpu.translate(BigInt(Layout.ALIAS_BASE) + 0x5678n).physicalAddress).toBe(0x5678n);
        expect(vcpu.translate(0x8000_0000n).valid).toBe(0);
      },
    },
    {
      id: 'vm.clock',
      title: 'KVM_SET_CLOCK sets kvmclock and KVM_GET_CLOCK continues from there',
      source: 'api.rst 4.56/4.57 (KVM_SET_CLOCK, KVM_GET_CLOCK)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = context.kvm.createVm();
        context.defer(() => vm.close());
        const start = 5_000_000_000_000n;
        vm.setClock({ clock: start, flags: 0, realtime: 0n, hostTsc: 0n });
        const got = vm.getClock().clock;
        expect(got).toBeGreaterThanOrEqual(start);
        expect(got - start).toBeLessThan(10_000_000_000n);
      },
    },
    {
      id: 'vm.tss-and-identity-map',
      title:
        'KVM_SET_TSS_ADDR and KVM_SET_IDENTITY_MAP_ADDR are accepted before vCPUs; the identity map after one is EINVAL',
      source:
        'api.rst 4.48 (KVM_SET_TSS_ADDR), 4.50 (KVM_SET_IDENTITY_MAP_ADDR); kvm_arch_vm_ioctl (created_vcpus)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = context.kvm.createVm();
        context.defer(() => vm.close());
        vm.setTssAddr(0xfffb_d000);
        vm.setIdentityMapAddr(0xfffb_c000n);
        vm.createVcpu(0);
        expectKvmError(() => vm.setIdentityMapAddr(0xfffb_c000n), 'EINVAL');
      },
    },
    {
      id: 'lifecycle.closed-handles',
      title: 'calls on a closed system handle, VM or vCPU are EBADF',
      source: 'ioctl(2) on a closed file descriptor: EBADF',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      async run(context) {
        const vm = context.kvm.createVm();
        const vcpu = vm.createVcpu(0);
        vcpu.close();
        expectKvmError(() => vcpu.getRegs(), 'EBADF');
        expectKvmError(() => vcpu.run(), 'EBADF');
        vm.close();
        expectKvmError(() => vm.createVcpu(1), 'EBADF');
        expectKvmError(() => vm.checkExtension(0), 'EBADF');
        context.kvm.close();
        expectKvmError(() => context.kvm.getApiVersion(), 'EBADF');
        expectKvmError(() => context.kvm.createVm(), 'EBADF');
      },
    },
  ],
};
