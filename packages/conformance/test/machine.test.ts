import type { GuestMemory, Kvm, KvmCpuidEntry2, KvmSregs, Vcpu, Vm } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { realMode } from '../src/guests/generated.js';
import { Layout } from '../src/layout.js';
import { CpuBit } from '../src/setup/cpu-modes.js';
import { createMachine } from '../src/setup/machine.js';

/** A Kvm stand-in that records the calls createMachine makes, in order, and fails where told. */
function recordingKvm(failAt?: string) {
  const calls: string[] = [];
  const record = (name: string) => {
    calls.push(name);
    if (name === failAt) throw new Error(`${name} refused`);
  };
  const sregs = { cr0: 0x6000_0010n, cr4: 0n, efer: 0n } as KvmSregs;
  let lastSregs: KvmSregs | undefined;
  const supported: KvmCpuidEntry2[] = [{ function: 0, index: 0, flags: 0, eax: 1, ebx: 0, ecx: 0, edx: 0 }];
  const bytes = new Uint8Array(Layout.RAM_SIZE);
  const memory: GuestMemory = {
    bytes,
    size: bytes.length,
    close: () => record('memory.close'),
    [Symbol.dispose]: () => record('memory.close'),
  };
  const vcpu = {
    setCpuid2: () => record('vcpu.setCpuid2'),
    getSregs: () => sregs,
    setSregs: (s: KvmSregs) => {
      lastSregs = s;
      record('vcpu.setSregs');
    },
    setRegs: () => record('vcpu.setRegs'),
  } as unknown as Vcpu;
  const vm = {
    createMemory: () => memory,
    setUserMemoryRegion: () => record('vm.setUserMemoryRegion'),
    createIrqchip: () => record('vm.createIrqchip'),
    createVcpu: () => {
      record('vm.createVcpu');
      return vcpu;
    },
    close: () => record('vm.close'),
  } as unknown as Vm;
  const kvm = { createVm: () => vm, getSupportedCpuid: () => supported } as unknown as Kvm;
  return { kvm, calls, bytes, sregs: () => lastSregs };
}

describe('createMachine', () => {
  it('maps RAM, creates the irqchip before the vCPU, and loads the guest at its address', () => {
    const { kvm, calls, bytes } = recordingKvm();
    const machine = createMachine(kvm, { mode: 'real', guest: realMode, irqchip: true });
    expect(calls).toEqual([
      'vm.setUserMemoryRegion',
      'vm.createIrqchip',
      'vm.createVcpu',
      'vcpu.setSregs',
      'vcpu.setRegs',
    ]);
    expect(
      Array.from(bytes.subarray(realMode.loadAddress, realMode.loadAddress + realMode.bytes.length)),
    ).toEqual(Array.from(realMode.bytes));
    machine.close();
    expect(calls.slice(-2)).toEqual(['vm.close', 'memory.close']);
  });

  it('sets CPUID before the long-mode special registers, which KVM checks EFER.LME against', () => {
    const { kvm, calls, sregs } = recordingKvm();
    const machine = createMachine(kvm, { mode: 'long' });
    expect(calls.indexOf('vcpu.setCpuid2')).toBeLessThan(calls.indexOf('vcpu.setSregs'));
    expect(sregs()?.efer).toBe(CpuBit.EFER_LME | CpuBit.EFER_LMA);
    expect(sregs()?.cr3).toBe(BigInt(machine.pageTables?.pml4 ?? -1));
  });

  it('closes the VM and the memory when a step fails', () => {
    const { kvm, calls } = recordingKvm('vm.createVcpu');
    expect(() => createMachine(kvm, { mode: 'protected' })).toThrow('vm.createVcpu refused');
    expect(calls.slice(-2)).toEqual(['vm.close', 'memory.close']);
  });
});
