/**
 * Guest code for the emulator's tests, written as assembler listings: each line is the instruction's bytes
 * in hex and its disassembly (nasm's listing, kept in the test as documentation), or a `label:` line. The
 * bytes are what runs; the text is what a reader checks them against.
 */
import { createMachine, type GuestProgram, type Machine } from '@kvm-ts/conformance';
import type { Kvm, KvmExit, Vcpu } from '@kvm-ts/core';
import { expect } from 'vitest';

/** A parsed listing: its bytes (loaded at `origin`) and the addresses of its labels. */
export interface Listing {
  readonly bytes: Uint8Array;
  readonly origin: number;
  readonly labels: Record<string, number>;
}

/** Parses `HEX  disassembly` and `label:` lines into bytes and label addresses. */
export function listing(text: string, origin = 0x1000): Listing {
  const bytes: number[] = [];
  const labels: Record<string, number> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const label = /^([A-Za-z_][\w.]*):$/.exec(line);
    if (label) {
      labels[label[1]] = origin + bytes.length;
      continue;
    }
    const hex = /^([0-9A-F]+)(\s|$)/.exec(line);
    if (!hex || hex[1].length % 2) throw new Error(`not a listing line: ${line}`);
    for (let k = 0; k < hex[1].length; k += 2) bytes.push(Number.parseInt(hex[1].slice(k, k + 2), 16));
  }
  return { bytes: Uint8Array.from(bytes), origin, labels };
}

/** A conformance-suite machine (RAM at 0, one vCPU in `mode`) running `code`. */
export function machineFor(
  kvm: Kvm,
  mode: 'real' | 'protected' | 'long',
  code: Listing,
  options: { irqchip?: boolean; supportedCpuid?: boolean } = {},
): Machine {
  const guest: GuestProgram = {
    name: 'test',
    source: 'test',
    loadAddress: code.origin,
    sha256: '',
    bytes: code.bytes,
    symbols: code.labels,
  };
  return createMachine(kvm, { mode, guest, ...options });
}

/** Runs until an exit that is not INTR (the budget), at most `limit` times. */
export function runToExit(vcpu: Vcpu, limit = 20): KvmExit {
  for (let k = 0; k < limit; k++) {
    const exit = vcpu.run();
    if (exit.reason !== 'intr') return exit;
  }
  throw new Error('the guest made no exit');
}

/** Runs and expects an OUT of `size` bytes to `port`, returning the value written. */
export function expectOut(vcpu: Vcpu, port: number, size = 4): number {
  const exit = runToExit(vcpu);
  expect(exit.reason === 'io' ? `out ${exit.direction} ${exit.port.toString(16)}` : exit.reason).toBe(
    `out 1 ${port.toString(16)}`,
  );
  if (exit.reason !== 'io') return -1;
  expect(exit.size).toBe(size);
  let v = 0;
  for (let k = 0; k < size; k++) v += exit.data[k] * 2 ** (8 * k);
  return v;
}

/** Runs and expects the given exit reason. */
export function expectExit(vcpu: Vcpu, reason: KvmExit['reason']): KvmExit {
  const exit = runToExit(vcpu);
  expect(exit.reason).toBe(reason);
  return exit;
}

/** Writes a 32-bit protected-mode interrupt gate (SDM Vol. 3A Figure 6-2) at `idt + vector * 8`. */
export function writeGate32(
  ram: Uint8Array,
  idt: number,
  vector: number,
  selector: number,
  offset: number,
  dpl = 0,
): void {
  const v = new DataView(ram.buffer, ram.byteOffset);
  v.setUint16(idt + vector * 8, offset & 0xffff, true);
  v.setUint16(idt + vector * 8 + 2, selector, true);
  v.setUint8(idt + vector * 8 + 4, 0);
  v.setUint8(idt + vector * 8 + 5, 0x8e | (dpl << 5));
  v.setUint16(idt + vector * 8 + 6, offset >>> 16, true);
}
