import { KVM_REGS_FIELDS, type KvmRegs, type KvmSegment, VcpuEventsFlag } from '@kvm-ts/core';
import { expect } from 'vitest';
import { protectedModeSregs } from '../setup/cpu-modes.js';
import { expectKvmError } from './assertions.js';
import type { CaseContext, CaseGroup } from './case.js';

/** MSRs every x86 KVM keeps per vCPU, with values valid on Intel and AMD alike (canonical addresses). */
const MSR = {
  SYSENTER_CS: 0x174,
  STAR: 0xc000_0081,
  LSTAR: 0xc000_0082,
  KERNEL_GS_BASE: 0xc000_0102,
} as const;
/** An index no CPU or KVM defines. */
const UNKNOWN_MSR = 0x8765_4321;

/** Offsets in the legacy XSAVE area (Intel SDM Vol. 1 10.5.1 table 10-2, 13.4.2). */
const XSAVE = { FCW: 0, FSW: 2, FTW: 4, MXCSR: 24, ST0: 32, XMM0: 160, XSTATE_BV: 512 } as const;
const XFEATURE_X87_SSE = 0x3n;

function vcpuOnly(context: CaseContext) {
  const vm = context.kvm.createVm();
  context.defer(() => vm.close());
  return { vm, vcpu: vm.createVcpu(0) };
}

function pattern(seed: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed + i * 7) & 0xff);
}

const SEGMENT_FIELDS = ['base', 'limit', 'selector', 'type', 'present', 'dpl', 'db', 's', 'l', 'g'] as const;
function segmentFields(segment: KvmSegment) {
  return Object.fromEntries(SEGMENT_FIELDS.map((f) => [f, segment[f]]));
}

