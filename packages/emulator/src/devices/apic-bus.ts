/**
 * The interrupt messages that travel between the IOAPIC and the local APICs, and between local APICs (IPIs),
 * and the bus that picks their destinations (SDM Vol. 3A 11.6.2 "Determining IPI Destination"; 82093AA
 * datasheet, redirection table). KVM does the same in `arch/x86/kvm/lapic.c` (`kvm_apic_match_dest`).
 */
import type { Lapic } from './lapic.js';

/** Delivery modes (ICR and redirection-entry bits 10-8). */
export const DeliveryMode = {
  FIXED: 0,
  LOWEST_PRIORITY: 1,
  SMI: 2,
  NMI: 4,
  INIT: 5,
  STARTUP: 6,
  EXTINT: 7,
} as const;

/** Destination shorthands (ICR bits 19-18). */
export const Shorthand = {
  NONE: 0,
  SELF: 1,
  ALL_INCLUDING_SELF: 2,
  ALL_EXCLUDING_SELF: 3,
} as const;

/** Destination modes (ICR and redirection-entry bit 11). */
export const DestMode = {
  PHYSICAL: 0,
  LOGICAL: 1,
} as const;

/** One interrupt message on the APIC bus. */
export interface ApicMessage {
  vector: number;
  /** {@link DeliveryMode}. */
  deliveryMode: number;
  /** {@link DestMode}. */
  destMode: number;
  /** The destination field: 8 bits (xAPIC, IOAPIC) or 32 bits (x2APIC ICR). */
  dest: number;
  /** Whether `dest` is in x2APIC (32-bit) format, where 0xffffffff is the broadcast. */
  x2apicDest: boolean;
  /** {@link Shorthand}. */
  shorthand: number;
  /** 0 edge, 1 level. */
  triggerMode: number;
  /** 1 assert, 0 de-assert (only an INIT level de-assert uses 0). */
  level: number;
}

/** The broadcast destination of xAPIC and IOAPIC messages. */
const XAPIC_BROADCAST = 0xff;
/** The broadcast destination of x2APIC messages. */
const X2APIC_BROADCAST = 0xffffffff;

/** Connects a VM's local APICs; the IOAPIC and every local APIC send through it. */
export class ApicBus {
  private readonly apics: Lapic[] = [];

  /** Adds a vCPU's local APIC. */
  attach(lapic: Lapic): void {
    this.apics.push(lapic);
  }

  /** The local APICs a message selects (before lowest-priority arbitration). */
  destinations(msg: ApicMessage, source: Lapic | null): Lapic[] {
    switch (msg.shorthand) {
      case Shorthand.SELF:
        return source ? [source] : [];
      case Shorthand.ALL_INCLUDING_SELF:
        return [...this.apics];
      case Shorthand.ALL_EXCLUDING_SELF:
        return this.apics.filter((a) => a !== source);
      default:
        break;
    }
    const broadcast = msg.x2apicDest ? msg.dest === X2APIC_BROADCAST : (msg.dest & 0xff) === XAPIC_BROADCAST;
    return this.apics.filter((a) =>
      msg.destMode === DestMode.LOGICAL
        ? a.matchesLogical(msg.dest, broadcast)
        : broadcast || a.apicId === msg.dest,
    );
  }

  /**
   * Delivers a message; returns how many local APICs accepted it. Lowest-priority delivery goes to the one
   * matching APIC with the lowest processor priority (ties: the lowest APIC ID), as the SDM's arbitration does.
   */
  deliver(msg: ApicMessage, source: Lapic | null = null): number {
    let targets = this.destinations(msg, source);
    if (msg.deliveryMode === DeliveryMode.LOWEST_PRIORITY && targets.length > 1) {
      let best = targets[0];
      for (const a of targets) {
        if (a.ppr < best.ppr || (a.ppr === best.ppr && a.apicId < best.apicId)) best = a;
      }
      targets = [best];
    }
    let accepted = 0;
    for (const a of targets) if (a.accept(msg)) accepted++;
    return accepted;
  }
}
