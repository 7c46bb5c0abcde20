import { describe, expect, it } from 'vitest';
import { withHypervisorBit } from './machine.js';

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
