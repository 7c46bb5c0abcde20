/**
 * The VM level: ioctls on a VM descriptor (KVM_CREATE_VM's result), one method each. The VM keeps the memory
 * blocks its slots map alive while the slots exist, and closes its vCPUs before itself.
 */
import type {
  GuestMemory,
  KvmClockData,
  KvmEnableCap,
  KvmIrqchip,
  KvmIrqRoutingEntry,
  KvmMsi,
  KvmPitConfig,
  KvmPitState2,
  KvmUserspaceMemoryRegion,
  Vm,
} from '@kvm-ts/core';
import { STRUCTS, SYSTEM_IOCTLS, VM_IOCTLS } from './abi/index.js';
import { encodeEnableCap } from './codec/cpu-state.js';
import { badArgument, dataView, StructWriter } from './codec/fields.js';
import {
  checkChipId,
  decodeIrqchip,
  decodePitState2,
  encodeGsiRouting,
  encodeIrqchip,
  encodeMsi,
  encodePitState2,
} from './codec/interrupts.js';
import { decodeClock, encodeClock, encodeDirtyLog, encodeRegion } from './codec/memory.js';
import { checkInteger, Descriptor } from './descriptor.js';
import { checked, MAP_ANONYMOUS, MAP_PRIVATE, mapOrThrow, PROT_READ, PROT_WRITE, viewOf } from './libc.js';
import { NativeGuestMemory } from './memory.js';
import { NativeVcpu } from './vcpu.js';
import { VcpuThread } from './vcpu-thread.js';

const IOCTL = VM_IOCTLS;
const S = STRUCTS;
const PAGE_SIZE = 4096n;

/** What the VM remembers of a slot it created: its size (for the dirty bitmap) and the memory behind it. */
interface SlotRecord {
  size: bigint;
  memory: NativeGuestMemory;
}

/** A VM on `/dev/kvm`. */
export class NativeVm extends Descriptor implements Vm {
  private readonly vcpus = new Set<NativeVcpu>();
  private readonly slots = new Map<number, SlotRecord>();

  /** @param mmapSize KVM_GET_VCPU_MMAP_SIZE, read while the system descriptor was open */
  constructor(
    fd: number,
    private readonly mmapSize: number,
  ) {
    super(fd, 'VM');
  }

  checkExtension(cap: number): number {
    // A system ioctl that VM descriptors also answer (KVM_CAP_CHECK_EXTENSION_VM), per VM type.
    const request = SYSTEM_IOCTLS.KVM_CHECK_EXTENSION;
    return this.ioctlValue('KVM_CHECK_EXTENSION', request, checkInteger('KVM_CHECK_EXTENSION', 'cap', cap));
  }

  createMemory(size: number): GuestMemory {
    this.fd('mmap');
    return new NativeGuestMemory(size);
  }

  setUserMemoryRegion(region: KvmUserspaceMemoryRegion): void {
    const op = 'KVM_SET_USER_MEMORY_REGION';
    this.fd(op);
    if (typeof region?.memorySize !== 'bigint' || typeof region.guestPhysAddr !== 'bigint') {
      throw badArgument(op, 'guestPhysAddr and memorySize must be bigints');
    }
    const offset = region.memoryOffset ?? 0;
    let memory: NativeGuestMemory | undefined;
    let userspaceAddr = 0;
    if (region.memorySize !== 0n) {
      // The kernel trusts userspace_addr: a slot reaching past its block would map whatever lies beyond.
      if (!(region.memory instanceof NativeGuestMemory)) {
        throw badArgument(op, 'memory must be a block from this backend’s createMemory()');
      }
      memory = region.memory;
      if (memory.isClosed) throw badArgument(op, 'the memory block was closed');
      if (
        !Number.isSafeInteger(offset) ||
        offset < 0 ||
        BigInt(offset) + region.memorySize > BigInt(memory.size)
      ) {
        throw badArgument(
          op,
          `memoryOffset ${offset} + memorySize ${region.memorySize} exceeds the ${memory.size}-byte memory block`,
        );
      }
      userspaceAddr = memory.address + offset;
    }
    const bytes = new Uint8Array(S.kvm_userspace_memory_region.size);
    encodeRegion(
      op,
      {
        slot: region.slot,
        flags: region.flags,
        guestPhysAddr: region.guestPhysAddr,
        memorySize: region.memorySize,
        userspaceAddr,
      },
      bytes,
    );
    this.ioctl(op, IOCTL.KVM_SET_USER_MEMORY_REGION, bytes);
    if (memory) {
      this.slots.set(region.slot, { size: region.memorySize, memory });
    } else {
      this.slots.delete(region.slot);
    }
  }

