/**
 * The Intel MultiProcessor Specification 1.4 tables (MP spec, chapter 4): how a kernel without ACPI learns
 * which processors exist, where the IOAPIC is and how the ISA interrupts reach it. Linux scans the BIOS area
 * (0xf0000-0xfffff among others) for the floating pointer structure, follows it to the configuration table and
 * starts each application processor it lists with INIT and start-up IPIs.
 */
import { Layout } from '../layout.js';
import type { MemoryWrite } from './plan.js';

/** "_MP_": the floating pointer structure's signature, at a 16-byte boundary. */
export const MP_FLOATING_SIGNATURE = '_MP_';
/** "PCMP": the configuration table's signature. */
export const MP_CONFIG_SIGNATURE = 'PCMP';
/** Specification revision 1.4. */
export const MP_SPEC_REV = 4;
/** Size of the floating pointer structure (one 16-byte paragraph). */
export const MP_FLOATING_SIZE = 16;
/** Size of the configuration table header. */
export const MP_CONFIG_HEADER_SIZE = 44;

/** Configuration table entry types (MP spec table 4-3), each with its length. */
export const MpEntry = {
  PROCESSOR: 0,
  BUS: 1,
  IOAPIC: 2,
  IO_INTERRUPT: 3,
  LOCAL_INTERRUPT: 4,
} as const;
/** Length in bytes of each entry type: processors take 20, the rest 8. */
export const MP_ENTRY_SIZE = [20, 8, 8, 8, 8] as const;

/** Interrupt types of I/O and local interrupt entries (MP spec table 4-8). */
export const MpInterruptType = {
  INT: 0,
  NMI: 1,
  SMI: 2,
  EXTINT: 3,
} as const;

/** Processor entry flags: the CPU is usable (EN) and it is the bootstrap processor (BP). */
export const MP_CPU_ENABLED = 1;
export const MP_CPU_BOOTSTRAP = 2;
/** IOAPIC entry flag: usable. */
export const MP_IOAPIC_ENABLED = 1;
/** The local APIC version KVM reports (APIC_VERSION: an integrated APIC). */
export const MP_LAPIC_VERSION = 0x14;
/** The IOAPIC version KVM reports (IOAPIC_VERSION_ID). */
export const MP_IOAPIC_VERSION = 0x11;
/** Where every local APIC's registers are (the architectural default). */
export const MP_LAPIC_ADDRESS = 0xfee0_0000;
/** Where KVM's in-kernel IOAPIC answers (IOAPIC_DEFAULT_BASE_ADDRESS). */
export const MP_IOAPIC_ADDRESS = 0xfec0_0000;
/** The one bus: ISA, id 0, whose interrupts are edge-triggered and active high ("conforms to the bus"). */
export const MP_ISA_BUS_ID = 0;
/** Destination local APIC id meaning "every local APIC". */
export const MP_ALL_LAPICS = 0xff;
/**
 * The ISA IRQs the table routes, each to the IOAPIC pin of the same number, as KVM's default GSI routing
 * wires KVM_IRQ_LINE (virt/kvm/irqchip.c: GSI n drives IOAPIC pin n, GSI 0 included, since the VMM does not
 * install QEMU's 0-to-2 override). IRQ 2 is the PICs' cascade, which no device raises.
 */
export const MP_ISA_IRQS = [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] as const;
/**
 * The most processors the table can describe: APIC ids are 8 bits, 0xff is the broadcast id, and the IOAPIC
 * takes the id after the last processor.
 */
export const MP_MAX_CPUS = 254;

/** CPUID.1 values the processor entries carry (informational: Linux reads the APIC id, flags and version). */
const CPU_SIGNATURE = 0x600;
/** CPUID.1:EDX FPU (bit 0) and APIC (bit 9). */
const CPU_FEATURES = (1 << 0) | (1 << 9);
const OEM_ID = 'KVM-TS  ';
const PRODUCT_ID = 'SAMPLE VMM  ';

/** Sets the checksum byte at `at` so that `bytes` sums to zero modulo 256 (MP spec 4.1 and 4.2.1). */
function checksum(bytes: Uint8Array, at: number): void {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  bytes[at] = (0x100 - sum) & 0xff;
}

function ascii(bytes: Uint8Array, at: number, text: string): void {
  for (let i = 0; i < text.length; i++) bytes[at + i] = text.charCodeAt(i);
}

