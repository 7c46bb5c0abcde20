import { openKvm } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { backend } from '../src/index.js';

describe('KVM_GET_SUPPORTED_CPUID', () => {
  it('spells the vendor GenuineIntel in EBX, EDX, ECX order', async () => {
    using kvm = await openKvm({ backend });
    const leaf0 = kvm.getSupportedCpuid().find((e) => e.function === 0)!;
    const bytes = new Uint8Array(new Uint32Array([leaf0.ebx, leaf0.edx, leaf0.ecx]).buffer);
    expect(String.fromCharCode(...bytes)).toBe('GenuineIntel');
  });

  it('names the emulator in the hypervisor leaf and offers no paravirtual features', async () => {
    using kvm = await openKvm({ backend });
    const leaves = kvm.getSupportedCpuid();
    const signature = leaves.find((e) => e.function === 0x40000000);
    expect(signature).toBeDefined();
    const bytes = new Uint8Array(new Uint32Array([signature!.ebx, signature!.ecx, signature!.edx]).buffer);
    expect(String.fromCharCode(...bytes).replace(/\0+$/, '')).toBe('KVMTSEMU');
    expect(signature!.eax).toBe(0x40000001); // the highest hypervisor leaf
    expect(leaves.find((e) => e.function === 0x40000001)).toMatchObject({ eax: 0, ebx: 0, ecx: 0, edx: 0 });
  });

  it('offers the local APIC and x2APIC the in-kernel irqchip implements', async () => {
    using kvm = await openKvm({ backend });
    const leaf1 = kvm.getSupportedCpuid().find((e) => e.function === 1)!;
    expect(leaf1.edx & (1 << 9)).not.toBe(0); // APIC
    expect(leaf1.ecx & (1 << 21)).not.toBe(0); // x2APIC
    expect(leaf1.ecx & (1 << 24)).toBe(0); // TSC-deadline: only after checking the capability, as on KVM
  });
});