  createVcpu(id: number): NativeVcpu {
    const fd = this.ioctlValue(
      'KVM_CREATE_VCPU',
      IOCTL.KVM_CREATE_VCPU,
      checkInteger('KVM_CREATE_VCPU', 'id', id),
    );
    let vcpu: NativeVcpu;
    try {
      vcpu = new NativeVcpu(fd, id, this.mmapSize, (closed) => this.vcpus.delete(closed));
    } catch (error) {
      this.lib.close(fd);
      throw error;
    }
    this.vcpus.add(vcpu);
    return vcpu;
  }

  /**
   * KVM_CREATE_VCPU issued on a new Worker that then issues every ioctl of the vCPU, so that `runAsync()` runs
   * the guest without blocking this thread's event loop. Its other methods stay synchronous (each waits for
   * the thread), and `kick()` interrupts a run in progress.
   */
  async createVcpuOnThread(id: number): Promise<NativeVcpu> {
    const op = 'KVM_CREATE_VCPU';
    checkInteger(op, 'id', id);
    this.fd(op);
    const thread = await VcpuThread.start();
    let vcpu: NativeVcpu;
    try {
      const fd = checked(op, thread.value(this.fd(op), IOCTL.KVM_CREATE_VCPU, id));
      try {
        vcpu = new NativeVcpu(fd, id, this.mmapSize, (closed) => this.vcpus.delete(closed), thread);
      } catch (error) {
        this.lib.close(fd);
        throw error;
      }
    } catch (error) {
      await thread.close();
      throw error;
    }
    this.vcpus.add(vcpu);
    return vcpu;
  }

  setTssAddr(addr: number): void {
    this.ioctlValue(
      'KVM_SET_TSS_ADDR',
      IOCTL.KVM_SET_TSS_ADDR,
      checkInteger('KVM_SET_TSS_ADDR', 'addr', addr),
    );
  }

  setIdentityMapAddr(addr: bigint): void {
    const bytes = new Uint8Array(8);
    new StructWriter('KVM_SET_IDENTITY_MAP_ADDR', bytes).u64(0, addr, 'addr');
    this.ioctl('KVM_SET_IDENTITY_MAP_ADDR', IOCTL.KVM_SET_IDENTITY_MAP_ADDR, bytes);
  }

  createIrqchip(): void {
    this.ioctlValue('KVM_CREATE_IRQCHIP', IOCTL.KVM_CREATE_IRQCHIP, 0);
  }

  irqLine(irq: number, level: number): void {
    const bytes = new Uint8Array(S.kvm_irq_level.size);
    const writer = new StructWriter('KVM_IRQ_LINE', bytes);
    writer.u32(S.kvm_irq_level.fields.irq, irq, 'irq');
    writer.u32(S.kvm_irq_level.fields.level, level, 'level');
    this.ioctl('KVM_IRQ_LINE', IOCTL.KVM_IRQ_LINE, bytes);
  }

  getIrqchip(chipId: number): KvmIrqchip {
    checkChipId('KVM_GET_IRQCHIP', chipId);
    const bytes = new Uint8Array(S.kvm_irqchip.size);
    dataView(bytes).setUint32(S.kvm_irqchip.fields.chip_id, chipId, true);
    this.ioctl('KVM_GET_IRQCHIP', IOCTL.KVM_GET_IRQCHIP, bytes);
    return decodeIrqchip(bytes);
  }

