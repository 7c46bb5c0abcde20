/**
 * Resource lifetime on the host's /dev/kvm: close order, EBADF after close, `using`, no descriptor leaks, the
 * FinalizationRegistry safety net, and the misuse KVM refuses with its errno.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { Capability, KvmError } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { hasKvm, needsTsx, openNative, outcome, reportSkip } from './support/host.js';

reportSkip('lifecycle.test.ts');

// Only KVM's descriptors (/dev/kvm, anon_inode:kvm-vm, anon_inode:kvm-vcpu:N): the test process opens and closes
// other descriptors of its own at any time (seen under the nested reference KVM), which are not ours to count.
const openDescriptors = () =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return /kvm/.test(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false; // closed between the listing and the look
    }
  }).length;

describe.skipIf(!hasKvm)('lifetime and misuse', () => {
  it('vm.close() closes its vCPUs first; every closed object raises EBADF naming the ioctl', () => {
    const kvm = openNative();
    const vm = kvm.createVm();
    const vcpu = vm.createVcpu(0);
    vm.close();
    expect(outcome(() => vcpu.getRegs())).toBe('EBADF');
    expect(outcome(() => vcpu.run())).toBe('EBADF');
    expect(outcome(() => vm.createVcpu(1))).toBe('EBADF');
    expect(outcome(() => vm.setTssAddr(0xfffbd000))).toBe('EBADF');
    try {
      vm.checkExtension(Capability.USER_MEMORY);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(KvmError);
      expect((error as KvmError).operation).toBe('KVM_CHECK_EXTENSION');
      expect((error as KvmError).message).toContain('closed');
    }
    vm.close();
    kvm.close();
  });

  it('closing everything returns every descriptor, also with `using`', () => {
    const before = openDescriptors();
    for (let round = 0; round < 3; round++) {
      using kvm = openNative();
      using vm = kvm.createVm();
      const memory = vm.createMemory(0x4000);
      vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: 0x4000n, memory });
      using vcpu = vm.createVcpu(0);
      expect(vcpu.getRegs().rip).toBe(0xfff0n);
      vm.createVcpu(1);
      expect(openDescriptors()).toBe(before + 4); // /dev/kvm, the VM, two vCPUs
      memory.close();
    }
    expect(openDescriptors()).toBe(before);
  });

  it.skipIf(needsTsx('finalization'))(
    'a VM dropped without close() has its descriptors closed by the FinalizationRegistry',
    () => {
      // In a child process with --expose-gc, so that collection can be forced.
      const script = `
      import { readdirSync } from 'node:fs';
      import { backend } from './src/index.ts';
      const count = () => readdirSync('/proc/self/fd').length;
      const kvm = backend.open('finalization test');
      const before = count();
      (() => {
        for (let i = 0; i < 4; i++) {
          const vm = kvm.createVm();
          vm.createVcpu(0);
          vm.createVcpu(1);
        }
      })();
      const leaked = count() - before;
      for (let i = 0; i < 10 && count() > before; i++) {
        globalThis.gc();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      console.log(JSON.stringify({ leaked, after: count() - before }));
    `;
      const output = execFileSync(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
        {
          cwd: new URL('..', import.meta.url).pathname,
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      const { leaked, after } = JSON.parse(output.trim().split('\n').pop()!) as {
        leaked: number;
        after: number;
      };
      expect(leaked).toBe(12);
      expect(after).toBe(0);
    },
  );

  it('misuse KVM refuses leaves the VM usable: duplicate vCPU id, id out of range, second irqchip', () => {
    using kvm = openNative();
    using vm = kvm.createVm();
    vm.createIrqchip();
    expect(outcome(() => vm.createIrqchip())).toBe('EEXIST');
    vm.createVcpu(0);
    expect(outcome(() => vm.createVcpu(0))).toBe('EEXIST');
    expect(outcome(() => vm.createVcpu(kvm.checkExtension(Capability.MAX_VCPU_ID)))).toBe('EINVAL');
    expect(outcome(() => vm.createVcpu(-1))).toBe('EINVAL');
    expect(outcome(() => vm.setIdentityMapAddr(0xfffbc000n))).toBe('EINVAL');
    expect(vm.createVcpu(1).id).toBe(1);
  });

  it('KVM_INTERRUPT with the in-kernel irqchip is ENXIO; irqchip after a vCPU is EINVAL', () => {
    using kvm = openNative();
    using vm = kvm.createVm();
    const vcpu = vm.createVcpu(0);
    expect(outcome(() => vm.createIrqchip())).toBe('EINVAL');
    using other = kvm.createVm();
    other.createIrqchip();
    expect(outcome(() => other.createVcpu(0).interrupt(0x20))).toBe('ENXIO');
    expect(outcome(() => vcpu.interrupt(0x20))).toBe('ok');
  });

  it('KVM_SET_SIGNAL_MASK takes exactly one 64-bit sigset word, and null', () => {
    using kvm = openNative();
    using vm = kvm.createVm();
    const vcpu = vm.createVcpu(0);
    expect(outcome(() => vcpu.setSignalMask([1n << 11n]))).toBe('ok');
    expect(outcome(() => vcpu.setSignalMask([0n, 0n]))).toBe('EINVAL');
    expect(outcome(() => vcpu.setSignalMask(null))).toBe('ok');
  });
});
