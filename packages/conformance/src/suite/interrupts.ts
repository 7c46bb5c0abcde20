import { IrqchipId, IrqRoutingType, type KvmIrqchip, PitFlag } from '@kvm-ts/core';
import { expect } from 'vitest';
import { irqReal } from '../guests/generated.js';
import { symbol } from '../guests/program.js';
import { Port } from '../layout.js';
import { runExpecting } from '../setup/run.js';
import { expectHlt, expectKvmError, expectOut } from './assertions.js';
import type { CaseContext, CaseGroup } from './case.js';

/** MSI address of the local APIC with destination id 0 (Intel SDM Vol. 3A 11.11.1). */
const MSI_ADDRESS_APIC_0 = 0xfee0_0000;
/** The APIC's IRR registers start at 0x200, one 32-bit register every 16 bytes (SDM Vol. 3A 11.8.4). */
const APIC_IRR = 0x200;
const APIC_SVR = 0xf0;
const APIC_SVR_ENABLE = 0x100;

function vmWithIrqchip(context: CaseContext) {
  const vm = context.kvm.createVm();
  context.defer(() => vm.close());
  vm.createIrqchip();
  return vm;
}

function pic(chip: KvmIrqchip) {
  if (chip.chipId === IrqchipId.IOAPIC) throw new Error('expected a PIC');
  return chip.pic;
}

function ioapic(chip: KvmIrqchip) {
  if (chip.chipId !== IrqchipId.IOAPIC) throw new Error('expected the IOAPIC');
  return chip.ioapic;
}

