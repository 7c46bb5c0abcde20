/** `kvm_irqchip.chip_id` values (`KVM_IRQCHIP_*`). */
export const IrqchipId = {
  PIC_MASTER: 0,
  PIC_SLAVE: 1,
  IOAPIC: 2,
} as const;

/** One 8259A's state, as `struct kvm_pic_state`. */
export interface KvmPicState {
  lastIrr: number;
  irr: number;
  imr: number;
  isr: number;
  priorityAdd: number;
  irqBase: number;
  readReg: number;
  poll: number;
  specialMask: number;
  initState: number;
  autoEoi: number;
  rotateOnAutoEoi: number;
  specialFullyNested: number;
  init4: number;
  elcr: number;
  elcrMask: number;
}

/** Number of redirection-table entries in KVM's IOAPIC (`KVM_IOAPIC_NUM_PINS`). */
export const KVM_IOAPIC_NUM_PINS = 24;

/** The IOAPIC's state, as `struct kvm_ioapic_state`. */
export interface KvmIoapicState {
  base: bigint;
  ioregsel: number;
  id: number;
  irr: number;
  /** 24 redirection-table entries, 64 bits each. */
  redirtbl: bigint[];
}

/** The state of one in-kernel interrupt controller, as `struct kvm_irqchip` (KVM_GET_IRQCHIP / KVM_SET_IRQCHIP). */
export type KvmIrqchip =
  | { chipId: typeof IrqchipId.PIC_MASTER | typeof IrqchipId.PIC_SLAVE; pic: KvmPicState }
  | { chipId: typeof IrqchipId.IOAPIC; ioapic: KvmIoapicState };

/** As `struct kvm_pit_config` (KVM_CREATE_PIT2). */
export interface KvmPitConfig {
  /** {@link PitFlag} bits. */
  flags: number;
}

/** Bits of `kvm_pit_config.flags` and `kvm_pit_state2.flags`. */
export const PitFlag = {
  /** KVM_PIT_SPEAKER_DUMMY: the PIT also answers port 0x61 reads with a dummy speaker. */
  SPEAKER_DUMMY: 1,
  /** KVM_PIT_FLAGS_HPET_LEGACY. */
  HPET_LEGACY: 1,
  /** KVM_PIT_FLAGS_SPEAKER_DATA_ON. */
  SPEAKER_DATA_ON: 2,
} as const;

/** One i8254 channel, as `struct kvm_pit_channel_state`. */
export interface KvmPitChannelState {
  count: number;
  latchedCount: number;
  countLatched: number;
  statusLatched: number;
  status: number;
  readState: number;
  writeState: number;
  writeLatch: number;
  rwMode: number;
  mode: number;
  bcd: number;
  gate: number;
  /** Nanoseconds on the host clock when `count` was loaded. */
  countLoadTime: bigint;
}

/** The in-kernel PIT's state, as `struct kvm_pit_state2` (KVM_GET_PIT2 / KVM_SET_PIT2). */
export interface KvmPitState2 {
  channels: KvmPitChannelState[];
  flags: number;
}

/** A message-signalled interrupt, as `struct kvm_msi` (KVM_SIGNAL_MSI). */
export interface KvmMsi {
  addressLo: number;
  addressHi: number;
  data: number;
  flags: number;
  devid: number;
}

/** `kvm_irq_routing_entry.type` values (`KVM_IRQ_ROUTING_*`). */
export const IrqRoutingType = {
  IRQCHIP: 1,
  MSI: 2,
} as const;

/** One GSI route, as `struct kvm_irq_routing_entry` (KVM_SET_GSI_ROUTING). */
export type KvmIrqRoutingEntry =
  | { gsi: number; type: typeof IrqRoutingType.IRQCHIP; flags: number; irqchip: number; pin: number }
  | {
      gsi: number;
      type: typeof IrqRoutingType.MSI;
      flags: number;
      addressLo: number;
      addressHi: number;
      data: number;
      devid: number;
    };
