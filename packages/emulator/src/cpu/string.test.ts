/**
 * REP MOVS and REP STOS move whole in-page spans at once (string.ts `bulkMove32`, and `bulkString64` in 64-bit
 * mode); these check them against an element-by-element model: overlapping spans (a repeating pattern, not
 * memmove), spans that cross a page, and destinations that are not element-aligned.
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

/**
 * MOVS of `count` elements of `size` bytes, one element at a time, as the SDM describes it: from the ones at
 * `src` and `dst` upwards, or downwards when `down` (DF set).
 */
function model(ram: Uint8Array, src: number, dst: number, count: number, size: number, down = false): void {
  const step = down ? -size : size;
  for (let k = 0; k < count; k++) {
    for (let b = 0; b < size; b++) ram[dst + k * step + b] = ram[src + k * step + b];
  }
}

/** Fills `ram[from..to)` with a byte pattern that differs from page to page. */
function scramble(ram: Uint8Array, from: number, to: number, factor: number): void {
  for (let a = from; a < to; a++) ram[a] = (a * factor + (a >> 8)) & 0xff;
}

/** Expects `ram[from..to)` to hold the bytes of `expected` there (compared whole: one message, not 40 K). */
function expectBytes(ram: Uint8Array, expected: Uint8Array, from: number, to: number): void {
  expect(Buffer.from(ram.subarray(from, to)).equals(Buffer.from(expected.subarray(from, to)))).toBe(true);
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
    scramble(m.ram, 0x3000, 0x9000, 7);
    const expected = m.ram.slice();
    model(expected, 0x3000, 0x3001, 16, 1);
    model(expected, 0x4ff0, 0x6000, 12, 4);
    model(expected, 0x7000, 0x8002, 1000, 2);
    expectExit(m.vcpu, 'hlt');
    expectBytes(m.ram, expected, 0x3000, 0x9800);
    // The overlapping copy repeats the first byte.
    expect([...m.ram.subarray(0x3000, 0x3011)]).toEqual(new Array(17).fill(m.ram[0x3000]));
    const regs = m.vcpu.getRegs();
    expect([regs.rsi, regs.rdi, regs.rcx]).toEqual([0x7000n + 2000n, 0x8002n + 2000n, 0n]);
  });

  it('in 64-bit mode, REP STOS and REP MOVS match the element-by-element model', () => {
    const code = listing(`
    FC                         cld
    48B88877665544332211       mov rax, 0x1122334455667788
    BF08000200                 mov edi, 0x20008
    B958020000                 mov ecx, 600
    F348AB                     rep stosq
    B0A5                       mov al, 0xa5
    BF03200200                 mov edi, 0x22003
    B988130000                 mov ecx, 5000
    F3AA                       rep stosb
    31C0                       xor eax, eax
    BF00400200                 mov edi, 0x24000
    B900020000                 mov ecx, 512
    F348AB                     rep stosq
    BE00600200                 mov esi, 0x26000
    BF01600200                 mov edi, 0x26001
    B9B80B0000                 mov ecx, 3000
    F3A4                       rep movsb
    BE04800200                 mov esi, 0x28004
    BF00A00200                 mov edi, 0x2a000
    B9BC020000                 mov ecx, 700
    F348A5                     rep movsq
    BE01B10200                 mov esi, 0x2b101
    BF00B10200                 mov edi, 0x2b100
    B900070000                 mov ecx, 1792
    F3A4                       rep movsb
    F4                         hlt
    `);
    using m = machineFor(kvm, 'long', code);
    scramble(m.ram, 0x20000, 0x2c000, 13);
    const expected = m.ram.slice();
    const quad = [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11];
    for (let k = 0; k < 600 * 8; k++) expected[0x20008 + k] = quad[k % 8];
    expected.fill(0xa5, 0x22003, 0x22003 + 5000);
    expected.fill(0, 0x24000, 0x24000 + 4096);
    model(expected, 0x26000, 0x26001, 3000, 1);
    model(expected, 0x28004, 0x2a000, 700, 8);
    // Down onto a source just above it: what a memmove leaves.
    model(expected, 0x2b101, 0x2b100, 1792, 1);
    expectExit(m.vcpu, 'hlt');
    expectBytes(m.ram, expected, 0x20000, 0x2c000);
    const regs = m.vcpu.getRegs();
    expect([regs.rsi, regs.rdi, regs.rcx]).toEqual([0x2b101n + 1792n, 0x2b100n + 1792n, 0n]);
  });

  it('in 64-bit mode with DF set, REP MOVS and REP STOS run downwards as the element-by-element model', () => {
    // The first copy is the decompressor's: the image moved up over itself, last quadword first. The second goes
    // down onto a source just above it (a repeating pattern, not memmove), the third starts mid-page.
    const code = listing(`
    FD                         std
    BEF8CF0200                 mov esi, 0x2cff8
    BFF8E00200                 mov edi, 0x2e0f8
    B900060000                 mov ecx, 1536
    F348A5                     rep movsq
    BE09400300                 mov esi, 0x34009
    BF07400300                 mov edi, 0x34007
    B9D0070000                 mov ecx, 2000
    F3A4                       rep movsb
    BE0A600300                 mov esi, 0x3600a
    BF02800300                 mov edi, 0x38002
    B920030000                 mov ecx, 800
    F3A5                       rep movsd
    48B88877665544332211       mov rax, 0x1122334455667788
    BFF0A10300                 mov edi, 0x3a1f0
    B958020000                 mov ecx, 600
    F348AB                     rep stosq
    B0A5                       mov al, 0xa5
    BF03C00300                 mov edi, 0x3c003
    B988130000                 mov ecx, 5000
    F3AA                       rep stosb
    FC                         cld
    F4                         hlt
    `);
    using m = machineFor(kvm, 'long', code);
    scramble(m.ram, 0x20000, 0x3e000, 11);
    const expected = m.ram.slice();
    model(expected, 0x2cff8, 0x2e0f8, 1536, 8, true);
    model(expected, 0x34009, 0x34007, 2000, 1, true);
    model(expected, 0x3600a, 0x38002, 800, 4, true);
    const quad = [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11];
    for (let k = 0; k < 600 * 8; k++) expected[0x3a1f8 - 600 * 8 + k] = quad[k % 8];
    expected.fill(0xa5, 0x3c004 - 5000, 0x3c004);
    expectExit(m.vcpu, 'hlt');
    expectBytes(m.ram, expected, 0x20000, 0x3e000);
    const regs = m.vcpu.getRegs();
    expect([regs.rsi, regs.rdi, regs.rcx]).toEqual([0x3600an - 3200n, 0x3c003n - 5000n, 0n]);
    expect(regs.rflags & 0x400n).toBe(0n);
  });
});
