import type { KvmEnableCap } from './structs/cpu-state.js';
import type {
  KvmIrqchip,
  KvmIrqRoutingEntry,
  KvmMsi,
  KvmPitConfig,
  KvmPitState2,
} from './structs/interrupts.js';
import type { GuestMemory, KvmClockData, KvmUserspaceMemoryRegion } from './structs/memory.js';
import type { Vcpu } from './vcpu.js';

/**
 * A virtual machine: the VM-level ioctls of the KVM API, one method each. Obtained from `Kvm.createVm`
 * (KVM_CREATE_VM).
 */
export interface Vm extends Disposable {
  /** KVM_CHECK_EXTENSION on the VM: a capability's value for this VM. */
  checkExtension(cap: number): number;
  /**
   * Allocate host memory to map into the guest: anonymous mmap on the native backend, an ArrayBuffer on the
   * emulator. `size` is rounded up to 4 KiB. The block is zeroed.
   */
  createMemory(size: number): GuestMemory;
  /** KVM_SET_USER_MEMORY_REGION: create, move, change the flags of, or (size 0) delete a memory slot. */
  setUserMemoryRegion(region: KvmUserspaceMemoryRegion): void;
  /** KVM_CREATE_VCPU: create the vCPU with the given id (its initial APIC id). */
  createVcpu(id: number): Vcpu;
  /** KVM_SET_TSS_ADDR: three pages of guest physical address space KVM may use on Intel hosts. */
  setTssAddr(addr: number): void;
  /** KVM_SET_IDENTITY_MAP_ADDR: one page KVM may use on Intel hosts; only before the first vCPU exists. */
  setIdentityMapAddr(addr: bigint): void;
  /** KVM_CREATE_IRQCHIP: the in-kernel PIC pair, IOAPIC and a local APIC per vCPU; before any vCPU. */
  createIrqchip(): void;
  /** KVM_IRQ_LINE: set the level of a GSI on the in-kernel irqchip (an edge is 1 then 0). */
  irqLine(irq: number, level: number): void;
  /** KVM_GET_IRQCHIP: the state of the master PIC (0), slave PIC (1) or IOAPIC (2). */
  getIrqchip(chipId: number): KvmIrqchip;
  /** KVM_SET_IRQCHIP: replace the state of one in-kernel interrupt controller. */
  setIrqchip(chip: KvmIrqchip): void;
  /** KVM_SET_GSI_ROUTING: replace the GSI routing table. */
  setGsiRouting(entries: readonly KvmIrqRoutingEntry[]): void;
  /** KVM_SIGNAL_MSI: inject a message-signalled interrupt; returns >0 delivered, 0 blocked by the guest. */
  signalMsi(msi: KvmMsi): number;
  /**
   * KVM_GET_DIRTY_LOG: the slot's dirty bitmap, one bit per 4 KiB page (bit n of byte n/8 for page n, as the
   * kernel's little-endian words), set for pages written since the previous call; the call clears it.
   */
  getDirtyLog(slot: number): Uint8Array;
  /** KVM_CREATE_PIT2: the in-kernel i8254 PIT (ports 0x40-0x43, and 0x61 with SPEAKER_DUMMY). */
  createPit2(config: KvmPitConfig): void;
  /** KVM_GET_PIT2: the in-kernel PIT's state. */
  getPit2(): KvmPitState2;
  /** KVM_SET_PIT2: replace the in-kernel PIT's state. */
  setPit2(state: KvmPitState2): void;
  /** KVM_GET_CLOCK: the VM's kvmclock, in nanoseconds. */
  getClock(): KvmClockData;
  /** KVM_SET_CLOCK: set the VM's kvmclock. */
  setClock(data: KvmClockData): void;
  /** KVM_ENABLE_CAP on the VM: turn on an optional VM capability. */
  enableCap(cap: KvmEnableCap): void;

  /** Closes the VM and every vCPU it created. Memory blocks stay the caller's to close. */
  close(): void;
}
