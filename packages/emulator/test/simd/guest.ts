/**
 * A 64-bit guest for the x87/SSE tests: flat long mode (the conformance suite's machine), CR4.OSFXSR and
 * OSXMMEXCPT set as an OS that uses SSE sets them, code at CODE and data at DATA, run to HLT. XMM and x87
 * state are set and read through KVM_SET/GET_XSAVE, the API a VMM uses.
 */

import { createMachine, type Machine } from '@kvm-ts/conformance';
import type { Kvm, KvmRegs, Vcpu } from '@kvm-ts/core';

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
  /**
   * Installs a GDT and a 64-bit IDT whose handler for vector v does `mov eax, v; hlt`, so a run that faults
   * stops with HLT and RAX = the vector (the error code, if any, on the stack at RSP).
   */
  withIdt(): void;
}

const GDT = 0x37000;
const IDT = 0x38000;
const HANDLERS = 0x39000;

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
    withIdt() {
      const view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
      view.setBigUint64(GDT + 8, 0x00209a0000000000n, true);
      view.setBigUint64(GDT + 16, 0x00cf92000000ffffn, true);
      for (let v = 0; v < 256; v++) {
        const handler = HANDLERS + 16 * v;
        ram.set([0xb8, v, 0, 0, 0, 0xf4], handler); // mov eax, v; hlt
        const e = IDT + 16 * v;
        view.setUint16(e, handler & 0xffff, true);
        view.setUint16(e + 2, 0x08, true);
        view.setUint8(e + 4, 0);
        view.setUint8(e + 5, 0x8e);
        view.setUint16(e + 6, (handler >>> 16) & 0xffff, true);
        view.setUint32(e + 8, 0, true);
        view.setUint32(e + 12, 0, true);
      }
      const s = vcpu.getSregs();
      s.gdt = { base: BigInt(GDT), limit: 23 };
      s.idt = { base: BigInt(IDT), limit: 16 * 256 - 1 };
      vcpu.setSregs(s);
    },
  };
  g.setCr(0n, 0n, cr4);
  return g;
}

/** The vector a run faulted with (RAX from the IDT handler), or -1 when it reached the snippet's HLT. */
export function faultOf(result: { regs: KvmRegs }): number {
  const rip = Number(result.regs.rip);
  return rip >= HANDLERS && rip < HANDLERS + 16 * 256 ? Number(result.regs.rax & 0xffn) : -1;
}

/** Bytes from a hex string with spaces. */
export function hexBytes(s: string): number[] {
  return s
    .replace(/\s+/g, '')
    .match(/../g)!
    .map((h) => Number.parseInt(h, 16));
}
