/**
 * A page stops being a code page once writes have dropped all the code cached from it (CodeCache.drop): its
 * writes then take the TLB's fast path, which does not look for cached code. These tests check that code run
 * from such a page afterwards is its new bytes, through the interpreter and through compiled blocks.
 */
import type { Kvm } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setBlockThreshold } from '../src/cpu/blocks.js';
import type { Cpu } from '../src/cpu/cpu.js';
import { backend } from '../src/index.js';
import { expectExit, expectOut, listing, machineFor } from './support/listing.js';

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('code page tests');
});
afterEach(() => kvm.close());
const PATCH_PAGE = 0x9000;

// Calls `mov eax, 1; ret` at 0x9000, overwrites both instructions 100 times, writes `mov eax, 2; ret` there and
// calls it, then patches the immediate to 3 and calls it again; OUT 0x10-0x13 report each step.
const program = listing(`
E8FB7F0000                 call 0x9000
E710                       out 0x10, eax
B964000000                 mov ecx, 100
                           again:
C7050090000090909090       mov dword [0x9000], 0x90909090
C7050490000090909090       mov dword [0x9004], 0x90909090
E2EA                       loop again
E711                       out 0x11, eax
C70500900000B8020000       mov dword [0x9000], 0x000002b8
C7050490000000C30000       mov dword [0x9004], 0x0000c300
E8C37F0000                 call 0x9000
E712                       out 0x12, eax
C6050190000003             mov byte [0x9001], 3
E8B57F0000                 call 0x9000
E713                       out 0x13, eax
F4                         hlt
`);

function codePages(vcpu: unknown): Map<number, unknown> {
  return (vcpu as { cpu: Cpu }).cpu.code.pages;
}

describe('a page whose cached code was all overwritten', () => {
  let threshold = -1;
  afterEach(() => {
    setBlockThreshold(threshold);
  });

  for (const visits of [-1, 1]) {
    it(`is no longer a code page, and runs its new bytes when called again (blocks after ${visits} visits)`, () => {
      threshold = setBlockThreshold(visits);
      using m = machineFor(kvm, 'protected', program);
      m.ram.set([0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3], PATCH_PAGE);
      expect(expectOut(m.vcpu, 0x10)).toBe(1);
      expect(codePages(m.vcpu).has(PATCH_PAGE)).toBe(true);
      expectOut(m.vcpu, 0x11);
      // The first write dropped its only cached instructions: an ordinary page since.
      expect(codePages(m.vcpu).has(PATCH_PAGE)).toBe(false);
      expect(expectOut(m.vcpu, 0x12)).toBe(2);
      expect(codePages(m.vcpu).has(PATCH_PAGE)).toBe(true);
      // A write into the MOV leaves the RET cached: still a code page, and the MOV is decoded again.
      expect(expectOut(m.vcpu, 0x13)).toBe(3);
      expectExit(m.vcpu, 'hlt');
    });
  }
});

// 64-bit: `nop; mov eax, 1; ret` at 0x9000 is called, then rewritten while the page holds its cached code,
// through the code page's own write tag once a first write (to 0x9800) gave the TLB it: a byte store, REP MOVSB
// and REP STOSB (their first element alone, the rest at once: string.ts), and a store that crosses into the page
// from the one below. Each call after reports EAX; the last OUT reports the crossing store read back. A call
// before each rewrite has the run compare the page with its snapshot first (CodeCache.page), so that comparison
// cannot be what finds the rewrite.
const rewrites = listing(`
E8FB7F0000                 call 0x9000
E710                       out 0x10, eax
E8F47F0000                 call 0x9000
C604250098000007           mov byte [0x9800], 0x7
C604250290000004           mov byte [0x9002], 0x4
E8DF7F0000                 call 0x9000
E711                       out 0x11, eax
E8D87F0000                 call 0x9000
BE00A00000                 mov esi, 0xa000
BF00900000                 mov edi, 0x9000
B907000000                 mov ecx, 0x7
F3A4                       rep movsb
E8C27F0000                 call 0x9000
E712                       out 0x12, eax
E8BB7F0000                 call 0x9000
B890510000                 mov eax, 0x5190
BF00900000                 mov edi, 0x9000
B906000000                 mov ecx, 0x6
F3AA                       rep stosb
E8A57F0000                 call 0x9000
E713                       out 0x13, eax
E89E7F0000                 call 0x9000
C604250490000000           mov byte [0x9004], 0x0
48B878563412B80B0000       mov rax,  0x00000bb8_12345678
48890425FC8F0000           mov [0x8ffc], rax
E87F7F0000                 call 0x9000
E714                       out 0x14, eax
488B0425FC8F0000           mov rax, [0x8ffc]
48C1E820                   shr rax, 32
E715                       out 0x15, eax
F4                         hlt
`);

describe('writes to a page that holds cached code', () => {
  let threshold = -1;
  afterEach(() => {
    setBlockThreshold(threshold);
  });

  for (const visits of [-1, 1]) {
    it(`drop the code they overwrite, without a page walk each (blocks after ${visits} visits)`, () => {
      threshold = setBlockThreshold(visits);
      using m = machineFor(kvm, 'long', rewrites);
      m.ram.set([0x90, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3], PATCH_PAGE);
      // What REP MOVSB copies in: nop; mov eax, 9; ret. Its first byte rewrites the NOP, the rest the MOV.
      m.ram.set([0x90, 0xb8, 0x09, 0x00, 0x00, 0x00, 0xc3], 0xa000);
      expect(expectOut(m.vcpu, 0x10)).toBe(1);
      expect(expectOut(m.vcpu, 0x11)).toBe(4);
      expect(expectOut(m.vcpu, 0x12)).toBe(9);
      // Six NOPs before the RET: EAX as it was.
      expect(expectOut(m.vcpu, 0x13)).toBe(0x5190);
      expect(codePages(m.vcpu).has(PATCH_PAGE)).toBe(true);
      // The crossing store's high half (b8 0b 00 00) and the zero at 0x9004 made `mov eax, 11`.
      expect(expectOut(m.vcpu, 0x14)).toBe(11);
      expect(expectOut(m.vcpu, 0x15)).toBe(0xbb8);
      expectExit(m.vcpu, 'hlt');
      const cpu = (m.vcpu as unknown as { cpu: Cpu }).cpu;
      expect(cpu.tlbCS.includes(PATCH_PAGE / 4096), 'the code page has a code-write tag').toBe(true);
    });
  }
});
