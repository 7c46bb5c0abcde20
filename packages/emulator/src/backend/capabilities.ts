/**
 * KVM_CHECK_EXTENSION for the emulator: what it really implements, no more. The in-kernel irqchip, PIT and
 * MSI ioctls exist (their state round-trips) but the devices do not deliver interrupts yet, so IRQCHIP, PIT2
 * and their relatives answer 0 until they do.
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
  [Capability.GET_MSR_FEATURES, 1],
]);

/** The value KVM_CHECK_EXTENSION returns for `cap` on the emulator (0 when absent). */
export function checkCapability(cap: number): number {
  return CAPS.get(cap) ?? 0;
}
