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
