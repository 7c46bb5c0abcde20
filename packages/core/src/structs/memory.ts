/**
 * A block of host memory a VMM obtains from a VM (`Vm.createMemory`) and maps into the guest with
 * `Vm.setUserMemoryRegion`. `bytes` is a zero-copy view: what the VMM writes there the guest sees, and what the
 * guest writes the VMM sees, on every backend.
 *
 * On the native backend this is anonymous `mmap` memory whose address is the slot's `userspace_addr`.
 */
export interface GuestMemory extends Disposable {
  /**
   * The whole block, zero-copy. It may be a view into a larger buffer (the emulator keeps a VM's RAM in one
   * WebAssembly memory), so address the buffer through `bytes` itself or add `bytes.byteOffset`.
   */
  readonly bytes: Uint8Array;
  /** Size in bytes; a multiple of 4 KiB. */
  readonly size: number;
  /** Releases the memory once no slot maps it (KVM_SET_USER_MEMORY_REGION with size 0 first). */
  close(): void;
}

/** Bits of `kvm_userspace_memory_region.flags` (`KVM_MEM_*`). */
export const MemFlag = {
  /** Track writes to the slot for KVM_GET_DIRTY_LOG. */
  LOG_DIRTY_PAGES: 1,
  /** Guest writes to the slot exit as MMIO writes; reads are served from memory. */
  READONLY: 2,
} as const;

/**
 * A memory slot, as `struct kvm_userspace_memory_region` (KVM_SET_USER_MEMORY_REGION), with the host memory as
 * a {@link GuestMemory} block and an offset into it instead of a raw `userspace_addr`.
 *
 * KVM's rules apply: `memorySize` 0 deletes the slot; a slot's size and memory cannot change while it exists,
 * but it may move (`guestPhysAddr`) or change `LOG_DIRTY_PAGES`; slots may not overlap (EEXIST); addresses and
 * sizes are 4 KiB multiples (EINVAL).
 */
export interface KvmUserspaceMemoryRegion {
  /** Slot number; bits 16 and up select the address space (`as_id`). */
  slot: number;
  /** {@link MemFlag} bits. */
  flags: number;
  guestPhysAddr: bigint;
  memorySize: bigint;
  /** The host memory backing the slot; ignored (may be omitted) when deleting. */
  memory?: GuestMemory;
  /** Byte offset of the slot's first page within `memory`; 0 when omitted. */
  memoryOffset?: number;
}

/** The VM clock, as `struct kvm_clock_data` (KVM_GET_CLOCK / KVM_SET_CLOCK): kvmclock nanoseconds. */
export interface KvmClockData {
  clock: bigint;
  /** {@link ClockFlag} bits. */
  flags: number;
  realtime: bigint;
  hostTsc: bigint;
}

/** Bits of `kvm_clock_data.flags`. */
export const ClockFlag = {
  TSC_STABLE: 2,
  REALTIME: 4,
  HOST_TSC: 8,
} as const;