  setIrqchip(chip: KvmIrqchip): void {
    this.fd('KVM_SET_IRQCHIP');
    const bytes = new Uint8Array(S.kvm_irqchip.size);
    encodeIrqchip('KVM_SET_IRQCHIP', chip, bytes);
    this.ioctl('KVM_SET_IRQCHIP', IOCTL.KVM_SET_IRQCHIP, bytes);
  }

  setGsiRouting(entries: readonly KvmIrqRoutingEntry[]): void {
    this.fd('KVM_SET_GSI_ROUTING');
    this.ioctl(
      'KVM_SET_GSI_ROUTING',
      IOCTL.KVM_SET_GSI_ROUTING,
      encodeGsiRouting('KVM_SET_GSI_ROUTING', entries),
    );
  }

  signalMsi(msi: KvmMsi): number {
    this.fd('KVM_SIGNAL_MSI');
    return this.ioctl('KVM_SIGNAL_MSI', IOCTL.KVM_SIGNAL_MSI, encodeMsi('KVM_SIGNAL_MSI', msi));
  }

  getDirtyLog(slot: number): Uint8Array {
    const op = 'KVM_GET_DIRTY_LOG';
    this.fd(op);
    checkInteger(op, 'slot', slot);
    const record = this.slots.get(slot);
    // For a slot this VM did not create, KVM itself answers (ENOENT or EINVAL) before touching the bitmap.
    const pages = record ? Number(record.size / PAGE_SIZE) : 0;
    // The kernel writes whole 64-bit words: allocate those, return the bytes that cover the slot.
    const length = Math.max(8, Math.ceil(pages / 64) * 8);
    const address = mapOrThrow(op, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    try {
      const bytes = new Uint8Array(S.kvm_dirty_log.size);
      encodeDirtyLog(op, slot, record ? address : 0, bytes);
      this.ioctl(op, IOCTL.KVM_GET_DIRTY_LOG, bytes);
      return new Uint8Array(viewOf(address, length)).slice(0, Math.ceil(pages / 8));
    } finally {
      this.lib.munmap(address, length);
    }
  }

  createPit2(config: KvmPitConfig): void {
    const bytes = new Uint8Array(S.kvm_pit_config.size);
    new StructWriter('KVM_CREATE_PIT2', bytes).u32(S.kvm_pit_config.fields.flags, config?.flags, 'flags');
    this.ioctl('KVM_CREATE_PIT2', IOCTL.KVM_CREATE_PIT2, bytes);
  }

  getPit2(): KvmPitState2 {
    const bytes = new Uint8Array(S.kvm_pit_state2.size);
    this.ioctl('KVM_GET_PIT2', IOCTL.KVM_GET_PIT2, bytes);
    return decodePitState2(bytes);
  }

  setPit2(state: KvmPitState2): void {
    this.fd('KVM_SET_PIT2');
    const bytes = new Uint8Array(S.kvm_pit_state2.size);
    encodePitState2('KVM_SET_PIT2', state, bytes);
    this.ioctl('KVM_SET_PIT2', IOCTL.KVM_SET_PIT2, bytes);
  }

  getClock(): KvmClockData {
    const bytes = new Uint8Array(S.kvm_clock_data.size);
    this.ioctl('KVM_GET_CLOCK', IOCTL.KVM_GET_CLOCK, bytes);
    return decodeClock(bytes);
  }

  setClock(data: KvmClockData): void {
    this.fd('KVM_SET_CLOCK');
    const bytes = new Uint8Array(S.kvm_clock_data.size);
    encodeClock('KVM_SET_CLOCK', data, bytes);
    this.ioctl('KVM_SET_CLOCK', IOCTL.KVM_SET_CLOCK, bytes);
  }

  enableCap(cap: KvmEnableCap): void {
    this.fd('KVM_ENABLE_CAP');
    this.ioctl('KVM_ENABLE_CAP', IOCTL.KVM_ENABLE_CAP, encodeEnableCap('KVM_ENABLE_CAP', cap));
  }

  /** Closes every vCPU of the VM, then the VM. Memory blocks stay the caller's to close. */
  close(): void {
    if (this.isClosed) return;
    for (const vcpu of [...this.vcpus]) vcpu.close();
    this.slots.clear();
    this.closeDescriptor();
  }

  /** `using` support: the same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
