/**
 * Encoding and decoding of the interrupt-controller structs: kvm_irqchip (kvm_pic_state, kvm_ioapic_state),
 * kvm_pit_config, kvm_pit_state2, kvm_msi, kvm_irq_routing. Offsets come from the ABI table.
 */
import {
  IrqchipId,
  IrqRoutingType,
  KVM_IOAPIC_NUM_PINS,
  type KvmIrqchip,
  type KvmIrqRoutingEntry,
  type KvmMsi,
  type KvmPicState,
  type KvmPitChannelState,
  type KvmPitState2,
} from '@kvm-ts/core';
import { STRUCTS } from '../abi/index.js';
import { badArgument, dataView, exactLength, readU64, StructWriter } from './fields.js';

const IRQCHIP = STRUCTS.kvm_irqchip;
const PIC = STRUCTS.kvm_pic_state.fields;
const IOAPIC = STRUCTS.kvm_ioapic_state.fields;
const PIT2 = STRUCTS.kvm_pit_state2;
const CHANNEL = STRUCTS.kvm_pit_channel_state;
const MSI = STRUCTS.kvm_msi;
const ROUTING = STRUCTS.kvm_irq_routing;
const ROUTE = STRUCTS.kvm_irq_routing_entry;

const PIC_FIELDS = [
  ['lastIrr', 'last_irr'],
  ['irr', 'irr'],
  ['imr', 'imr'],
  ['isr', 'isr'],
  ['priorityAdd', 'priority_add'],
  ['irqBase', 'irq_base'],
  ['readReg', 'read_reg_select'],
  ['poll', 'poll'],
  ['specialMask', 'special_mask'],
  ['initState', 'init_state'],
  ['autoEoi', 'auto_eoi'],
  ['rotateOnAutoEoi', 'rotate_on_auto_eoi'],
  ['specialFullyNested', 'special_fully_nested_mode'],
  ['init4', 'init4'],
  ['elcr', 'elcr'],
  ['elcrMask', 'elcr_mask'],
] as const;

/** Checks a chip id before KVM sees it (KVM answers EINVAL for others). */
export function checkChipId(operation: string, chipId: number): void {
  if (chipId !== IrqchipId.PIC_MASTER && chipId !== IrqchipId.PIC_SLAVE && chipId !== IrqchipId.IOAPIC) {
    throw badArgument(operation, `chipId must be 0 (master PIC), 1 (slave PIC) or 2 (IOAPIC), not ${chipId}`);
  }
}

export function decodeIrqchip(bytes: Uint8Array): KvmIrqchip {
  const view = dataView(bytes);
  const chipId = view.getUint32(IRQCHIP.fields.chip_id, true);
  const at = IRQCHIP.fields.chip;
  if (chipId === IrqchipId.IOAPIC) {
    const redirtbl: bigint[] = [];
    for (let i = 0; i < KVM_IOAPIC_NUM_PINS; i++) redirtbl.push(readU64(view, at + IOAPIC.redirtbl + i * 8));
    return {
      chipId,
      ioapic: {
        base: readU64(view, at + IOAPIC.base_address),
        ioregsel: view.getUint32(at + IOAPIC.ioregsel, true),
        id: view.getUint32(at + IOAPIC.id, true),
        irr: view.getUint32(at + IOAPIC.irr, true),
        redirtbl,
      },
    };
  }
  const pic = {} as KvmPicState;
  for (const [name, field] of PIC_FIELDS) pic[name] = view.getUint8(at + PIC[field]);
  return { chipId: chipId as 0 | 1, pic };
}

export function encodeIrqchip(operation: string, chip: KvmIrqchip, bytes: Uint8Array): void {
  checkChipId(operation, chip.chipId);
  bytes.fill(0, 0, IRQCHIP.size);
  const writer = new StructWriter(operation, bytes);
  writer.u32(IRQCHIP.fields.chip_id, chip.chipId, 'chipId');
  const at = IRQCHIP.fields.chip;
  if (chip.chipId === IrqchipId.IOAPIC) {
    const { ioapic } = chip;
    if (!ioapic) throw badArgument(operation, 'chip 2 needs an ioapic state');
    writer.u64(at + IOAPIC.base_address, ioapic.base, 'ioapic.base');
    writer.u32(at + IOAPIC.ioregsel, ioapic.ioregsel, 'ioapic.ioregsel');
    writer.u32(at + IOAPIC.id, ioapic.id, 'ioapic.id');
    writer.u32(at + IOAPIC.irr, ioapic.irr, 'ioapic.irr');
    exactLength(operation, ioapic.redirtbl, KVM_IOAPIC_NUM_PINS, 'ioapic.redirtbl');
    ioapic.redirtbl.forEach((entry, i) => {
      writer.u64(at + IOAPIC.redirtbl + i * 8, entry, `redirtbl[${i}]`);
    });
    return;
  }
  if (!chip.pic) throw badArgument(operation, `chip ${chip.chipId} needs a pic state`);
  for (const [name, field] of PIC_FIELDS) writer.u8(at + PIC[field], chip.pic[name], `pic.${name}`);
}

