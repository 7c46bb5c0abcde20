/**
 * The register page of KVM's in-kernel local APIC (KVM_GET_LAPIC/KVM_SET_LAPIC), with the reset values of
 * `arch/x86/kvm/lapic.c` `kvm_lapic_reset` (checked on a real KVM). Timers and interrupt delivery are a later
 * piece of work: this keeps and returns the registers.
 */
import { KVM_APIC_REG_SIZE } from '@kvm-ts/core';

/** Register offsets used at reset (SDM Vol. 3A Table 11-1). */
const Reg = {
  ID: 0x20,
  VERSION: 0x30,
  DFR: 0xe0,
  SVR: 0xf0,
  LVT_TIMER: 0x320,
  LVT_THERMAL: 0x330,
  LVT_PMC: 0x340,
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
  LVT_ERROR: 0x370,
} as const;

/** A fresh APIC page for vCPU `id`; the BSP (id 0) routes LINT0 as ExtINT. */
export function resetLapic(id: number): Uint8Array {
  const regs = new Uint8Array(KVM_APIC_REG_SIZE);
  const v = new DataView(regs.buffer);
  v.setUint32(Reg.ID, (id & 0xff) << 24, true);
  // Version 0x14, six LVT entries (max LVT index 5).
  v.setUint32(Reg.VERSION, 0x50014, true);
  v.setUint32(Reg.DFR, 0xffffffff, true);
  v.setUint32(Reg.SVR, 0xff, true);
  for (const r of [Reg.LVT_TIMER, Reg.LVT_THERMAL, Reg.LVT_PMC, Reg.LVT_LINT1, Reg.LVT_ERROR]) {
    v.setUint32(r, 0x10000, true);
  }
  v.setUint32(Reg.LVT_LINT0, id === 0 ? 0x700 : 0x10000, true);
  return regs;
}
