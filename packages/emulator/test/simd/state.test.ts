/**
 * The x87/MMX/SSE state through the API and through the guest's own save instructions: KVM_SET/GET_FPU and
 * KVM_SET/GET_XSAVE see what the guest's instructions wrote and the guest sees what they set (the XSAVE image
 * is the live state); FXSAVE/FXRSTOR and XSAVE/XRSTOR with the legacy layout of SDM Vol. 1 Table 10-2 and
 * the header of 13.4.2; XGETBV/XSETBV and XCR0 through KVM_GET/SET_XCRS; CPUID's OSXSAVE bit.
 */
import type { Kvm } from '@kvm-ts/core';
import { KvmError } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backend } from '../../src/index.js';
import {
  CR4_OSFXSR,
  CR4_OSXMMEXCPT,
  CR4_OSXSAVE,
  DATA,
  faultOf,
  type Guest,
  hexBytes,
  sseGuest,
  X,
} from './guest.js';

const UD = 6;
const GP = 13;

let kvm: Kvm;
let g: Guest;
beforeEach(() => {
  kvm = backend.open('x87/SSE state tests');
  g = sseGuest(kvm);
  g.withIdt();
});
afterEach(() => {
  g.machine.close();
  kvm.close();
});

const pattern = (seed: number, n = 16) => Uint8Array.from({ length: n }, (_, k) => (seed + 7 * k) & 0xff);
const rbx = { rbx: BigInt(DATA) };

