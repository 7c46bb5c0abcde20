/**
 * REP MOVS moves whole in-page spans at once (string.ts `bulkMove32`); these check it against an
 * element-by-element model: overlapping spans (a repeating pattern, not memmove), a source that crosses a
 * page, and a destination that is not element-aligned.
 */
import type { Kvm } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectExit, listing, machineFor } from '../../test/support/listing.js';
import { backend } from '../index.js';

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('string tests');
});
afterEach(() => kvm.close());

/** Forward MOVS of `count` elements of `size` bytes, one element at a time, as the SDM describes it. */
function model(ram: Uint8Array, src: number, dst: number, count: number, size: number): void {
  for (let k = 0; k < count; k++) {
    for (let b = 0; b < size; b++) ram[dst + k * size + b] = ram[src + k * size + b];
  }
}

describe('REP MOVS', () => {
  it('matches an element-by-element copy: overlap, page crossing, unaligned destination', () => {
    const code = listing(`
    FC                         cld
    BE00300000                 mov esi, 0x3000
    BF01300000                 mov edi, 0x3001
    B910000000                 mov ecx, 16
    F3A4                       rep movsb
    BEF04F0000                 mov esi, 0x4ff0
    BF00600000                 mov edi, 0x6000
    B90C000000                 mov ecx, 12
    F3A5                       rep movsd
    BE00700000                 mov esi, 0x7000
    BF02800000                 mov edi, 0x8002
    B9E8030000                 mov ecx, 1000
    F366A5                     rep movsw
    F4                         hlt
    `);
    using m = machineFor(kvm, 'protected', code);
    for (let a = 0x3000; a < 0x9000; a++) m.ram[a] = (a * 7 + (a >> 8)) & 0xff;
    const expected = m.ram.slice();
    model(expected, 0x3000, 0x3001, 16, 1);
    model(expected, 0x4ff0, 0x6000, 12, 4);
    model(expected, 0x7000, 0x8002, 1000, 2);
    expectExit(m.vcpu, 'hlt');
    expect(
      Buffer.from(m.ram.subarray(0x3000, 0x9800)).equals(Buffer.from(expected.subarray(0x3000, 0x9800))),
    ).toBe(true);
    // The overlapping copy repeats the first byte.
    expect([...m.ram.subarray(0x3000, 0x3011)]).toEqual(new Array(17).fill(m.ram[0x3000]));
    const regs = m.vcpu.getRegs();
    expect([regs.rsi, regs.rdi, regs.rcx]).toEqual([0x7000n + 2000n, 0x8002n + 2000n, 0n]);
  });
});