/**
 * The floating pointer structure followed by the configuration table, for a machine with `cpus` processors
 * (APIC ids 0..cpus-1, the BSP is 0), the IOAPIC with id `cpus`, one ISA bus, the ISA IRQs of
 * {@link MP_ISA_IRQS} on the IOAPIC pins of the same number, and LINT0 as ExtINT and LINT1 as NMI on every
 * local APIC (virtual-wire mode, as the VMM programs the BSP). `addr` is where it goes: the floating pointer
 * there, the table right after it.
 */
export function buildMpTable(cpus: number, addr: number = Layout.MP_TABLE): Uint8Array {
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MP_MAX_CPUS) {
    throw new RangeError(`the MP table describes 1 to ${MP_MAX_CPUS} processors, not ${cpus}`);
  }
  if (addr % 16 !== 0) throw new RangeError('the MP floating pointer must be 16-byte aligned');
  const ioapicId = cpus;
  const entries: Uint8Array[] = [];
  for (let id = 0; id < cpus; id++) {
    const e = new Uint8Array(MP_ENTRY_SIZE[MpEntry.PROCESSOR]);
    const v = new DataView(e.buffer);
    e[0] = MpEntry.PROCESSOR;
    e[1] = id;
    e[2] = MP_LAPIC_VERSION;
    e[3] = MP_CPU_ENABLED | (id === 0 ? MP_CPU_BOOTSTRAP : 0);
    v.setUint32(4, CPU_SIGNATURE, true);
    v.setUint32(8, CPU_FEATURES, true);
    entries.push(e);
  }
  const bus = new Uint8Array(MP_ENTRY_SIZE[MpEntry.BUS]);
  bus[0] = MpEntry.BUS;
  bus[1] = MP_ISA_BUS_ID;
  ascii(bus, 2, 'ISA   ');
  entries.push(bus);
  const ioapic = new Uint8Array(MP_ENTRY_SIZE[MpEntry.IOAPIC]);
  ioapic[0] = MpEntry.IOAPIC;
  ioapic[1] = ioapicId;
  ioapic[2] = MP_IOAPIC_VERSION;
  ioapic[3] = MP_IOAPIC_ENABLED;
  new DataView(ioapic.buffer).setUint32(4, MP_IOAPIC_ADDRESS, true);
  entries.push(ioapic);
  for (const irq of MP_ISA_IRQS) {
    // Flags 0: polarity and trigger mode conform to the bus (ISA: active high, edge).
    entries.push(
      Uint8Array.of(MpEntry.IO_INTERRUPT, MpInterruptType.INT, 0, 0, MP_ISA_BUS_ID, irq, ioapicId, irq),
    );
  }
  entries.push(
    Uint8Array.of(MpEntry.LOCAL_INTERRUPT, MpInterruptType.EXTINT, 0, 0, MP_ISA_BUS_ID, 0, MP_ALL_LAPICS, 0),
    Uint8Array.of(MpEntry.LOCAL_INTERRUPT, MpInterruptType.NMI, 0, 0, MP_ISA_BUS_ID, 0, MP_ALL_LAPICS, 1),
  );

  const tableLength = MP_CONFIG_HEADER_SIZE + entries.reduce((n, e) => n + e.length, 0);
  const out = new Uint8Array(MP_FLOATING_SIZE + tableLength);
  const view = new DataView(out.buffer);
  const tableAddr = addr + MP_FLOATING_SIZE;

  const floating = out.subarray(0, MP_FLOATING_SIZE);
  ascii(floating, 0, MP_FLOATING_SIGNATURE);
  view.setUint32(4, tableAddr, true);
  floating[8] = 1; // length in 16-byte paragraphs
  floating[9] = MP_SPEC_REV;
  // Feature byte 1 = 0: the configuration table is present (no default configuration); byte 2 bit 7 = 0: no
  // IMCR, virtual-wire mode.
  checksum(floating, 10);

  const table = out.subarray(MP_FLOATING_SIZE);
  const t = new DataView(table.buffer, table.byteOffset, table.byteLength);
  ascii(table, 0, MP_CONFIG_SIGNATURE);
  t.setUint16(4, tableLength, true);
  table[6] = MP_SPEC_REV;
  ascii(table, 8, OEM_ID);
  ascii(table, 16, PRODUCT_ID);
  t.setUint16(34, entries.length, true);
  t.setUint32(36, MP_LAPIC_ADDRESS, true);
  let at = MP_CONFIG_HEADER_SIZE;
  for (const e of entries) {
    table.set(e, at);
    at += e.length;
  }
  checksum(table, 7);
  return out;
}

/** The MP tables as a boot plan's memory write at {@link Layout.MP_TABLE} (reserved in every memory map). */
export function mpTableWrite(cpus: number): MemoryWrite {
  return { addr: Layout.MP_TABLE, bytes: buildMpTable(cpus), what: 'MP table' };
}
