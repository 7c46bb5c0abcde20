import type { GuestMemory, Kvm, Vcpu, Vm } from '@kvm-ts/core';
import type { GuestProgram } from '../guests/program.js';
import { Layout } from '../layout.js';
import { type CpuMode, entryRegs, longModeSregs, protectedModeSregs, realModeSregs } from './cpu-modes.js';
import { type PageTables, writeIdentityPageTables } from './page-tables.js';

/** What {@link createMachine} builds. */
export interface MachineOptions {
  /** The CPU mode to start the vCPU in. */
  readonly mode: CpuMode;
  /** A program to copy to its load address and start at (RIP = load address); none leaves RAM zeroed. */
  readonly guest?: GuestProgram;
  /** Create the in-kernel irqchip (KVM_CREATE_IRQCHIP) before the vCPU. */
  readonly irqchip?: boolean;
  /**
   * Set the vCPU's CPUID to KVM_GET_SUPPORTED_CPUID before the CPU state. Always done for long mode, where KVM
   * refuses EFER.LME otherwise.
   */
  readonly supportedCpuid?: boolean;
  /** The vCPU id; 0 when omitted. */
  readonly vcpuId?: number;
}

/** A VM with one RAM slot and one vCPU ready to run a guest program. `close()` releases all of it. */
export interface Machine extends Disposable {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  /** The RAM block: slot 0, guest physical 0 to Layout.RAM_SIZE. */
  readonly memory: GuestMemory;
  /** `memory.bytes`: byte n is guest physical address n. */
  readonly ram: Uint8Array;
  /** The long-mode page tables, when the mode is `long`. */
  readonly pageTables: PageTables | undefined;
  /** Puts RIP back at the guest's start (or `entry`) with the initial registers, to run it again. */
  restart(entry?: number): void;
  /** Closes the vCPU, the VM and the memory block. */
  close(): void;
}

/** Slot 0 (`kvm_userspace_memory_region.slot`) holds the RAM of every machine. */
export const RAM_SLOT = 0;

/**
 * Builds a VM for one guest program: RAM in slot 0 at guest physical 0 (Layout.RAM_SIZE bytes), optionally
 * the in-kernel irqchip, one vCPU, and the CPU state for `mode` loaded through KVM_SET_SREGS / KVM_SET_REGS.
 * Everything created is closed again if a step fails.
 */
export function createMachine(kvm: Kvm, options: MachineOptions): Machine {
  const vm = kvm.createVm();
  let memory: GuestMemory | undefined;
  try {
    memory = vm.createMemory(Layout.RAM_SIZE);
    vm.setUserMemoryRegion({
      slot: RAM_SLOT,
      flags: 0,
      guestPhysAddr: 0n,
      memorySize: BigInt(Layout.RAM_SIZE),
      memory,
    });
    if (options.irqchip) vm.createIrqchip();
    const vcpu = vm.createVcpu(options.vcpuId ?? 0);
    const ram = memory.bytes;
    if (options.supportedCpuid || options.mode === 'long') vcpu.setCpuid2(kvm.getSupportedCpuid());
    let pageTables: PageTables | undefined;
    const sregs = vcpu.getSregs();
    if (options.mode === 'real') {
      vcpu.setSregs(realModeSregs(sregs));
    } else if (options.mode === 'protected') {
      vcpu.setSregs(protectedModeSregs(sregs));
    } else {
      pageTables = writeIdentityPageTables(ram);
      vcpu.setSregs(longModeSregs(sregs, pageTables.pml4));
    }
    const guest = options.guest;
    if (guest) ram.set(guest.bytes, guest.loadAddress);
    const start = guest?.loadAddress ?? Layout.LOAD_ADDR;
    const restart = (entry: number = start) => vcpu.setRegs(entryRegs(entry));
    restart();
    const blockOfMemory = memory;
    const close = () => {
      vm.close();
      blockOfMemory.close();
    };
    return { vm, vcpu, memory, ram, pageTables, restart, close, [Symbol.dispose]: close };
  } catch (error) {
    vm.close();
    memory?.close();
    throw error;
  }
}