describe('KVM_GET/SET_FPU and the guest', () => {
  it('an XMM register set with KVM_SET_FPU is what the guest stores, and what it loads is in KVM_GET_FPU', () => {
    const fpu = g.vcpu.getFpu();
    fpu.xmm[3] = pattern(0x30);
    g.vcpu.setFpu(fpu);
    g.ram.set(pattern(0x90), DATA + 16);
    // movdqu [rbx], xmm3; movdqu xmm13, [rbx+16]
    const r = g.run(hexBytes('F3 0F 7F 1B F3 44 0F 6F 6B 10'), rbx);
    expect(faultOf(r)).toBe(-1);
    expect(Array.from(g.ram.subarray(DATA, DATA + 16))).toEqual(Array.from(pattern(0x30)));
    expect(Array.from(g.vcpu.getFpu().xmm[13])).toEqual(Array.from(pattern(0x90)));
  });

  it('FLD1 pushes 1.0 as an exact 80-bit value: ST(0) in fpr[0], TOP 7, one tag in use', () => {
    // fninit; fld1
    g.run(hexBytes('DB E3 D9 E8'));
    const fpu = g.vcpu.getFpu();
    expect(Array.from(fpu.fpr[0].subarray(0, 10))).toEqual([0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
    expect((fpu.fsw >> 11) & 7).toBe(7);
    expect(fpu.ftwx).toBe(0x80);
    expect(fpu.fcw).toBe(0x37f);
  });

  it('an MMX write is physical register n with exponent 1s; TOP goes to 0, all tagged; EMMS empties them', () => {
    g.ram.set(pattern(0x11, 8), DATA);
    // fninit; fld1 (TOP 7); movq mm2, [rbx]
    g.run(hexBytes('DB E3 D9 E8 0F 6F 13'), rbx);
    let fpu = g.vcpu.getFpu();
    expect(Array.from(fpu.fpr[2].subarray(0, 10))).toEqual([...pattern(0x11, 8), 0xff, 0xff]);
    // The 1.0 FLD1 left in physical register 7 is still there.
    expect(Array.from(fpu.fpr[7].subarray(7, 10))).toEqual([0x80, 0xff, 0x3f]);
    expect((fpu.fsw >> 11) & 7).toBe(0);
    expect(fpu.ftwx).toBe(0xff);
    g.run(hexBytes('0F 77'));
    fpu = g.vcpu.getFpu();
    expect(fpu.ftwx).toBe(0);
  });
});

describe('FXSAVE and FXRSTOR', () => {
  it('FXSAVE writes the legacy layout: FCW, FSW, FTW, MXCSR, MXCSR_MASK, ST0-7 and XMM0-15', () => {
    const fpu = g.vcpu.getFpu();
    fpu.xmm[15] = pattern(0x5a);
    g.vcpu.setFpu(fpu);
    g.ram.set([0x7f, 0x02], DATA + 0x300); // FCW 027FH
    g.ram.set([0x80, 0x3f, 0, 0], DATA + 0x304); // MXCSR 3F80H
    // fninit; fldcw [rbx+0x300]; ldmxcsr [rbx+0x304]; fldpi; fxsave64 [rbx]
    const r = g.run(hexBytes('DB E3 D9 AB 00 03 00 00 0F AE 93 04 03 00 00 D9 EB 48 0F AE 03'), rbx);
    expect(faultOf(r)).toBe(-1);
    const m = new DataView(g.ram.buffer, g.ram.byteOffset + DATA, 512);
    expect(m.getUint16(0, true)).toBe(0x27f);
    expect(m.getUint16(2, true)).toBe(0x3800); // TOP 7
    expect(m.getUint8(4)).toBe(0x80);
    expect(m.getUint32(24, true)).toBe(0x3f80);
    expect(m.getUint32(28, true)).toBe(0xffff);
    // pi as the x87 holds it: C90FDAA22168C235H, exponent 4000H.
    expect(m.getBigUint64(32, true)).toBe(0xc90fdaa22168c235n);
    expect(m.getUint16(40, true)).toBe(0x4000);
    expect(Array.from(g.ram.subarray(DATA + 160 + 15 * 16, DATA + 160 + 16 * 16))).toEqual(
      Array.from(pattern(0x5a)),
    );
    // The same bytes are the vCPU's XSAVE image.
    const x = g.xsave();
    expect(Array.from(x.subarray(0, 24))).toEqual(Array.from(g.ram.subarray(DATA, DATA + 24)));
    expect(Array.from(x.subarray(32, 416))).toEqual(Array.from(g.ram.subarray(DATA + 32, DATA + 416)));
  });

  it('FXRSTOR loads a saved image; a reserved MXCSR bit is #GP(0) and changes nothing', () => {
    // fxsave [rbx]; then change XMM1 and MXCSR in memory and restore.
    g.run(hexBytes('0F AE 03'), rbx);
    g.ram.set(pattern(0x77), DATA + 160 + 16);
    g.ram.set([0x80, 0x5f, 0, 0], DATA + 24); // MXCSR 5F80H: round down
    expect(faultOf(g.run(hexBytes('0F AE 0B'), rbx))).toBe(-1); // fxrstor [rbx]
    expect(Array.from(g.xmm(1))).toEqual(Array.from(pattern(0x77)));
    expect(new DataView(g.xsave().buffer).getUint32(X.MXCSR, true)).toBe(0x5f80);
    g.ram.set(pattern(0x10), DATA + 160 + 16);
    g.ram.set([0x80, 0x1f, 0x01, 0], DATA + 24); // bit 16 reserved
    expect(faultOf(g.run(hexBytes('0F AE 0B'), rbx))).toBe(GP);
    expect(Array.from(g.xmm(1))).toEqual(Array.from(pattern(0x77)));
  });

  it('FXSAVE needs a 16-byte aligned area', () => {
    expect(faultOf(g.run(hexBytes('0F AE 03'), { rbx: BigInt(DATA + 8) }))).toBe(GP);
  });
});

describe('XSAVE, XRSTOR, XGETBV, XSETBV', () => {
  it('without CR4.OSXSAVE they are #UD, and CPUID leaf 1 reports OSXSAVE clear', () => {
    expect(faultOf(g.run(hexBytes('0F 01 D0'), { rcx: 0n }))).toBe(UD); // xgetbv
    expect(faultOf(g.run(hexBytes('0F AE 23'), rbx))).toBe(UD); // xsave [rbx]
    const r = g.run(hexBytes('0F A2'), { rax: 1n, rcx: 0n });
    expect(Number(r.regs.rcx) & (1 << 26)).not.toBe(0); // XSAVE offered
    expect(Number(r.regs.rcx) & (1 << 27)).toBe(0);
  });

  it('with OSXSAVE: CPUID shows it, XGETBV reads XCR0, XSETBV writes it (KVM_GET_XCRS sees it), bad values are #GP', () => {
    g.setCr(0n, 0n, CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE);
    expect(Number(g.run(hexBytes('0F A2'), { rax: 1n, rcx: 0n }).regs.rcx) & (1 << 27)).not.toBe(0);
    expect(g.run(hexBytes('0F 01 D0'), { rcx: 0n, rax: -1n, rdx: -1n }).regs.rax).toBe(1n);
    expect(faultOf(g.run(hexBytes('0F 01 D1'), { rcx: 0n, rax: 3n, rdx: 0n }))).toBe(-1);
    expect(g.vcpu.getXcrs().xcrs[0].value).toBe(3n);
    const r = g.run(hexBytes('0F 01 D0'), { rcx: 0n });
    expect([r.regs.rax, r.regs.rdx]).toEqual([3n, 0n]);
    expect(faultOf(g.run(hexBytes('0F 01 D1'), { rcx: 0n, rax: 2n, rdx: 0n }))).toBe(GP); // no x87
    expect(faultOf(g.run(hexBytes('0F 01 D1'), { rcx: 0n, rax: 7n, rdx: 0n }))).toBe(GP); // AVX not offered
    expect(faultOf(g.run(hexBytes('0F 01 D1'), { rcx: 1n, rax: 3n, rdx: 0n }))).toBe(GP); // XCR1
    expect(faultOf(g.run(hexBytes('0F 01 D0'), { rcx: 1n }))).toBe(GP); // XGETBV ECX=1 not offered
    expect(g.vcpu.getXcrs().xcrs[0].value).toBe(3n);
  });

  it('XSAVE writes the requested components and XSTATE_BV; XRSTOR of a cleared XSTATE_BV bit initialises it', () => {
    g.setCr(0n, 0n, CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE);
    g.run(hexBytes('0F 01 D1'), { rcx: 0n, rax: 3n, rdx: 0n });
    g.setXmm(4, pattern(0x44));
    g.ram.fill(0xee, DATA, DATA + 576);
    g.ram.fill(0, DATA + 512, DATA + 576);
    // xsave [rbx] with EDX:EAX = 3
    expect(faultOf(g.run(hexBytes('0F AE 23'), { rbx: BigInt(DATA), rax: 3n, rdx: 0n }))).toBe(-1);
    const m = new DataView(g.ram.buffer, g.ram.byteOffset + DATA, 576);
    expect(m.getBigUint64(512, true)).toBe(3n);
    expect(Array.from(g.ram.subarray(DATA + 160 + 64, DATA + 160 + 80))).toEqual(Array.from(pattern(0x44)));
    // Only x87 requested (EAX = 1): the SSE part in memory stays as it was.
    g.ram.fill(0xee, DATA + 1024, DATA + 1024 + 512);
    g.ram.fill(0, DATA + 1024 + 512, DATA + 1024 + 576);
    g.run(hexBytes('0F AE 23'), { rbx: BigInt(DATA + 1024), rax: 1n, rdx: 0n });
    expect(g.ram[DATA + 1024 + 160 + 64]).toBe(0xee);
    expect(m.getBigUint64(512, true)).toBe(3n);
    // XRSTOR with XSTATE_BV = 1 and RFBM = 3: SSE goes to its initial state (XMM zero), MXCSR from memory.
    m.setBigUint64(512, 1n, true);
    expect(faultOf(g.run(hexBytes('0F AE 2B'), { rbx: BigInt(DATA), rax: 3n, rdx: 0n }))).toBe(-1);
    expect(Array.from(g.xmm(4))).toEqual(Array(16).fill(0));
    // A compacted-format header (XCOMP_BV set) or a misaligned area is #GP.
    m.setBigUint64(520, 1n << 63n, true);
    expect(faultOf(g.run(hexBytes('0F AE 2B'), { rbx: BigInt(DATA), rax: 3n, rdx: 0n }))).toBe(GP);
    expect(faultOf(g.run(hexBytes('0F AE 23'), { rbx: BigInt(DATA + 16), rax: 3n, rdx: 0n }))).toBe(GP);
  });

  it('KVM_SET_SREGS refuses CR4.OSXSAVE when the guest CPUID lacks XSAVE (EINVAL)', () => {
    const cpuid = kvm
      .getSupportedCpuid()
      .map((e) => (e.function === 1 ? { ...e, ecx: e.ecx & ~(1 << 26) } : e));
    g.vcpu.setCpuid2(cpuid);
    const s = g.vcpu.getSregs();
    s.cr4 |= CR4_OSXSAVE;
    expect(() => g.vcpu.setSregs(s)).toThrow(KvmError);
    expect(g.vcpu.getSregs().cr4 & CR4_OSXSAVE).toBe(0n);
  });
});

describe('KVM_GET_SUPPORTED_CPUID', () => {
  it('offers the x87, MMX and SSE features implemented, XSAVE for x87|SSE, and no AVX', () => {
    const leaves = kvm.getSupportedCpuid();
    const l1 = leaves.find((e) => e.function === 1)!;
    for (const bit of [0, 23, 24, 25, 26]) expect([bit, (l1.edx >>> bit) & 1]).toEqual([bit, 1]); // FPU MMX FXSR SSE SSE2
    for (const bit of [0, 9, 19, 20, 23, 26]) expect([bit, (l1.ecx >>> bit) & 1]).toEqual([bit, 1]); // SSE3..XSAVE
    for (const bit of [12, 27, 28, 29, 30]) expect([bit, (l1.ecx >>> bit) & 1]).toEqual([bit, 0]); // FMA OSXSAVE AVX F16C RDRAND
    const d0 = leaves.find((e) => e.function === 0xd && e.index === 0)!;
    expect(d0.eax).toBe(3);
    expect(d0.ebx).toBe(0x240);
  });
});
