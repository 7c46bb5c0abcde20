/**
 * A vCPU on its own Worker thread (NativeVm.createVcpuOnThread): every ioctl issued there, KVM_RUN awaited
 * while this thread's event loop goes on, and kicked from here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NativeGuestMemory } from '../src/memory.js';
import type { NativeKvm } from '../src/system.js';
import type { NativeVcpu } from '../src/vcpu.js';
import type { NativeVm } from '../src/vm.js';
import { CODE_ADDRESS, hasKvm, openNative, outcome, reportSkip, TIME_SCALE } from './support/host.js';

reportSkip('vcpu-thread.test.ts');

interface ThreadGuest {
  kvm: NativeKvm;
  vm: NativeVm;
  memory: NativeGuestMemory;
  vcpu: NativeVcpu;
}

async function threadGuest(code: number[]): Promise<ThreadGuest> {
  const kvm = openNative();
  const vm = kvm.createVm();
  const memory = vm.createMemory(0x10000) as NativeGuestMemory;
  memory.bytes.set(code, CODE_ADDRESS);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: 0x10000n, memory });
  const vcpu = await vm.createVcpuOnThread(0);
  const sregs = vcpu.getSregs();
  sregs.cs = { ...sregs.cs, base: 0n, selector: 0 };
  vcpu.setSregs(sregs);
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE_ADDRESS), rflags: 2n });
  return { kvm, vm, memory, vcpu };
}

describe.skipIf(!hasKvm)('a vCPU on its own thread', () => {
  let guest: ThreadGuest | undefined;
  afterEach(() => {
    guest?.vm.close();
    guest?.memory.close();
    guest?.kvm.close();
    guest = undefined;
  });

  it('issues its ioctls on another OS thread and runs the guest to its exits', async () => {
    guest = await threadGuest([0xb0, 0x61, 0xe6, 0x10, 0xf4]); // mov al, 0x61; out 0x10, al; hlt
    const { vcpu } = guest;
    const here = guest.vm.createVcpu(1);
    expect(vcpu.osThread).not.toBe(here.osThread);
    let exit = await vcpu.runAsync();
    expect(exit).toMatchObject({ reason: 'io', port: 0x10 });
    if (exit.reason === 'io') expect(exit.data[0]).toBe(0x61);
    exit = vcpu.run();
    expect(exit.reason).toBe('hlt');
    expect(vcpu.getRegs().rip).toBe(BigInt(CODE_ADDRESS + 5));
  });

  it('keeps the event loop running during KVM_RUN, refuses other calls meanwhile, and is kicked from here', async () => {
    guest = await threadGuest([0xeb, 0xfe]); // jmp $
    const { vcpu } = guest;
    const running = vcpu.runAsync();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(outcome(() => vcpu.getRegs())).toBe('EBUSY');
    const kickedAt = performance.now();
    vcpu.kick();
    const exit = await running;
    const latency = performance.now() - kickedAt;
    clearInterval(ticker);
    expect(exit.reason).toBe('intr');
    expect(ticks).toBeGreaterThan(5);
    expect(latency).toBeLessThan(500 * TIME_SCALE);
    vcpu.immediateExit = false;
    expect(vcpu.getRegs().rip).toBe(BigInt(CODE_ADDRESS));
  });

  it('moves a vCPU made by createVcpu to a thread of its own at its first runAsync, and kicks it there', async () => {
    const kvm = openNative();
    const vm = kvm.createVm();
    const memory = vm.createMemory(0x10000) as NativeGuestMemory;
    // mov al, 0x62; out 0x10, al; jmp $
    memory.bytes.set([0xb0, 0x62, 0xe6, 0x10, 0xeb, 0xfe], CODE_ADDRESS);
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: 0x10000n, memory });
    const vcpu = vm.createVcpu(0);
    guest = { kvm, vm, memory, vcpu };
    const sregs = vcpu.getSregs();
    sregs.cs = { ...sregs.cs, base: 0n, selector: 0 };
    vcpu.setSregs(sregs);
    vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE_ADDRESS), rflags: 2n });
    const before = vcpu.osThread;
    const exit = await vcpu.runAsync();
    expect(exit).toMatchObject({ reason: 'io', port: 0x10 });
    if (exit.reason === 'io') expect(exit.data[0]).toBe(0x62);
    expect(vcpu.osThread).not.toBe(before);
    const running = vcpu.runAsync();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    await new Promise((resolve) => setTimeout(resolve, 100));
    vcpu.kick();
    expect((await running).reason).toBe('intr');
    clearInterval(ticker);
    expect(ticks).toBeGreaterThan(5);
    vcpu.immediateExit = false;
    expect(vcpu.getRegs().rip).toBe(BigInt(CODE_ADDRESS + 4));
  });
});