const CHANNEL_BYTES = [
  ['countLatched', 'count_latched'],
  ['statusLatched', 'status_latched'],
  ['status', 'status'],
  ['readState', 'read_state'],
  ['writeState', 'write_state'],
  ['writeLatch', 'write_latch'],
  ['rwMode', 'rw_mode'],
  ['mode', 'mode'],
  ['bcd', 'bcd'],
  ['gate', 'gate'],
] as const;

export function decodePitState2(bytes: Uint8Array): KvmPitState2 {
  const view = dataView(bytes);
  const channels: KvmPitChannelState[] = [];
  for (let i = 0; i < 3; i++) {
    const at = PIT2.fields.channels + i * CHANNEL.size;
    const channel = {
      count: view.getUint32(at + CHANNEL.fields.count, true),
      latchedCount: view.getUint16(at + CHANNEL.fields.latched_count, true),
      countLoadTime: view.getBigInt64(at + CHANNEL.fields.count_load_time, true),
    } as KvmPitChannelState;
    for (const [name, field] of CHANNEL_BYTES) channel[name] = view.getUint8(at + CHANNEL.fields[field]);
    channels.push(channel);
  }
  return { channels, flags: view.getUint32(PIT2.fields.flags, true) };
}

export function encodePitState2(operation: string, state: KvmPitState2, bytes: Uint8Array): void {
  bytes.fill(0, 0, PIT2.size);
  const writer = new StructWriter(operation, bytes);
  exactLength(operation, state.channels, 3, 'channels');
  state.channels.forEach((channel, i) => {
    const at = PIT2.fields.channels + i * CHANNEL.size;
    writer.u32(at + CHANNEL.fields.count, channel.count, `channels[${i}].count`);
    writer.u16(at + CHANNEL.fields.latched_count, channel.latchedCount, `channels[${i}].latchedCount`);
    writer.u64(at + CHANNEL.fields.count_load_time, channel.countLoadTime, `channels[${i}].countLoadTime`);
    for (const [name, field] of CHANNEL_BYTES) {
      writer.u8(at + CHANNEL.fields[field], channel[name], `channels[${i}].${name}`);
    }
  });
  writer.u32(PIT2.fields.flags, state.flags, 'flags');
}

export function encodeMsi(operation: string, msi: KvmMsi): Uint8Array {
  const bytes = new Uint8Array(MSI.size);
  const writer = new StructWriter(operation, bytes);
  writer.u32(MSI.fields.address_lo, msi.addressLo, 'addressLo');
  writer.u32(MSI.fields.address_hi, msi.addressHi, 'addressHi');
  writer.u32(MSI.fields.data, msi.data, 'data');
  writer.u32(MSI.fields.flags, msi.flags, 'flags');
  writer.u32(MSI.fields.devid, msi.devid, 'devid');
  return bytes;
}

export function encodeGsiRouting(operation: string, entries: readonly KvmIrqRoutingEntry[]): Uint8Array {
  if (!Array.isArray(entries)) throw badArgument(operation, 'entries must be an array of routes');
  const bytes = new Uint8Array(ROUTING.size + entries.length * ROUTE.size);
  const writer = new StructWriter(operation, bytes);
  writer.u32(ROUTING.fields.nr, entries.length, 'nr');
  entries.forEach((entry, i) => {
    const at = ROUTING.fields.entries + i * ROUTE.size;
    const name = `entries[${i}]`;
    writer.u32(at + ROUTE.fields.gsi, entry.gsi, `${name}.gsi`);
    writer.u32(at + ROUTE.fields.type, entry.type, `${name}.type`);
    writer.u32(at + ROUTE.fields.flags, entry.flags, `${name}.flags`);
    if (entry.type === IrqRoutingType.IRQCHIP) {
      writer.u32(at + ROUTE.fields['u.irqchip.irqchip'], entry.irqchip, `${name}.irqchip`);
      writer.u32(at + ROUTE.fields['u.irqchip.pin'], entry.pin, `${name}.pin`);
    } else if (entry.type === IrqRoutingType.MSI) {
      writer.u32(at + ROUTE.fields['u.msi.address_lo'], entry.addressLo, `${name}.addressLo`);
      writer.u32(at + ROUTE.fields['u.msi.address_hi'], entry.addressHi, `${name}.addressHi`);
      writer.u32(at + ROUTE.fields['u.msi.data'], entry.data, `${name}.data`);
      writer.u32(at + ROUTE.fields['u.msi.devid'], entry.devid, `${name}.devid`);
    } else {
      throw badArgument(operation, `${name}.type must be 1 (IRQCHIP) or 2 (MSI)`);
    }
  });
  return bytes;
}
