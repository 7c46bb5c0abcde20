import { describe, expect, it } from 'vitest';
import { withApicId, withHypervisorBit } from './machine.js';

describe('withHypervisorBit', () => {
  it('sets CPUID.1:ECX bit 31 and leaves other leaves alone', () => {
    const leaf = (fn: number, ecx: number) => ({
      function: fn,
      index: 0,
      flags: 0,
      eax: 1,
      ebx: 2,
      ecx,
      edx: 4,
    });
    const out = withHypervisorBit([leaf(0, 0x6c65746e), leaf(1, 0x00000201), leaf(0x40000000, 0x4b4d564b)]);
    expect(out.map((e) => e.ecx)).toEqual([0x6c65746e, 0x80000201, 0x4b4d564b]);
    expect(out[1]).toMatchObject({ eax: 1, ebx: 2, edx: 4 });
  });
});

describe('withApicId', () => {
  it("puts the vCPU's APIC id in CPUID.1:EBX[31:24] and the x2APIC id of leaves 0xB and 0x1F", () => {
    const leaf = (fn: number, index: number, ebx: number, edx: number) => ({
      function: fn,
      index,
      flags: 0,
      eax: 7,
      ebx,
      ecx: 9,
      edx,
    });
    const entries = [
      leaf(1, 0, 0x00010800, 0x178bfbff),
      leaf(0xb, 0, 1, 0),
      leaf(0xb, 1, 2, 0),
      leaf(0x1f, 0, 1, 0),
      leaf(4, 0, 0x1c0003f, 0),
    ];
    const out = withApicId(entries, 3);
    // Bits 23-0 of leaf 1's EBX (brand index, CLFLUSH size, logical count) are kept.
    expect(out[0]).toMatchObject({ ebx: 0x03010800, edx: 0x178bfbff, eax: 7, ecx: 9 });
    expect(out.slice(1, 4).map((e) => e.edx)).toEqual([3, 3, 3]);
    expect(out[4]).toEqual(entries[4]);
    expect(withApicId(entries, 200)[0].ebx).toBe(0xc8010800);
    // The input is left as it was: each vCPU gets its own copy.
    expect(entries[0].ebx).toBe(0x00010800);
  });
});
