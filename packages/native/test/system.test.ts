/** System-level ioctls on the host's /dev/kvm. */
import { Capability, Errno, KvmError } from '@kvm-ts/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRUCTS } from '../src/abi/index.js';
import type { NativeKvm } from '../src/system.js';
import { expectedAnswer } from './support/flavours.js';
import { hasKvm, openNative, outcome, reportSkip } from './support/host.js';

reportSkip('system.test.ts');

describe.skipIf(!hasKvm)('system ioctls on /dev/kvm', () => {
  let kvm: NativeKvm;
  beforeAll(() => {
    kvm = openNative();
  });
  afterAll(() => kvm.close());

  it('names the backend and the KVM flavour it runs on', () => {
    expect(kvm.backend.name).toBe('native');
    expect(kvm.backend.flavour).toMatch(/^kvm(_intel|_amd|_pvm)?$/);
    console.log(`native tests run on ${kvm.backend.flavour}`);
  });

  it('KVM_GET_API_VERSION is 12', () => {
    expect(kvm.getApiVersion()).toBe(12);
  });

  it('KVM_CHECK_EXTENSION answers what every x86 KVM has, and 0 for an unknown capability', () => {
    expect(kvm.checkExtension(Capability.USER_MEMORY)).toBe(1);
    expect(kvm.checkExtension(Capability.IMMEDIATE_EXIT)).toBe(1);
    expect(kvm.checkExtension(Capability.IRQCHIP)).toBe(1);
    const recommended = kvm.checkExtension(Capability.NR_VCPUS);
    expect(recommended).toBeGreaterThan(0);
    expect(kvm.checkExtension(Capability.MAX_VCPUS)).toBeGreaterThanOrEqual(recommended);
    expect(kvm.checkExtension(100_000)).toBe(0);
  });

  it('KVM_CAP_MULTI_ADDRESS_SPACE matches the flavour table', () => {
    expect(String(kvm.checkExtension(Capability.MULTI_ADDRESS_SPACE))).toBe(
      expectedAnswer(kvm.backend.flavour, 'multiAddressSpace'),
    );
  });

  it('refuses a capability number that is not a u32 before asking KVM', () => {
    expect(() => kvm.checkExtension(-1)).toThrow(KvmError);
    expect(outcome(() => kvm.checkExtension(1.5))).toBe('EINVAL');
  });

  it('KVM_GET_VCPU_MMAP_SIZE is whole pages holding kvm_run and the IO data page', () => {
    const size = kvm.getVcpuMmapSize();
    expect(size % 4096).toBe(0);
    expect(size).toBeGreaterThanOrEqual(STRUCTS.kvm_run.size + 4096);
  });

  it('KVM_GET_MSR_INDEX_LIST holds the TSC and SYSENTER_CS, without repeats', () => {
    const list = kvm.getMsrIndexList();
    expect(list).toContain(0x10);
    expect(list).toContain(0x174);
    expect(new Set(list).size).toBe(list.length);
  });

  it('KVM_GET_MSR_FEATURE_INDEX_LIST is a list of MSR numbers', () => {
    const list = kvm.getMsrFeatureIndexList();
    expect(Array.isArray(list)).toBe(true);
    for (const index of list) expect(Number.isInteger(index)).toBe(true);
  });

  it('KVM_GET_SUPPORTED_CPUID has the basic and extended maximum leaves, each covering what it announces', () => {
    const entries = kvm.getSupportedCpuid();
    const leaf = (fn: number) => entries.find((entry) => entry.function === fn && entry.index === 0);
    const basic = leaf(0);
    const extended = leaf(0x80000000);
    expect(basic?.eax).toBeGreaterThanOrEqual(1);
    expect(extended?.eax).toBeGreaterThanOrEqual(0x80000001);
    expect(leaf(1)).toBeDefined();
    // Long mode (CPUID 0x80000001 EDX bit 29) is offered, or no 64-bit guest could run.
    expect((leaf(0x80000001)?.edx ?? 0) & (1 << 29)).not.toBe(0);
  });

  it('KVM_GET_EMULATED_CPUID answers with a list', () => {
    expect(Array.isArray(kvm.getEmulatedCpuid())).toBe(true);
  });

  it('KVM_CREATE_VM refuses an unknown machine type with EINVAL', () => {
    expect(outcome(() => kvm.createVm(0x7f))).toBe('EINVAL');
  });

  it('a closed system handle raises EBADF and keeps its VMs usable', () => {
    const other = openNative();
    const vm = other.createVm();
    other.close();
    expect(outcome(() => other.getApiVersion())).toBe('EBADF');
    const error = (() => {
      try {
        other.checkExtension(0);
      } catch (caught) {
        return caught as KvmError;
      }
    })();
    expect(error?.errno).toBe(Errno.EBADF);
    expect(error?.operation).toBe('KVM_CHECK_EXTENSION');
    expect(vm.checkExtension(Capability.USER_MEMORY)).toBe(1);
    vm.close();
    other.close();
  });
});
