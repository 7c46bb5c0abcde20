/**
 * Results the manuals bound rather than define, so the host CPU is no oracle for them: RCPPS/RSQRTPS (relative
 * error at most 1.5 * 2^-12, SDM Vol. 2 RCPPS) and the x87 transcendentals (FSIN, FCOS, FSINCOS, FPTAN,
 * FPATAN, F2XM1, FYL2X, FYL2XP1), which the emulator computes in binary64 (x87-arith.ts): checked against
 * Math within a relative 2^-50.
 */
import type { Kvm } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backend } from '../../src/index.js';
import { DATA, type Guest, hexBytes, sseGuest } from './guest.js';

let kvm: Kvm;
let g: Guest;
beforeEach(() => {
  kvm = backend.open('approximation tests');
  g = sseGuest(kvm);
});
afterEach(() => {
  g.machine.close();
  kvm.close();
});

function close(actual: number, expected: number, rel: number): void {
  if (!Number.isFinite(expected)) {
    expect(actual).toBe(expected);
    return;
  }
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(Math.abs(expected) * rel + 1e-300);
}

describe('RCPPS and RSQRTPS', () => {
  it('stay within 1.5 * 2^-12 of 1/x and 1/sqrt(x), and RCPSS keeps the upper lanes', () => {
    const inputs = [1, 3, 0.1, 12345.678, 1e-20, 7e30, 2, 0.75];
    for (let k = 0; k < inputs.length; k += 4) {
      const lanes = new Float32Array(inputs.slice(k, k + 4));
      g.setXmm(1, new Uint8Array(lanes.buffer));
      g.run(hexBytes('0F 53 C1 0F 52 D1')); // rcpps xmm0, xmm1; rsqrtps xmm2, xmm1
      const rcp = new Float32Array(g.xmm(0).buffer);
      const rsqrt = new Float32Array(g.xmm(2).buffer);
      for (let j = 0; j < 4; j++) {
        close(rcp[j], 1 / lanes[j], 1.5 * 2 ** -12);
        close(rsqrt[j], 1 / Math.sqrt(lanes[j]), 1.5 * 2 ** -12);
      }
    }
    g.setXmm(0, new Uint8Array(new Float32Array([9, 9, 9, 9]).buffer));
    g.setXmm(1, new Uint8Array(new Float32Array([4, 5, 6, 7]).buffer));
    g.run(hexBytes('F3 0F 53 C1')); // rcpss xmm0, xmm1
    const out = new Float32Array(g.xmm(0).buffer);
    close(out[0], 0.25, 1.5 * 2 ** -12);
    expect(Array.from(out.subarray(1))).toEqual([9, 9, 9]);
  });
});

describe('x87 transcendentals', () => {
  /** Loads `x` (and `y` into ST(1)) as doubles, runs `op`, stores ST(0) (and ST(1)) as doubles. */
  function x87(op: string, x: number, y = 0): [number, number] {
    const view = new DataView(g.ram.buffer, g.ram.byteOffset + DATA, 32);
    view.setFloat64(0, x, true);
    view.setFloat64(8, y, true);
    view.setFloat64(16, Number.NaN, true);
    view.setFloat64(24, Number.NaN, true);
    // fninit; fld qword [rbx+8]; fld qword [rbx]; <op>; fstp qword [rbx+16]; fstp qword [rbx+24]
    g.run(hexBytes(`DB E3 DD 43 08 DD 03 ${op} DD 5B 10 DD 5B 18`), { rbx: BigInt(DATA) });
    return [view.getFloat64(16, true), view.getFloat64(24, true)];
  }

  it('FSIN, FCOS, FSINCOS, FPTAN', () => {
    for (const x of [0.5, -1.25, 3, 100.75]) {
      close(x87('D9 FE', x)[0], Math.sin(x), 2 ** -50);
      close(x87('D9 FF', x)[0], Math.cos(x), 2 ** -50);
      const [cos, sin] = x87('D9 FB', x);
      close(sin, Math.sin(x), 2 ** -50);
      close(cos, Math.cos(x), 2 ** -50);
      const [one, tan] = x87('D9 F2', x);
      expect(one).toBe(1);
      close(tan, Math.tan(x), 2 ** -50);
    }
  });

  it('FPATAN, F2XM1, FYL2X, FYL2XP1', () => {
    close(x87('D9 F3', 2, 3)[0], Math.atan2(3, 2), 2 ** -50);
    close(x87('D9 F0', 0.5)[0], 2 ** 0.5 - 1, 2 ** -50);
    close(x87('D9 F1', 10, 3)[0], 3 * Math.log2(10), 2 ** -50);
    close(x87('D9 F9', 0.25, 2)[0], (2 * Math.log1p(0.25)) / Math.LN2, 2 ** -50);
  });
});
