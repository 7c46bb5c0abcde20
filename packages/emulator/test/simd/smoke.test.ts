import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kvm } from '@kvm-ts/core';
import { backend } from '../../src/index.js';
import { hexBytes, sseGuest } from './guest.js';

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('sse smoke');
});
afterEach(() => kvm.close());

describe('smoke', () => {
  it('pcmpeqb + pmovmskb', () => {
    const g = sseGuest(kvm);
    g.setXmm(1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    g.setXmm(2, [1, 0, 3, 0, 5, 0, 7, 0, 9, 0, 11, 0, 13, 0, 15, 0]);
    // pcmpeqb xmm1, xmm2 ; pmovmskb eax, xmm1
    const r = g.run(hexBytes('66 0F 74 CA 66 0F D7 C1'));
    expect(r.reason).toBe('hlt');
    expect(r.regs.rax).toBe(0x5555n);
  });
});
