/**
 * Which kernel module implements `/dev/kvm` here: hardware `kvm_intel` or `kvm_amd`, or `kvm_pvm` (PVM, a KVM
 * that needs no VT-x/AMD-V and differs from hardware KVM in measured ways; see REAL-KVM.md). Reported as
 * `kvm.backend.flavour` so that a program, and the tests, know which KVM answered.
 */
import { existsSync } from 'node:fs';

/** Vendor modules in the order they are looked for under `/sys/module`. */
// PVM first: it is loaded precisely where VT-x/AMD-V are not used, even if a hardware module is also present.
const KVM_MODULES = ['kvm_pvm', 'kvm_intel', 'kvm_amd'] as const;

/** The KVM vendor module loaded on this host, or `'kvm'` when only the core module is visible. */
export function detectFlavour(sysModule = '/sys/module'): string {
  for (const name of KVM_MODULES) {
    if (existsSync(`${sysModule}/${name}`)) return name;
  }
  return 'kvm';
}
