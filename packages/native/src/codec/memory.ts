/**
 * Encoding and decoding of the memory and clock structs: kvm_userspace_memory_region, kvm_dirty_log,
 * kvm_clock_data. Offsets come from the ABI table.
 */
import type { KvmClockData } from '@kvm-ts/core';
import { STRUCTS } from '../abi/index.js';
import { dataView, readU64, StructWriter } from './fields.js';

const REGION = STRUCTS.kvm_userspace_memory_region;
const DIRTY_LOG = STRUCTS.kvm_dirty_log;
const CLOCK = STRUCTS.kvm_clock_data;

/** A slot as the kernel takes it, with the host address already resolved. */
export interface RawRegion {
  slot: number;
  flags: number;
  guestPhysAddr: bigint;
  memorySize: bigint;
  userspaceAddr: number;
}

export function encodeRegion(operation: string, region: RawRegion, bytes: Uint8Array): void {
  const writer = new StructWriter(operation, bytes);
  writer.u32(REGION.fields.slot, region.slot, 'slot');
  writer.u32(REGION.fields.flags, region.flags, 'flags');
  writer.u64(REGION.fields.guest_phys_addr, region.guestPhysAddr, 'guestPhysAddr');
  writer.u64(REGION.fields.memory_size, region.memorySize, 'memorySize');
  writer.u64(REGION.fields.userspace_addr, region.userspaceAddr, 'userspaceAddr');
}

export function encodeDirtyLog(
  operation: string,
  slot: number,
  bitmapAddress: number,
  bytes: Uint8Array,
): void {
  bytes.fill(0, 0, DIRTY_LOG.size);
  const writer = new StructWriter(operation, bytes);
  writer.u32(DIRTY_LOG.fields.slot, slot, 'slot');
  writer.u64(DIRTY_LOG.fields.dirty_bitmap, bitmapAddress, 'dirty_bitmap');
}

export function decodeClock(bytes: Uint8Array): KvmClockData {
  const view = dataView(bytes);
  return {
    clock: readU64(view, CLOCK.fields.clock),
    flags: view.getUint32(CLOCK.fields.flags, true),
    realtime: readU64(view, CLOCK.fields.realtime),
    hostTsc: readU64(view, CLOCK.fields.host_tsc),
  };
}

export function encodeClock(operation: string, data: KvmClockData, bytes: Uint8Array): void {
  bytes.fill(0, 0, CLOCK.size);
  const writer = new StructWriter(operation, bytes);
  writer.u64(CLOCK.fields.clock, data.clock, 'clock');
  writer.u32(CLOCK.fields.flags, data.flags, 'flags');
  writer.u64(CLOCK.fields.realtime, data.realtime, 'realtime');
  writer.u64(CLOCK.fields.host_tsc, data.hostTsc, 'hostTsc');
}
