/**
 * KVM_CHECK_EXTENSION for the emulator: what it implements. IRQCHIP, PIT2 and TSC_DEADLINE_TIMER are the
 * in-kernel devices of src/devices, wired to the CPU by in-kernel-devices.ts: they deliver interrupts, count
 * virtual time and decode their ports and MMIO pages inside KVM_RUN.
 */
import { Capability } from '@kvm-ts/core';
import { MAX_MEMSLOTS } from '../memory/slots.js';

const CAPS = new Map<number, number>([
  [Capability.HLT, 1],
  [Capability.USER_MEMORY, 1],
  [Capability.SET_TSS_ADDR, 1],
  [Capability.EXT_CPUID, 1],
  [Capability.EXT_EMUL_CPUID, 1],
  // Recommended vCPUs: the emulator runs every vCPU on the caller's one thread.
  [Capability.NR_VCPUS, 1],
  [Capability.MAX_VCPUS, 1024],
  [Capability.MAX_VCPU_ID, 4096],
  [Capability.NR_MEMSLOTS, MAX_MEMSLOTS],
  [Capability.MP_STATE, 1],
  [Capability.DESTROY_MEMORY_REGION_WORKS, 1],
  [Capability.JOIN_MEMORY_REGIONS_WORKS, 1],
  [Capability.USER_NMI, 1],
  [Capability.SET_GUEST_DEBUG, 1],
  [Capability.SET_IDENTITY_MAP_ADDR, 1],
  [Capability.ADJUST_CLOCK, 2],
  [Capability.VCPU_EVENTS, 1],
  [Capability.DEBUGREGS, 1],
  [Capability.X86_ROBUST_SINGLESTEP, 1],
  [Capability.ENABLE_CAP, 1],
  [Capability.XSAVE, 1],
  [Capability.XCRS, 1],
  [Capability.READONLY_MEM, 1],
  [Capability.CHECK_EXTENSION_VM, 1],
  [Capability.IMMEDIATE_EXIT, 1],
  [Capability.IRQCHIP, 1],
  [Capability.PIT2, 1],
  [Capability.PIT_STATE2, 1],
  [Capability.IRQ_ROUTING, 4096],
  [Capability.SIGNAL_MSI, 1],
  [Capability.TSC_DEADLINE_TIMER, 1],
]);

/** The value KVM_CHECK_EXTENSION returns for `cap` on the emulator (0 when absent). */
export function checkCapability(cap: number): number {
  return CAPS.get(cap) ?? 0;
}
