/**
 * What every native test needs: whether this host has a usable /dev/kvm (and why not), the KVM flavour, and a
 * real-mode guest harness whose runs are all guarded by a watchdog.
 */
import { createRequire } from 'node:module';
import type { GuestMemory, KvmExit } from '@kvm-ts/core';
import { backend } from '../../src/index.js';
import type { NativeKvm } from '../../src/system.js';
import type { NativeVcpu } from '../../src/vcpu.js';
import type { NativeVm } from '../../src/vm.js';
import { RunWatchdog } from '../../src/watchdog.js';

const probe = backend.probe();

/** Whether the host's /dev/kvm can be used; when not, every test that needs it is skipped with this reason. */
export const hasKvm = probe.usable;
export const noKvmReason = probe.reason;

/** Prints, once per file, why the KVM tests of `file` are skipped. */
export function reportSkip(file: string): void {
  if (!hasKvm) console.warn(`${file}: KVM tests skipped: ${noKvmReason}`);
}

/**
 * Whether tsx can be loaded: tests that start a fresh Node process or a Worker on this package's TypeScript
 * sources need it (it is the workspace root's dev dependency, so a trimmed node_modules may lack it).
 */
export const hasTsx = (() => {
  try {
    createRequire(import.meta.url).resolve('tsx');
    return true;
  } catch {
    return false;
  }
})();

/** Prints why a test that needs tsx is skipped, and says whether to skip it. */
export function needsTsx(test: string): boolean {
  if (!hasTsx)
    console.warn(`${test}: skipped: tsx is not installed, and the test runs TypeScript in a new process`);
  return !hasTsx;
}

/** Opens the native backend on the host's /dev/kvm. */
export function openNative(): NativeKvm {
  return backend.open('native test') as NativeKvm;
}

/**
 * How much slower than the host this runs: inside the nested reference KVM (`pnpm test:kvm` sets
 * KVM_TS_NESTED) the CPU is QEMU's software one, about 5x slower for JavaScript and 8x per exit.
 */
export const TIME_SCALE = process.env.KVM_TS_NESTED ? 10 : 1;

/** The longest any guest in these tests may run before the watchdog kicks it. */
export const RUN_TIMEOUT_MS = 2000 * TIME_SCALE;

/** Where the harness puts guest code: CS:IP = 0000:1000 in real mode. */
export const CODE_ADDRESS = 0x1000;

/** A real-mode guest with 64 KiB of RAM at 0 (slot 0), its code at {@link CODE_ADDRESS}. */
export interface RealModeGuest extends Disposable {
  readonly kvm: NativeKvm;
  readonly vm: NativeVm;
  readonly vcpu: NativeVcpu;
  readonly memory: GuestMemory;
  /** `vcpu.run()` under the watchdog: a run longer than {@link RUN_TIMEOUT_MS} comes back as `intr`. */
  run(): KvmExit;
  close(): Promise<void>;
}

/** Options of {@link realModeGuest}. */
export interface GuestOptions {
  /** Create the in-kernel irqchip before the vCPU. */
  irqchip?: boolean;
  /** Bytes of guest RAM at guest physical 0 (default 64 KiB). */
  ramSize?: number;
}

/** Builds a VM with one vCPU in real mode at 0000:1000 running `code`. */
export function realModeGuest(code: readonly number[], options: GuestOptions = {}): RealModeGuest {
  const kvm = openNative();
  const vm = kvm.createVm();
  if (options.irqchip) vm.createIrqchip();
  const ramSize = options.ramSize ?? 0x10000;
  const memory = vm.createMemory(ramSize);
  memory.bytes.set(code, CODE_ADDRESS);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(ramSize), memory });
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  for (const segment of [sregs.cs, sregs.ds, sregs.es, sregs.ss]) {
    segment.base = 0n;
    segment.selector = 0;
  }
  vcpu.setSregs(sregs);
  const regs = vcpu.getRegs();
  regs.rip = BigInt(CODE_ADDRESS);
  regs.rflags = 2n;
  regs.rsp = 0x8000n;
  vcpu.setRegs(regs);
  const watchdog = new RunWatchdog(vcpu.kickTarget());
  const close = async () => {
    await watchdog.close();
    vm.close();
    memory.close();
    kvm.close();
  };
  return {
    kvm,
    vm,
    vcpu,
    memory,
    run() {
      watchdog.arm(RUN_TIMEOUT_MS);
      try {
        return vcpu.run();
      } finally {
        watchdog.disarm();
      }
    },
    close,
    [Symbol.dispose]() {
      void close();
    },
  };
}

/** The errno name a call raises, or `'ok'` when it returns. */
export function outcome(call: () => unknown): string {
  try {
    call();
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}
