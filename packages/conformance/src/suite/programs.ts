import { IoDirection, type KvmExit } from '@kvm-ts/core';
import { expect } from 'vitest';
import {
  cpuidProbe,
  longMode,
  protectedMode,
  realMode,
  repString,
  tripleFaultLong,
  tripleFaultReal,
} from '../guests/generated.js';
import { symbol } from '../guests/program.js';
import { Layout, Port } from '../layout.js';
import { describeExit, type ExitSnapshot, runExpecting, runUntil } from '../setup/run.js';
import {
  completeIn,
  completeMmioRead,
  expectHlt,
  expectKvmError,
  expectMmioWrite,
  expectOut,
} from './assertions.js';
import type { CaseGroup } from './case.js';

const ASCII = new TextEncoder();

function ioBytes(exits: readonly ExitSnapshot[]): number[] {
  return exits.flatMap((e) => (e.reason === 'io' ? Array.from(e.data) : []));
}

/** Real mode, protected mode and long mode programs that end in IO, MMIO, HLT and SHUTDOWN exits. */
export const programCases: CaseGroup = {
  name: 'guest programs',
  cases: [
    {
      id: 'guest.real-mode',
      title: 'real mode: OUT, IN completed by the VMM, MMIO write, MMIO read completed by the VMM, HLT',
      source: 'api.rst 5 (kvm_run io and mmio: completed on the next KVM_RUN)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'real', guest: realMode });
        expectOut(vcpu, Port.OUT, 1, 0x5a);
        completeIn(vcpu, Port.IN, 2, 0xa55a);
        expectOut(vcpu, Port.ECHO, 2, 0xa55a);
        expectMmioWrite(vcpu, Layout.MMIO_ADDR, 2, 0xbeef);
        completeMmioRead(vcpu, Layout.MMIO_ADDR + 8, 2, 0x4321);
        expectOut(vcpu, Port.ECHO, 2, 0x4321);
        expectHlt(vcpu);
        expect(vcpu.getRegs().rip).toBe(BigInt(symbol(realMode, 'done') + 1));
      },
    },
    {
      id: 'guest.protected-mode',
      title: '32-bit protected mode with flat segments: 4-byte IO and MMIO, completed reads, HLT',
      source: 'api.rst 5; Intel SDM Vol. 3A 3.4 (segment caches loaded by KVM_SET_SREGS)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'protected', guest: protectedMode });
        expectOut(vcpu, Port.OUT, 4, 0x1234_5678);
        completeIn(vcpu, Port.IN, 4, 0x89ab_cdef);
        expectOut(vcpu, Port.ECHO, 4, 0x89ab_cdef);
        expectMmioWrite(vcpu, Layout.MMIO_ADDR, 4, 0xdead_beef);
        completeMmioRead(vcpu, Layout.MMIO_ADDR + 8, 4, 0x0f1e_2d3c);
        expectOut(vcpu, Port.ECHO, 4, 0x0f1e_2d3c);
        expectHlt(vcpu);
      },
    },
    {
      id: 'guest.long-mode',
      title: '64-bit long mode with paging: 64-bit registers, an aliased mapping, 8-byte MMIO, HLT',
      source: 'AMD APM Vol. 2 14.6; api.rst 4.46 (long mode needs CPUID from KVM_GET_SUPPORTED_CPUID)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'long', guest: longMode });
        expectOut(vcpu, Port.OUT, 4, 0x1122_3344);
        expectOut(vcpu, Port.ECHO, 4, 0x600d_cafe);
        completeIn(vcpu, Port.IN, 4, 0x7654_3210);
        expectOut(vcpu, Port.ECHO, 4, 0x7654_3210);
        expectMmioWrite(vcpu, Layout.MMIO_ADDR, 8, 0x0102_0304_0506_0708n);
        completeMmioRead(vcpu, Layout.MMIO_ADDR + 8, 8, 0xa1b2_c3d4_e5f6_0718n);
        expectOut(vcpu, Port.ECHO, 4, 0xe5f6_0718);
        expectOut(vcpu, Port.ECHO, 4, 0xa1b2_c3d4);
        expectHlt(vcpu);
        const sregs = vcpu.getSregs();
        expect(sregs.efer & 0x500n).toBe(0x500n);
        expect(sregs.cs.l).toBe(1);
      },
    },
    {
      id: 'guest.rep-string',
      title:
        'rep outs gives one exit per item, rep ins one exit for all CX items, and the guest sees what came in',
      source:
        'api.rst 5 (io.count items of io.size bytes at data_offset); arch/x86/kvm/emulate.c: em_out passes count 1, ' +
        'emulator_pio_in_emulated reads ahead min(CX, page, 1024 bytes)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu, ram } = context.machine({ mode: 'real', guest: repString });
        const message = Array.from(ASCII.encode('kvm-ts'));
        const isStringOut = (e: KvmExit) => e.reason === 'io' && e.port === Port.STRING;
        const outs = runUntil(vcpu, (e) => !isStringOut(e));
        const last = outs.pop();
        expect(last?.reason === 'io' && last.port, last && describeExit(last)).toBe(Port.DONE);
        expect(outs.map((e) => (e.reason === 'io' ? [e.direction, e.size, e.count] : e.reason))).toEqual(
          message.map(() => [IoDirection.OUT, 1, 1]),
        );
        expect(ioBytes(outs)).toEqual(message);

        const count = symbol(repString, 'IN_COUNT');
        const input = runExpecting(vcpu, 'io');
        expect([input.direction, input.port, input.size, input.count], describeExit(input)).toEqual([
          IoDirection.IN,
          Port.STRING,
          1,
          count,
        ]);
        input.data.set([0x31, 0x32, 0x33, 0x34, 0x35]);
        const echoes = runUntil(vcpu, (e) => e.reason !== 'io' || e.port !== Port.ECHO);
        expect(echoes.pop()?.reason).toBe('io');
        expect(echoes).toHaveLength(count);
        expect(ioBytes(echoes)).toEqual([0x31, 0x32, 0x33, 0x34, 0x35]);
        expect(Array.from(ram.subarray(Layout.DATA_ADDR, Layout.DATA_ADDR + count))).toEqual([
          0x31, 0x32, 0x33, 0x34, 0x35,
        ]);

        const words = symbol(repString, 'WORD_COUNT');
        const wordInput = runExpecting(vcpu, 'io');
        expect([wordInput.direction, wordInput.size, wordInput.count], describeExit(wordInput)).toEqual([
          IoDirection.IN,
          2,
          words,
        ]);
        expect(wordInput.data.length).toBeGreaterThanOrEqual(2 * words);
        wordInput.data.set([0xa1, 0xa2, 0xb1, 0xb2, 0xc1, 0xc2]);
        const wordEchoes = runUntil(vcpu, (e) => e.reason !== 'io' || e.port !== Port.ECHO);
        expect(wordEchoes.pop()?.reason).toBe('hlt');
        expect(wordEchoes.map((e) => (e.reason === 'io' ? [e.size, e.count] : e.reason))).toEqual([
          [2, 1],
          [2, 1],
          [2, 1],
        ]);
        expect(ioBytes(wordEchoes)).toEqual([0xa1, 0xa2, 0xb1, 0xb2, 0xc1, 0xc2]);
      },
    },
    {
      id: 'guest.long-mode-triple-fault',
      title: 'long mode: #UD with an empty IDT escalates to a triple fault, KVM_EXIT_SHUTDOWN',
      source: 'Intel SDM Vol. 3A 6.15 (#DF, shutdown); api.rst 5 (KVM_EXIT_SHUTDOWN)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'long', guest: tripleFaultLong });
        runExpecting(vcpu, 'shutdown');
      },
    },
    {
      id: 'guest.real-mode-triple-fault',
      title: 'real mode: #UD with an IVT limit of 0 escalates to a triple fault, KVM_EXIT_SHUTDOWN',
      source: 'Intel SDM Vol. 3A 20.1.4 (real-mode IDT limit) and 6.15; api.rst 5 (KVM_EXIT_SHUTDOWN)',
      checkedOn: ['kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'real', guest: tripleFaultReal });
        runExpecting(vcpu, 'shutdown');
      },
    },
    {
      id: 'cpuid.guest-sees-set-leaves',
      title:
        'KVM_SET_CPUID2 leaves come back from KVM_GET_CPUID2 and the guest CPUID instruction returns them',
      source: 'api.rst 4.73 (KVM_SET_CPUID2), 4.x (KVM_GET_CPUID2); kvm_emulate_cpuid',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'protected', guest: cpuidProbe });
        const leaf0 = {
          function: 0,
          index: 0,
          flags: 0,
          eax: 1,
          ebx: 0x6b76_6d74,
          ecx: 0x2d74_7321,
          edx: 0x7465_7374,
        };
        const leaf1 = { function: 1, index: 0, flags: 0, eax: 0x0006_0f01, ebx: 0, ecx: 0, edx: 0x0000_0001 };
        vcpu.setCpuid2([leaf0, leaf1]);
        const got = vcpu.getCpuid2();
        expect(got.find((e) => e.function === 0 && e.index === 0)).toEqual(leaf0);
        expect(got.find((e) => e.function === 1 && e.index === 0)?.eax).toBe(leaf1.eax);
        for (const value of [leaf0.eax, leaf0.ebx, leaf0.ecx, leaf0.edx])
          expectOut(vcpu, Port.ECHO, 4, value);
        expectHlt(vcpu);
      },
    },
    {
      id: 'cpuid.get-returns-the-set-leaves',
      title:
        'KVM_GET_CPUID2 returns exactly the leaves KVM_SET_CPUID2 set: a short list, and the supported list',
      source:
        'api.rst 4.73 (KVM_SET_CPUID2) and KVM_GET_CPUID2; KVM may adjust values (OSXSAVE, APIC id), not leaves',
      checkedOn: ['kvm_amd'],
      run(context) {
        const vm = context.kvm.createVm();
        context.defer(() => vm.close());
        const key = (e: { function: number; index: number }) => `${e.function.toString(16)}:${e.index}`;
        const short = vm.createVcpu(0);
        const leaves = [
          { function: 0, index: 0, flags: 0, eax: 1, ebx: 0, ecx: 0, edx: 0 },
          { function: 1, index: 0, flags: 0, eax: 0x0006_0f01, ebx: 0, ecx: 0, edx: 1 },
        ];
        short.setCpuid2(leaves);
        expect(short.getCpuid2().map(key)).toEqual(leaves.map(key));
        const full = vm.createVcpu(1);
        const supported = context.kvm.getSupportedCpuid();
        full.setCpuid2(supported);
        const got = full.getCpuid2();
        expect(got.map(key).sort()).toEqual(supported.map(key).sort());
        expect(got.find((e) => e.function === 0)).toEqual(supported.find((e) => e.function === 0));
      },
    },
    {
      id: 'cpuid.set-different-after-run',
      title: 'after KVM_RUN, KVM_SET_CPUID2 with different leaves is EINVAL',
      source: 'api.rst 4.73 ("KVM_SET_CPUID2 after KVM_RUN ... only with identical data"); kvm_set_cpuid',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'protected', guest: cpuidProbe, supportedCpuid: true });
        runExpecting(vcpu, 'io');
        const changed = context.kvm
          .getSupportedCpuid()
          .map((e) => (e.function === 0 ? { ...e, ebx: e.ebx ^ 1 } : e));
        expectKvmError(() => vcpu.setCpuid2(changed), 'EINVAL');
      },
    },
    {
      id: 'cpuid.set-same-after-run',
      title: 'after KVM_RUN, KVM_SET_CPUID2 repeating the KVM_GET_SUPPORTED_CPUID list it had is accepted',
      source: 'api.rst 4.73; kvm_set_cpuid (kvm_cpuid_check_equal); measured 0 on Linux 6.1 kvm_amd',
      checkedOn: ['kvm_amd'],
      run(context) {
        const { vcpu } = context.machine({ mode: 'protected', guest: cpuidProbe, supportedCpuid: true });
        runExpecting(vcpu, 'io');
        const again = context.kvm.getSupportedCpuid();
        const errno = context.deviation?.alternative?.errno;
        if (errno) expectKvmError(() => vcpu.setCpuid2(again), errno);
        else vcpu.setCpuid2(again);
      },
    },
  ],
};