/** Round trips of every register-state ioctl, with the refusals KVM documents. */
export const registerCases: CaseGroup = {
  name: 'register state',
  cases: [
    {
      id: 'regs.round-trip',
      title: 'KVM_SET_REGS then KVM_GET_REGS returns every 64-bit register unchanged',
      source: 'api.rst 4.11/4.12',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        const regs = Object.fromEntries(
          KVM_REGS_FIELDS.map((name, i) => [
            name,
            0x8000_0000_0000_0000n | (BigInt(i + 1) * 0x0101_0101_01n),
          ]),
        ) as unknown as KvmRegs;
        regs.rip = 0x1234n;
        regs.rflags = 0x2n | 0x1n | 0x40n | 0x800n;
        vcpu.setRegs(regs);
        expect(vcpu.getRegs()).toEqual(regs);
      },
    },
    {
      id: 'sregs.round-trip',
      title: 'KVM_SET_SREGS then KVM_GET_SREGS returns segments, descriptor tables and control registers',
      source: 'api.rst 4.13/4.14',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        const wanted = {
          ...protectedModeSregs(vcpu.getSregs()),
          gdt: { base: 0x5000n, limit: 0x27 },
          idt: { base: 0x6000n, limit: 0x7ff },
          cr2: 0xdead_b000n,
          cr3: 0x7000n,
          cr8: 5n,
        };
        vcpu.setSregs(wanted);
        const got = vcpu.getSregs();
        for (const name of ['cs', 'ds', 'es', 'fs', 'gs', 'ss'] as const) {
          expect(segmentFields(got[name]), name).toEqual(segmentFields(wanted[name]));
        }
        expect(got.gdt).toEqual(wanted.gdt);
        expect(got.idt).toEqual(wanted.idt);
        expect(got.cr0).toBe(wanted.cr0);
        expect(got.cr2).toBe(wanted.cr2);
        expect(got.cr3).toBe(wanted.cr3);
        expect(got.cr8).toBe(wanted.cr8);
        expect(got.efer).toBe(wanted.efer);
      },
    },
    {
      id: 'msrs.round-trip',
      title: 'KVM_SET_MSRS sets every MSR and KVM_GET_MSRS reads them back',
      source: 'api.rst 4.18/4.19',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        const entries = [
          { index: MSR.SYSENTER_CS, data: 0x10n },
          { index: MSR.STAR, data: 0x0023_0010_0000_0000n },
          { index: MSR.LSTAR, data: 0xffff_ffff_8100_0000n },
          { index: MSR.KERNEL_GS_BASE, data: 0xffff_8880_0000_0000n },
        ];
        expect(vcpu.setMsrs(entries)).toBe(entries.length);
        expect(vcpu.getMsrs(entries.map((e) => e.index))).toEqual(entries);
      },
    },
    {
      id: 'msrs.stop-at-unknown',
      title: 'KVM_SET_MSRS and KVM_GET_MSRS stop at the first unknown MSR and report how many they did',
      source: 'api.rst 4.18/4.19 (the return value is the number of MSRs processed)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        vcpu.setMsrs([{ index: MSR.LSTAR, data: 0xffff_ffff_8000_0000n }]);
        const set = vcpu.setMsrs([
          { index: MSR.STAR, data: 0x0010_0000_0000_0000n },
          { index: UNKNOWN_MSR, data: 1n },
          { index: MSR.LSTAR, data: 0xffff_ffff_9000_0000n },
        ]);
        expect(set).toBe(1);
        const got = vcpu.getMsrs([MSR.STAR, UNKNOWN_MSR, MSR.LSTAR]);
        expect(got).toEqual([{ index: MSR.STAR, data: 0x0010_0000_0000_0000n }]);
        expect(vcpu.getMsrs([MSR.LSTAR])).toEqual([{ index: MSR.LSTAR, data: 0xffff_ffff_8000_0000n }]);
      },
    },
    {
      id: 'fpu.round-trip',
      title: 'KVM_SET_FPU then KVM_GET_FPU returns x87 control, an x87 register and an XMM register',
      source: 'api.rst 4.22/4.23; FXSAVE layout, Intel SDM Vol. 1 10.5.1',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        const fpu = vcpu.getFpu();
        expect(fpu.fpr).toHaveLength(8);
        expect(fpu.xmm).toHaveLength(16);
        expect(fpu.fcw).toBe(0x037f);
        fpu.fcw = 0x027f;
        fpu.fpr[2] = new Uint8Array(16);
        fpu.fpr[2].set(pattern(0x31, 10));
        fpu.xmm[3] = pattern(0x42, 16);
        vcpu.setFpu(fpu);
        const got = vcpu.getFpu();
        expect(got.fcw).toBe(0x027f);
        expect(Array.from(got.fpr[2].subarray(0, 10))).toEqual(Array.from(pattern(0x31, 10)));
        expect(Array.from(got.xmm[3])).toEqual(Array.from(pattern(0x42, 16)));
      },
    },
    {
      id: 'fpu.mxcsr',
      title:
        'KVM_GET_FPU reports MXCSR as 0 and KVM_SET_FPU ignores it; the MXCSR (1F80H after reset) is in XSAVE',
      source:
        'kvm_arch_vcpu_ioctl_get_fpu/set_fpu in arch/x86/kvm/x86.c copy no mxcsr; Intel SDM Vol. 3A 9.1.1 table 9-1; ' +
        'measured on kvm_amd (Linux 6.1) and kvm_pvm',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        const mxcsr = () => new DataView(vcpu.getXsave().region.buffer).getUint32(XSAVE.MXCSR, true);
        const fpu = vcpu.getFpu();
        expect(fpu.mxcsr).toBe(0);
        expect(mxcsr()).toBe(0x1f80);
        vcpu.setFpu({ ...fpu, mxcsr: 0x1fa0 });
        expect(vcpu.getFpu().mxcsr).toBe(0);
        expect(mxcsr()).toBe(0x1f80);
      },
    },
    {
      id: 'xsave.round-trip',
      title: 'KVM_SET_XSAVE then KVM_GET_XSAVE keeps an XMM register, and KVM_GET_FPU sees the same state',
      source: 'api.rst 4.42/4.43; XSAVE layout, Intel SDM Vol. 1 13.4',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        const xsave = vcpu.getXsave();
        expect(xsave.region.length).toBeGreaterThanOrEqual(4096);
        const region = xsave.region.slice();
        const view = new DataView(region.buffer);
        region.set(pattern(0x55, 16), XSAVE.XMM0 + 5 * 16);
        view.setBigUint64(XSAVE.XSTATE_BV, view.getBigUint64(XSAVE.XSTATE_BV, true) | XFEATURE_X87_SSE, true);
        vcpu.setXsave({ region });
        const got = vcpu.getXsave().region;
        expect(Array.from(got.subarray(XSAVE.XMM0 + 80, XSAVE.XMM0 + 96))).toEqual(
          Array.from(pattern(0x55, 16)),
        );
        expect(Array.from(vcpu.getFpu().xmm[5])).toEqual(Array.from(pattern(0x55, 16)));
      },
    },
    {
      id: 'xsave.init-components',
      title:
        'KVM_SET_XSAVE puts a component whose XSTATE_BV bit is clear in its initial state: x87 (FCW 37FH) without ' +
        'bit 0, XMM registers and MXCSR (1F80H) without bit 1',
      source:
        'copy_uabi_to_xstate and copy_xstate_to_uabi_buf in arch/x86/kernel/fpu/xstate.c; Intel SDM Vol. 1 13.6 ' +
        '(XRSTOR initializes components whose XSTATE_BV bit is 0); measured on kvm_pvm and kvm_amd (Linux 6.1)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        const base = vcpu.getXsave().region;
        const stateWith = (xstateBv: bigint) => {
          const region = base.slice();
          const view = new DataView(region.buffer);
          view.setUint16(XSAVE.FCW, 0x027f, true);
          view.setUint16(XSAVE.FSW, 0x1234, true);
          region[XSAVE.FTW] = 0x80;
          view.setUint32(XSAVE.MXCSR, 0x1fa0, true);
          region.set(pattern(0x11, 16), XSAVE.ST0);
          region.set(pattern(0x22, 16), XSAVE.XMM0);
          view.setBigUint64(XSAVE.XSTATE_BV, xstateBv, true);
          vcpu.setXsave({ region });
          const got = vcpu.getXsave().region;
          const back = new DataView(got.buffer, got.byteOffset);
          return {
            x87: [
              back.getUint16(XSAVE.FCW, true),
              back.getUint16(XSAVE.FSW, true),
              got[XSAVE.FTW],
              got[XSAVE.ST0],
            ],
            sse: [back.getUint32(XSAVE.MXCSR, true), got[XSAVE.XMM0]],
          };
        };
        const given = { x87: [0x027f, 0x1234, 0x80, 0x11], sse: [0x1fa0, 0x22] };
        const initial = { x87: [0x037f, 0, 0, 0], sse: [0x1f80, 0] };
        expect(stateWith(3n)).toEqual(given);
        expect(stateWith(0n)).toEqual(initial);
        expect(stateWith(1n)).toEqual({ x87: given.x87, sse: initial.sse });
        expect(stateWith(2n)).toEqual({ x87: initial.x87, sse: given.sse });
      },
    },
    {
      id: 'xsave.invalid-mxcsr',
      title: 'KVM_SET_XSAVE with reserved MXCSR bits set is EINVAL',
      source: 'copy_uabi_to_xstate in arch/x86/kernel/fpu/xstate.c (mxcsr & ~mxcsr_feature_mask)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        const region = vcpu.getXsave().region.slice();
        const view = new DataView(region.buffer);
        view.setUint32(XSAVE.MXCSR, 0xffff_ffff, true);
        view.setBigUint64(XSAVE.XSTATE_BV, view.getBigUint64(XSAVE.XSTATE_BV, true) | XFEATURE_X87_SSE, true);
        expectKvmError(() => vcpu.setXsave({ region }), 'EINVAL');
        expect(new DataView(vcpu.getXsave().region.buffer).getUint32(XSAVE.MXCSR, true)).toBe(0x1f80);
      },
    },
    {
      id: 'xcrs.round-trip',
      title: 'with CPUID set, XCR0 = x87|SSE round-trips, and XCR0 without x87 is EINVAL',
      source: 'api.rst 4.44/4.45; __kvm_set_xcr in arch/x86/kvm/x86.c; Intel SDM Vol. 1 13.3',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        vcpu.setCpuid2(context.kvm.getSupportedCpuid());
        const initial = vcpu.getXcrs();
        const xcr0 = initial.xcrs.find((x) => x.xcr === 0);
        expect(xcr0?.value).toBe(1n);
        vcpu.setXcrs({ flags: 0, xcrs: [{ xcr: 0, value: 3n }] });
        expect(vcpu.getXcrs().xcrs.find((x) => x.xcr === 0)?.value).toBe(3n);
        expectKvmError(() => vcpu.setXcrs({ flags: 0, xcrs: [{ xcr: 0, value: 2n }] }), 'EINVAL');
        expect(vcpu.getXcrs().xcrs.find((x) => x.xcr === 0)?.value).toBe(3n);
      },
    },
    {
      id: 'vcpu-events.round-trip',
      title: 'KVM_SET_VCPU_EVENTS then KVM_GET_VCPU_EVENTS returns the NMI mask and a pending NMI',
      source: 'api.rst 4.31/4.32 (KVM_VCPUEVENT_VALID_NMI_PENDING)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        const events = vcpu.getVcpuEvents();
        expect(events.nmi.masked).toBe(0);
        expect(events.nmi.pending).toBe(0);
        vcpu.setVcpuEvents({
          ...events,
          flags: VcpuEventsFlag.VALID_NMI_PENDING,
          nmi: { ...events.nmi, masked: 1, pending: 1 },
        });
        const got = vcpu.getVcpuEvents();
        expect(got.nmi.masked).toBe(1);
        expect(got.nmi.pending).toBe(1);
      },
    },
    {
      id: 'debugregs.round-trip',
      title:
        'KVM_SET_DEBUGREGS then KVM_GET_DEBUGREGS returns DR0-3, DR6, DR7; bits above 31 of DR6/DR7 are EINVAL',
      source: 'api.rst 4.40/4.41; kvm_vcpu_ioctl_x86_set_debugregs in arch/x86/kvm/x86.c',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        const wanted = {
          db: [0x1000n, 0x2000n, 0x3000n, 0x4000n],
          dr6: 0xffff_0ff1n,
          dr7: 0x401n,
          flags: 0n,
        };
        vcpu.setDebugregs(wanted);
        const got = vcpu.getDebugregs();
        expect(got.db).toEqual(wanted.db);
        expect(got.dr6).toBe(wanted.dr6);
        expect(got.dr7).toBe(wanted.dr7);
        expectKvmError(() => vcpu.setDebugregs({ ...wanted, dr7: 1n << 32n }), 'EINVAL');
        expectKvmError(() => vcpu.setDebugregs({ ...wanted, dr6: 1n << 32n }), 'EINVAL');
        expect(vcpu.getDebugregs().dr7).toBe(wanted.dr7);
      },
    },
    {
      id: 'lapic.round-trip',
      title:
        'with the in-kernel irqchip, KVM_GET_LAPIC shows the APIC id and version, and TPR/SVR round-trip',
      source: 'api.rst 4.57/4.58; arch/x86/kvm/lapic.c (APIC_VERSION 0x14); Intel SDM Vol. 3A 11.4',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const vm = context.kvm.createVm();
        context.defer(() => vm.close());
        vm.createIrqchip();
        const vcpu = vm.createVcpu(2);
        const state = vcpu.getLapic();
        expect(state.regs.length).toBe(1024);
        const reg = (regs: Uint8Array, offset: number) =>
          new DataView(regs.buffer, regs.byteOffset, regs.byteLength).getUint32(offset, true);
        expect(reg(state.regs, 0x20) >>> 24).toBe(2);
        expect(reg(state.regs, 0x30) & 0xff).toBe(0x14);
        const regs = state.regs.slice();
        const view = new DataView(regs.buffer);
        view.setUint32(0x80, 0x30, true);
        view.setUint32(0xf0, 0x1ff, true);
        vcpu.setLapic({ regs });
        const got = vcpu.getLapic().regs;
        expect(reg(got, 0x80)).toBe(0x30);
        expect(reg(got, 0xf0)).toBe(0x1ff);
      },
    },
    {
      id: 'lapic.without-irqchip',
      title: 'KVM_GET_LAPIC and KVM_SET_LAPIC without an in-kernel irqchip are EINVAL',
      source: 'kvm_arch_vcpu_ioctl in arch/x86/kvm/x86.c (!lapic_in_kernel)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = vcpuOnly(context);
        expectKvmError(() => vcpu.getLapic(), 'EINVAL');
        expectKvmError(() => vcpu.setLapic({ regs: new Uint8Array(1024) }), 'EINVAL');
      },
    },
  ],
};
