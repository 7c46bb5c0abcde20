import { KVM_REGS_FIELDS, type KvmRegs, type Vcpu } from '@kvm-ts/core';
import { requireInRam } from './check.js';
import { sregsFor } from './cpu-modes.js';
import type { BootPlan, LoadContext } from './plan.js';

/** RFLAGS with only the always-one bit 1 set: interrupts off, as every boot protocol here wants. */
const RFLAGS_RESERVED = 0x2n;

/**
 * Puts a loader's plan into guest RAM (`ram` is the block mapped at guest-physical 0) and sets the vCPU's
 * registers through KVM_SET_SREGS and KVM_SET_REGS. Every write is checked against RAM again, so a plan
 * built by hand cannot write outside it.
 */
export function applyBootPlan(plan: BootPlan, ram: Uint8Array, vcpu: Vcpu, file: string): void {
  const ctx: LoadContext = { file, ramSize: ram.length };
  for (const zero of plan.zeros) {
    requireInRam(ctx, zero.addr, zero.size, zero.what);
  }
  for (const write of plan.writes) {
    requireInRam(ctx, write.addr, write.bytes.length, write.what);
  }
  for (const zero of plan.zeros) ram.fill(0, zero.addr, zero.addr + zero.size);
  for (const write of plan.writes) ram.set(write.bytes, write.addr);

  vcpu.setSregs(sregsFor(plan.cpu.mode, vcpu.getSregs()));
  const regs = Object.fromEntries(KVM_REGS_FIELDS.map((name) => [name, 0n])) as unknown as KvmRegs;
  Object.assign(regs, plan.cpu.regs);
  regs.rip = BigInt(plan.cpu.entry);
  regs.rflags = RFLAGS_RESERVED;
  vcpu.setRegs(regs);
}