/** The in-kernel irqchip, interrupt injection from user space, the PIT, MSI and GSI routing. */
export const interruptCases: CaseGroup = {
  name: 'interrupts',
  cases: [
    {
      id: 'irq.window-and-injection',
      title:
        'request_interrupt_window gives IRQ_WINDOW_OPEN once IF=1, and KVM_INTERRUPT runs the vector handler',
      source: 'api.rst 4.16 (KVM_INTERRUPT), 5 (request_interrupt_window, ready_for_interrupt_injection)',
      checkedOn: ['kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'real', guest: irqReal });
        const vector = symbol(irqReal, 'VECTOR');
        expectOut(vcpu, Port.DONE, 1, 0);
        vcpu.requestInterruptWindow = true;
        const first = context.deviation?.alternative?.exit ?? 'irq_window_open';
        runExpecting(vcpu, first);
        expect(vcpu.readyForInterruptInjection).toBe(true);
        expect(vcpu.ifFlag).toBe(true);
        // At the window exit the guest has not run its HLT yet; on the alternative it already has.
        const afterHlt = first === 'hlt';
        expect(vcpu.getRegs().rip).toBe(BigInt(symbol(irqReal, afterHlt ? 'after_interrupt' : 'waiting')));
        vcpu.interrupt(vector);
        vcpu.requestInterruptWindow = false;
        expectOut(vcpu, Port.VECTOR, 1, vector);
        if (!afterHlt) {
          expectHlt(vcpu);
          expect(vcpu.getRegs().rip).toBe(BigInt(symbol(irqReal, 'after_interrupt')));
        }
        expectOut(vcpu, Port.DONE, 1, vector);
        expectHlt(vcpu);
      },
    },
    {
      id: 'irq.nmi-delivery',
      title: 'KVM_NMI without an in-kernel irqchip delivers an NMI through vector 2 of the guest IVT',
      source:
        'api.rst 4.77 (KVM_NMI: queues an NMI without an in-kernel LAPIC); Intel SDM Vol. 3A 6.7 (NMI, vector 2)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'real', guest: irqReal });
        expectOut(vcpu, Port.DONE, 1, 0);
        vcpu.nmi();
        expectOut(vcpu, Port.VECTOR, 1, symbol(irqReal, 'NMI_VECTOR'));
        expectHlt(vcpu);
        expect(vcpu.getRegs().rip).toBe(BigInt(symbol(irqReal, 'after_interrupt')));
      },
    },
    {
      id: 'irq.interrupt-vector-range',
      title: 'KVM_INTERRUPT with a vector above 255 is EINVAL',
      source: 'kvm_vcpu_ioctl_interrupt in arch/x86/kvm/x86.c (irq >= KVM_NR_INTERRUPTS)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'real', guest: irqReal });
        expectKvmError(() => vcpu.interrupt(256), 'EINVAL');
      },
    },
    {
      id: 'irq.interrupt-with-irqchip',
      title: 'KVM_INTERRUPT with the in-kernel irqchip is ENXIO',
      source: 'api.rst 4.16 ("with an in-kernel irqchip ... -ENXIO")',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = vmWithIrqchip(context);
        const vcpu = vm.createVcpu(0);
        expectKvmError(() => vcpu.interrupt(0x20), 'ENXIO');
      },
    },
    {
      id: 'irq.pic-round-trip',
      title: 'KVM_SET_IRQCHIP then KVM_GET_IRQCHIP returns the master and slave PIC state',
      source: 'api.rst 4.27/4.28 (chip_id 0 and 1: struct kvm_pic_state)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = vmWithIrqchip(context);
        for (const chipId of [IrqchipId.PIC_MASTER, IrqchipId.PIC_SLAVE] as const) {
          const state = pic(vm.getIrqchip(chipId));
          const wanted = {
            ...state,
            imr: 0xa5,
            irqBase: chipId === 0 ? 0x20 : 0x28,
            elcr: 0x08 & state.elcrMask,
          };
          vm.setIrqchip({ chipId, pic: wanted });
          const got = pic(vm.getIrqchip(chipId));
          expect(got.imr, `chip ${chipId}`).toBe(0xa5);
          expect(got.irqBase, `chip ${chipId}`).toBe(wanted.irqBase);
          expect(got.elcr, `chip ${chipId}`).toBe(wanted.elcr);
        }
      },
    },
    {
      id: 'irq.ioapic-round-trip',
      title:
        'KVM_SET_IRQCHIP then KVM_GET_IRQCHIP returns the IOAPIC redirection table; the base is 0xfec00000',
      source: 'api.rst 4.27/4.28 (chip_id 2: struct kvm_ioapic_state); IOAPIC_DEFAULT_BASE_ADDRESS',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = vmWithIrqchip(context);
        const state = ioapic(vm.getIrqchip(IrqchipId.IOAPIC));
        expect(state.base).toBe(0xfec0_0000n);
        expect(state.redirtbl).toHaveLength(24);
        const redirtbl = [...state.redirtbl];
        redirtbl[4] = 0x0100_0000_0001_0034n;
        vm.setIrqchip({ chipId: IrqchipId.IOAPIC, ioapic: { ...state, redirtbl } });
        expect(ioapic(vm.getIrqchip(IrqchipId.IOAPIC)).redirtbl[4]).toBe(0x0100_0000_0001_0034n);
      },
    },
    {
      id: 'irq.irqchip-errors',
      title: 'KVM_GET_IRQCHIP without an irqchip is ENXIO, and an unknown chip id is EINVAL',
      source: 'kvm_arch_vm_ioctl KVM_GET_IRQCHIP and kvm_vm_ioctl_get_irqchip in arch/x86/kvm/x86.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = context.kvm.createVm();
        context.defer(() => vm.close());
        expectKvmError(() => vm.getIrqchip(IrqchipId.PIC_MASTER), 'ENXIO');
        vm.createIrqchip();
        expectKvmError(() => vm.getIrqchip(3), 'EINVAL');
      },
    },
    {
      id: 'irq.line-raises-irr',
      title: 'KVM_IRQ_LINE raising GSI 4 sets IRR bit 4 of the master PIC',
      source: 'api.rst 4.25 (KVM_IRQ_LINE); kvm_pic_set_irq in arch/x86/kvm/i8259.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = vmWithIrqchip(context);
        expect(pic(vm.getIrqchip(IrqchipId.PIC_MASTER)).irr & 0x10).toBe(0);
        vm.irqLine(4, 1);
        expect(pic(vm.getIrqchip(IrqchipId.PIC_MASTER)).irr & 0x10).toBe(0x10);
        vm.irqLine(4, 0);
      },
    },
    {
      id: 'irq.line-without-irqchip',
      title: 'KVM_IRQ_LINE without an in-kernel irqchip is ENXIO',
      source: 'kvm_vm_ioctl_irq_line in arch/x86/kvm/x86.c (!irqchip_in_kernel)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = context.kvm.createVm();
        context.defer(() => vm.close());
        expectKvmError(() => vm.irqLine(4, 1), 'ENXIO');
      },
    },
    {
      id: 'irq.create-irqchip-twice',
      title: 'a second KVM_CREATE_IRQCHIP is EEXIST',
      source: 'kvm_arch_vm_ioctl KVM_CREATE_IRQCHIP in arch/x86/kvm/x86.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = vmWithIrqchip(context);
        expectKvmError(() => vm.createIrqchip(), 'EEXIST');
      },
    },
    {
      id: 'irq.irqchip-after-vcpu',
      title: 'KVM_CREATE_IRQCHIP after a vCPU exists is EINVAL',
      source: 'api.rst 4.24; kvm_arch_vm_ioctl KVM_CREATE_IRQCHIP (kvm->created_vcpus)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = context.kvm.createVm();
        context.defer(() => vm.close());
        vm.createVcpu(0);
        expectKvmError(() => vm.createIrqchip(), 'EINVAL');
        expectKvmError(() => vm.getIrqchip(IrqchipId.PIC_MASTER), 'ENXIO');
      },
    },
    {
      id: 'irq.pit2',
      title:
        'KVM_CREATE_PIT2 gives three channels; KVM_SET_PIT2 then KVM_GET_PIT2 returns a channel count; twice is EEXIST',
      source: 'api.rst 4.62 (KVM_CREATE_PIT2), 4.63/4.64 (KVM_GET/SET_PIT2)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = vmWithIrqchip(context);
        vm.createPit2({ flags: PitFlag.SPEAKER_DUMMY });
        const state = vm.getPit2();
        expect(state.channels).toHaveLength(3);
        const channels = state.channels.map((c, i) => (i === 2 ? { ...c, count: 0x1234, mode: 2 } : c));
        vm.setPit2({ ...state, channels });
        const got = vm.getPit2().channels[2];
        expect(got.count).toBe(0x1234);
        expect(got.mode).toBe(2);
        expectKvmError(() => vm.createPit2({ flags: 0 }), 'EEXIST');
      },
    },
    {
      id: 'irq.pit2-errors',
      title: 'KVM_GET_PIT2 before a PIT exists is ENXIO',
      source: 'kvm_arch_vm_ioctl KVM_GET_PIT2 in arch/x86/kvm/x86.c (!kvm->arch.vpit)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = vmWithIrqchip(context);
        expectKvmError(() => vm.getPit2(), 'ENXIO');
      },
    },
    {
      id: 'irq.pit2-before-irqchip',
      title: 'KVM_CREATE_PIT2 before KVM_CREATE_IRQCHIP is accepted (Linux 6.1)',
      source: 'measured on the reference kvm_amd (Linux 6.1): 0',
      checkedOn: ['kvm_amd'],
      run(context) {
        const vm = context.kvm.createVm();
        context.defer(() => vm.close());
        const errno = context.deviation?.alternative?.errno;
        if (errno) expectKvmError(() => vm.createPit2({ flags: 0 }), errno);
        else vm.createPit2({ flags: 0 });
      },
    },
    {
      id: 'irq.msi-to-apic',
      title:
        'KVM_SIGNAL_MSI to an enabled local APIC is delivered (returns 1) and sets the vector in its IRR',
      source: 'api.rst 4.71 (KVM_SIGNAL_MSI: >0 delivered); Intel SDM Vol. 3A 11.11 (MSI format)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = vmWithIrqchip(context);
        const vcpu = vm.createVcpu(0);
        const regs = vcpu.getLapic().regs.slice();
        const view = new DataView(regs.buffer);
        view.setUint32(APIC_SVR, view.getUint32(APIC_SVR, true) | APIC_SVR_ENABLE | 0xff, true);
        vcpu.setLapic({ regs });
        const vector = 0x31;
        expect(
          vm.signalMsi({ addressLo: MSI_ADDRESS_APIC_0, addressHi: 0, data: vector, flags: 0, devid: 0 }),
        ).toBe(1);
        const irr = new DataView(vcpu.getLapic().regs.buffer).getUint32(
          APIC_IRR + (vector >> 5) * 0x10,
          true,
        );
        expect((irr >>> (vector & 31)) & 1).toBe(1);
      },
    },
    {
      id: 'irq.msi-errors',
      title: 'KVM_SIGNAL_MSI without an in-kernel irqchip, or with unknown flags, is EINVAL',
      source: 'kvm_send_userspace_msi in virt/kvm/irqchip.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = context.kvm.createVm();
        context.defer(() => vm.close());
        const msi = { addressLo: MSI_ADDRESS_APIC_0, addressHi: 0, data: 0x31, flags: 0, devid: 0 };
        expectKvmError(() => vm.signalMsi(msi), 'EINVAL');
        vm.createIrqchip();
        expectKvmError(() => vm.signalMsi({ ...msi, flags: 0x80 }), 'EINVAL');
      },
    },
    {
      id: 'irq.gsi-routing',
      title: 'KVM_SET_GSI_ROUTING accepts IOAPIC and MSI routes and refuses a PIC pin above 7 with EINVAL',
      source: 'api.rst 4.52; kvm_set_routing_entry in arch/x86/kvm/irq_comm.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = vmWithIrqchip(context);
        vm.setGsiRouting([
          { gsi: 0, type: IrqRoutingType.IRQCHIP, flags: 0, irqchip: IrqchipId.IOAPIC, pin: 2 },
          { gsi: 4, type: IrqRoutingType.IRQCHIP, flags: 0, irqchip: IrqchipId.PIC_MASTER, pin: 4 },
          { gsi: 4, type: IrqRoutingType.IRQCHIP, flags: 0, irqchip: IrqchipId.IOAPIC, pin: 4 },
          {
            gsi: 24,
            type: IrqRoutingType.MSI,
            flags: 0,
            addressLo: MSI_ADDRESS_APIC_0,
            addressHi: 0,
            data: 0x41,
            devid: 0,
          },
        ]);
        expectKvmError(
          () =>
            vm.setGsiRouting([
              { gsi: 9, type: IrqRoutingType.IRQCHIP, flags: 0, irqchip: IrqchipId.PIC_SLAVE, pin: 8 },
            ]),
          'EINVAL',
        );
        vm.irqLine(4, 1);
        expect(pic(vm.getIrqchip(IrqchipId.PIC_MASTER)).irr & 0x10).toBe(0x10);
      },
    },
  ],
};
