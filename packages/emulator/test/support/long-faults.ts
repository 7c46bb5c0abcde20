/**
 * Exception handlers for long-mode tests that need to see a fault's frame: a GDT (64-bit code at 08h, data at
 * 10h), a 64-bit TSS whose IST1 is a good stack, and IDT gates through IST1 whose handlers halt, each at its own
 * address. Going through IST1 means a fault caused by a bad RSP is still delivered (SDM Vol. 3A 6.14.5).
 */
import type { Machine } from '@kvm-ts/conformance';

const GDT = 0x500;
const IDT = 0x600;
const TSS = 0x7000;
/** The IST1 stack's top; a fault's frame is the 48 bytes below it (error code, RIP, CS, RFLAGS, RSP, SS). */
const IST_TOP = 0x27000;
/** Handler k is a HLT at HANDLERS + 16 * k. */
const HANDLERS = 0x3000;

/** What a halted run tells about a fault: its vector (-1: none was taken), error code, RIP and RSP. */
export interface FaultFrame {
  vector: number;
  error: bigint;
  rip: bigint;
  rsp: bigint;
}

/** Installs the tables and handlers for `vectors` in `m`'s memory and loads GDTR, IDTR and TR. */
export function installFaultHandlers(m: Machine, vectors: number[]): void {
  const view = new DataView(m.ram.buffer, m.ram.byteOffset);
  view.setBigUint64(GDT + 8, 0x00209a0000000000n, true);
  view.setBigUint64(GDT + 16, 0x0000920000000000n, true);
  view.setBigUint64(TSS + 0x24, BigInt(IST_TOP), true);
  vectors.forEach((vector, k) => {
    const handler = HANDLERS + 16 * k;
    const gate = IDT + vector * 16;
    view.setUint16(gate, handler & 0xffff, true);
    view.setUint16(gate + 2, 0x08, true);
    view.setUint8(gate + 4, 1); // IST1
    view.setUint8(gate + 5, 0x8e);
    view.setUint16(gate + 6, handler >>> 16, true);
    m.ram[handler] = 0xf4;
  });
  const sregs = m.vcpu.getSregs();
  m.vcpu.setSregs({
    ...sregs,
    gdt: { base: BigInt(GDT), limit: 23 },
    idt: { base: BigInt(IDT), limit: 0xfff },
    tr: { ...sregs.tr, base: BigInt(TSS), limit: 0x67, selector: 0x18, type: 11, present: 1, s: 0 },
  });
}

/** After the run halted: which of `vectors` was taken (by the halted handler's address) and its frame. */
export function faultFrame(m: Machine, vectors: number[]): FaultFrame {
  const view = new DataView(m.ram.buffer, m.ram.byteOffset);
  const rip = Number(m.vcpu.getRegs().rip);
  const k = vectors.findIndex((_, n) => rip === HANDLERS + 16 * n + 1);
  const frame = IST_TOP - 48;
  return {
    vector: k < 0 ? -1 : vectors[k],
    error: view.getBigUint64(frame, true),
    rip: view.getBigUint64(frame + 8, true),
    rsp: view.getBigUint64(frame + 32, true),
  };
}
