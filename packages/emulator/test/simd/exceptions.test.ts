/**
 * Which fault an x87, MMX or SSE instruction raises under each CR0/CR4 setting (SDM Vol. 3A Table 2-2 and
 * 12.1.3, Vol. 1 11.6.6), unmasked SIMD and x87 exceptions (#XM, #UD without OSXMMEXCPT, #MF at the next
 * waiting instruction), and 16-byte alignment of legacy SSE memory operands. Each guest has an IDT whose
 * handlers report the vector (guest.ts).
 */
import type { Kvm } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backend } from '../../src/index.js';
import { CR4_OSFXSR, CR4_OSXMMEXCPT, DATA, faultOf, type Guest, hexBytes, sseGuest, X } from './guest.js';

const CR0_MP = 0x2n;
const CR0_EM = 0x4n;
const CR0_TS = 0x8n;
const CR0_NE = 0x20n;
const UD = 6;
const NM = 7;
const GP = 13;
const MF = 16;
const XM = 19;

let kvm: Kvm;
let g: Guest;
beforeEach(() => {
  kvm = backend.open('x87/SSE exception tests');
  g = sseGuest(kvm);
  g.withIdt();
});
afterEach(() => {
  g.machine.close();
  kvm.close();
});

/** Runs `code` with RBX = DATA and returns the fault vector (-1 for none). */
function fault(code: string): number {
  const r = g.run(hexBytes(code), { rbx: BigInt(DATA) });
  expect(r.reason).toBe('hlt');
  return faultOf(r);
}

const SSE = '0F 58 C1'; // addps xmm0, xmm1
const MMX = '0F FC C1'; // paddb mm0, mm1
const X87 = 'D9 E8'; // fld1
const FXSAVE = '0F AE 03'; // fxsave [rbx]
const FWAIT = '9B';

describe('CR0 and CR4 decide #UD and #NM', () => {
  it('SSE: #UD without CR4.OSFXSR or with CR0.EM, #NM with CR0.TS, else runs', () => {
    expect(fault(SSE)).toBe(-1);
    g.setCr(0n, 0n, 0n);
    expect(fault(SSE)).toBe(UD);
    g.setCr(CR0_EM, 0n);
    expect(fault(SSE)).toBe(UD);
    g.setCr(CR0_TS, CR0_EM);
    expect(fault(SSE)).toBe(NM);
  });

  it('MMX: #UD with CR0.EM, #NM with CR0.TS; OSFXSR does not matter', () => {
    g.setCr(0n, 0n, 0n);
    expect(fault(MMX)).toBe(-1);
    g.setCr(CR0_EM, 0n);
    expect(fault(MMX)).toBe(UD);
    g.setCr(CR0_TS, CR0_EM);
    expect(fault(MMX)).toBe(NM);
  });

  it('x87: #NM with CR0.EM or CR0.TS', () => {
    expect(fault(X87)).toBe(-1);
    g.setCr(CR0_EM, 0n);
    expect(fault(X87)).toBe(NM);
    g.setCr(CR0_TS, CR0_EM);
    expect(fault(X87)).toBe(NM);
  });

  it('WAIT: #NM only when CR0.TS and CR0.MP are both set', () => {
    g.setCr(CR0_TS, CR0_MP);
    expect(fault(FWAIT)).toBe(-1);
    g.setCr(CR0_TS | CR0_MP, 0n);
    expect(fault(FWAIT)).toBe(NM);
    g.setCr(CR0_MP, CR0_TS);
    expect(fault(FWAIT)).toBe(-1);
  });

  it('FXSAVE: #NM with CR0.TS or CR0.EM; CLTS (0F 06) clears TS so it runs', () => {
    g.setCr(CR0_TS, 0n);
    expect(fault(FXSAVE)).toBe(NM);
    expect(fault(`0F 06 ${FXSAVE}`)).toBe(-1);
    g.setCr(CR0_EM, CR0_TS);
    expect(fault(FXSAVE)).toBe(NM);
  });
});

