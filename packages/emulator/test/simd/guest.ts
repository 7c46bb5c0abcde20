/**
 * A 64-bit guest for the x87/SSE tests: flat long mode (the conformance suite's machine), CR4.OSFXSR and
 * OSXMMEXCPT set as an OS that uses SSE sets them, code at CODE and data at DATA, run to HLT. XMM and x87
 * state are set and read through KVM_SET/GET_XSAVE, the API a VMM uses.
 */
import type { Kvm, KvmRegs, Vcpu } from '@kvm-ts/core';
import { createMachine, type Machine } from '@kvm-ts/conformance';

/** Where test code and data sit in guest memory. */
export const CODE = 0x20000;
export const DATA = 0x30000;

/** CR4 bits an SSE-using OS sets (SDM Vol. 3A 2.5). */
export const CR4_OSFXSR = 0x200n;
export const CR4_OSXMMEXCPT = 0x400n;
export const CR4_OSXSAVE = 0x40000n;

/** XSAVE image offsets (SDM Vol. 1 Table 10-2). */
export const X = { FCW: 0, FSW: 2, FTW: 4, MXCSR: 24, ST0: 32, XMM0: 160, XSTATE_BV: 512 } as const;

export interface Guest {
  machine: Machine;
  vcpu: Vcpu;
  ram: Uint8Array;
  /** Runs `code` (then HLT) with `regs` and returns the exit reason and the registers after. */
  run(code: Uint8Array | number[], regs?: Partial<KvmRegs>): { reason: string; regs: KvmRegs };
  /** XMM register n after the last run, as 16 bytes. */
  xmm(n: number): Uint8Array;
  setXmm(n: number, bytes: Uint8Array | number[]): void;
  xsave(): Uint8Array;
  setCr(cr0Set?: bigint, cr0Clear?: bigint, cr4?: bigint): void;
}

/** A long-mode guest with SSE enabled (`cr4` replaces the SSE bits when given). */
export function sseGuest(kvm: Kvm, cr4: bigint = CR4_OSFXSR | CR4_OSXMMEXCPT): Guest {
  const machine = createMachine(kvm, { mode: 'long' });
  const { vcpu, ram } = machine;
  const g: Guest = {
    machine,
    vcpu,
    ram,
    run(code, regs = {}) {
      ram.fill(0, CODE, CODE + 256);
      ram.set(code, CODE);
      ram[CODE + code.length] = 0xf4;
      const r = vcpu.getRegs();
      Object.assign(r, regs);
      r.rip = BigInt(CODE);
      r.rsp = 0x8000n;
      vcpu.setRegs(r);
      const exit = vcpu.run();
      return { reason: exit.reason, regs: vcpu.getRegs() };
    },
    xmm(n) {
      return vcpu.getXsave().region.slice(X.XMM0 + 16 * n, X.XMM0 + 16 * n + 16);
    },
    setXmm(n, bytes) {
      const region = vcpu.getXsave().region.slice();
      region.set(bytes, X.XMM0 + 16 * n);
      region[X.XSTATE_BV] |= 3;
      vcpu.setXsave({ region });
    },
    xsave() {
      return vcpu.getXsave().region;
    },
    setCr(cr0Set = 0n, cr0Clear = 0n, cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT) {
      const s = vcpu.getSregs();
      s.cr0 = (s.cr0 | cr0Set) & ~cr0Clear;
      s.cr4 = (s.cr4 & ~(CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE)) | cr4;
      vcpu.setSregs(s);
    },
  };
  g.setCr(0n, 0n, cr4);
  return g;
}

/** Bytes from a hex string with spaces. */
export function hexBytes(s: string): number[] {
  return s
    .replace(/\s+/g, '')
    .match(/../g)!
    .map((h) => Number.parseInt(h, 16));
}
