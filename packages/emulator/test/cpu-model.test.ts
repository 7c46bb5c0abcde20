/**
 * The MSRs that describe the emulated CPU (src/cpu/msr.ts), as KVM keeps them: IA32_ARCH_CAPABILITIES, offered
 * in CPUID leaf 7 and read-only for the guest (a VMM may report fewer bits), and the microcode revision, which
 * a guest's write leaves as it was.
 */
import { createMachine, type Machine } from '@kvm-ts/conformance';
import type { Kvm } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ARCH_CAPABILITIES, Msr } from '../src/cpu/msr.js';
import { backend } from '../src/index.js';

const CODE = 0x30000;
/** MOV ECX, imm32. */
const movEcx = (v: number) => [0xb9, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];
const RDMSR = [0x0f, 0x32];
const WRMSR = [0x0f, 0x30];
/** XOR EAX, EAX; XOR EDX, EDX. */
const ZERO_EDX_EAX = [0x31, 0xc0, 0x31, 0xd2];
const HLT = [0xf4];

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('CPU model tests');
});
afterEach(() => kvm.close());

/** Runs `code` from CODE in long mode (no IDT: a fault ends in shutdown) and returns the exit's reason. */
function run(m: Machine, code: number[]): string {
  m.ram.set(code, CODE);
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: BigInt(CODE), rsp: 0x8000n, rflags: 2n });
  return m.vcpu.run().reason;
}

describe('the CPU model MSRs', () => {
  it('IA32_ARCH_CAPABILITIES: in CPUID leaf 7, readable by the guest, and its writes fault', () => {
    const leaf7 = kvm.getSupportedCpuid().find((e) => e.function === 7 && e.index === 0);
    expect((leaf7?.edx ?? 0) & (1 << 29)).not.toBe(0);
    using m = createMachine(kvm, { mode: 'long' });
    // RDMSR into R8 (low half) and R9 (high half).
    expect(
      run(m, [...movEcx(Msr.ARCH_CAPABILITIES), ...RDMSR, 0x49, 0x89, 0xc0, 0x49, 0x89, 0xd1, ...HLT]),
    ).toBe('hlt');
    const regs = m.vcpu.getRegs();
    expect((regs.r9 << 32n) | regs.r8).toBe(ARCH_CAPABILITIES);
    // RDCL_NO, MDS_NO and ITS_NO: what keeps Linux from page-table isolation, VERW and return thunks.
    expect(ARCH_CAPABILITIES & ((1n << 0n) | (1n << 5n) | (1n << 62n))).toBe(
      (1n << 0n) | (1n << 5n) | (1n << 62n),
    );
    expect(run(m, [...movEcx(Msr.ARCH_CAPABILITIES), ...ZERO_EDX_EAX, ...WRMSR, ...HLT])).toBe('shutdown');
    expect(m.vcpu.getMsrs([Msr.ARCH_CAPABILITIES])).toEqual([
      { index: Msr.ARCH_CAPABILITIES, data: ARCH_CAPABILITIES },
    ]);
  });

  it('IA32_ARCH_CAPABILITIES: a guest whose CPUID does not offer it faults on RDMSR; the VMM still reads it', () => {
    using m = createMachine(kvm, { mode: 'long' });
    const cpuid = kvm
      .getSupportedCpuid()
      .map((e) => (e.function === 7 ? { ...e, edx: e.edx & ~(1 << 29) } : e));
    m.vcpu.setCpuid2(cpuid);
    expect(run(m, [...movEcx(Msr.ARCH_CAPABILITIES), ...RDMSR, ...HLT])).toBe('shutdown');
    expect(m.vcpu.getMsrs([Msr.ARCH_CAPABILITIES])[0]?.data).toBe(ARCH_CAPABILITIES);
  });

  it('IA32_ARCH_CAPABILITIES: the VMM may report fewer bits, never more', () => {
    using m = createMachine(kvm, { mode: 'long' });
    expect(m.vcpu.setMsrs([{ index: Msr.ARCH_CAPABILITIES, data: 1n }])).toBe(1);
    expect(m.vcpu.getMsrs([Msr.ARCH_CAPABILITIES])[0]?.data).toBe(1n);
    // IBRS_ALL (bit 1): enhanced IBRS, which the emulator does not have.
    expect(m.vcpu.setMsrs([{ index: Msr.ARCH_CAPABILITIES, data: 2n }])).toBe(0);
    expect(m.vcpu.getMsrs([Msr.ARCH_CAPABILITIES])[0]?.data).toBe(1n);
    expect(kvm.getMsrIndexList()).toContain(Msr.ARCH_CAPABILITIES);
  });

  it('the microcode revision: 1 until the VMM sets one; the guest may write it, which changes nothing', () => {
    using m = createMachine(kvm, { mode: 'long' });
    expect(m.vcpu.getMsrs([Msr.UCODE_REV])[0]?.data).toBe(0x1_0000_0000n);
    // What Linux does: WRMSR 0, CPUID, RDMSR.
    expect(run(m, [...movEcx(Msr.UCODE_REV), ...ZERO_EDX_EAX, ...WRMSR, ...RDMSR, ...HLT])).toBe('hlt');
    const regs = m.vcpu.getRegs();
    expect(regs.rdx).toBe(1n);
    expect(regs.rax).toBe(0n);
    expect(m.vcpu.setMsrs([{ index: Msr.UCODE_REV, data: 0x2a_0000_0000n }])).toBe(1);
    expect(run(m, [...movEcx(Msr.UCODE_REV), ...RDMSR, ...HLT])).toBe('hlt');
    expect(m.vcpu.getRegs().rdx).toBe(0x2an);
    expect(kvm.getMsrIndexList()).toContain(Msr.UCODE_REV);
  });
});