describe('unmasked exceptions', () => {
  it('an unmasked SIMD divide-by-zero is #XM with OSXMMEXCPT, #UD without; the flag is set, xmm0 unchanged', () => {
    const mxcsr = 0x1f80 & ~0x200; // ZM clear
    g.ram.set([mxcsr & 0xff, mxcsr >> 8, 0, 0], DATA);
    g.setXmm(0, new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer));
    g.setXmm(1, new Uint8Array(new Float32Array([1, 1, 0, 1]).buffer));
    // ldmxcsr [rbx]; divps xmm0, xmm1
    expect(fault('0F AE 13 0F 5E C1')).toBe(XM);
    expect(new Float32Array(g.xmm(0).buffer)).toEqual(new Float32Array([1, 2, 3, 4]));
    const x = new DataView(g.xsave().buffer);
    expect(x.getUint32(X.MXCSR, true) & 0x3f).toBe(0x4);
    g.setCr(0n, 0n, CR4_OSFXSR);
    expect(fault('0F AE 13 0F 5E C1')).toBe(UD);
    g.setCr(0n, 0n, CR4_OSFXSR | CR4_OSXMMEXCPT);
  });

  it('an unmasked x87 divide-by-zero sets FSW.ES and leaves ST(0); the next waiting instruction raises #MF', () => {
    g.setCr(CR0_NE, 0n);
    g.ram.set([0x7b, 0x03], DATA); // FCW 037BH: ZM clear
    // fninit; fldcw [rbx]; fldz; fld1; fdiv st0, st1
    expect(fault('DB E3 D9 2B D9 EE D9 E8 D8 F1')).toBe(-1);
    const x = new DataView(g.xsave().buffer);
    const fsw = x.getUint16(X.FSW, true);
    expect(fsw & 0x84).toBe(0x84); // ES and ZE
    // ST(0) still holds 1.0 (significand 8000000000000000H, exponent 3FFFH).
    expect(x.getUint16(X.ST0 + 8, true)).toBe(0x3fff);
    expect(fault(FWAIT)).toBe(MF);
    // The no-wait FNCLEX clears it; then FWAIT runs.
    expect(fault(`DB E2 ${FWAIT}`)).toBe(-1);
  });
});

describe('alignment of legacy SSE memory operands', () => {
  it('MOVAPS and PADDB with a misaligned m128 are #GP(0); MOVUPS, MOVDQU and LDDQU are not', () => {
    const aligned = { rbx: BigInt(DATA) };
    const misaligned = { rbx: BigInt(DATA + 8) };
    const cases: [string, boolean][] = [
      ['0F 28 03', true], // movaps xmm0, [rbx]
      ['66 0F FC 03', true], // paddb xmm0, [rbx]
      ['0F 10 03', false], // movups xmm0, [rbx]
      ['F3 0F 6F 03', false], // movdqu xmm0, [rbx]
      ['F2 0F F0 03', false], // lddqu xmm0, [rbx]
      ['F3 0F 58 03', false], // addss xmm0, [rbx]: 4 bytes
    ];
    for (const [code, strict] of cases) {
      expect(faultOf(g.run(hexBytes(code), aligned))).toBe(-1);
      const r = g.run(hexBytes(code), misaligned);
      expect([code, faultOf(r)]).toEqual([code, strict ? GP : -1]);
    }
  });
});

describe('fences, prefetches and CLFLUSH', () => {
  it('LFENCE, MFENCE, SFENCE and PREFETCHh run; CLFLUSH checks its address like a load (#GP non-canonical)', () => {
    // lfence; mfence; sfence; prefetcht0 [rbx]; prefetchnta [rbx]; clflush [rbx]
    expect(fault('0F AE E8 0F AE F0 0F AE F8 0F 18 0B 0F 18 03 0F AE 3B')).toBe(-1);
    const r = g.run(hexBytes('0F AE 3B'), { rbx: 0x8000_0000_0000_0000n });
    expect(faultOf(r)).toBe(GP);
    // A mandatory prefix makes group 15 something this CPU does not offer (66: CLFLUSHOPT/CLWB; F3: RDFSBASE).
    expect(fault('66 0F AE 3B')).toBe(UD);
    expect(fault('F3 0F AE C0')).toBe(UD);
  });
});
