/**
 * DIV r/m64 (SDM Vol. 2 DIV): RDX:RAX by a 64-bit divisor, the quotient in RAX and the remainder in RDX; #DE when
 * the divisor is zero or the quotient does not fit 64 bits (RDX at or above the divisor), with RAX and RDX left
 * as they were. Dividends with RDX above zero take the base-2^16 long division (cpu/divide128.ts), the others
 * a double division; both run in the run loop and in compiled blocks.
 */
import type { Kvm } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setBlockThreshold } from '../src/cpu/blocks.js';
import { backend } from '../src/index.js';
import { machineFor } from './support/listing.js';
import { faultFrame, installFaultHandlers } from './support/long-faults.js';

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('DIV r/m64 tests');
});
afterEach(() => kvm.close());

const CODE = 0x1000;
/** #DE. */
const VECTORS = [0];
/** DIV RBX; HLT. */
const DIV_RBX = [0x48, 0xf7, 0xf3, 0xf4];
const M64 = (1n << 64n) - 1n;

interface Outcome {
  fault: number;
  rip: bigint;
  rax: bigint;
  rdx: bigint;
}

/** Runs DIV RBX on RDX:RAX = `n` and RBX = `d`, with blocks compiled after `threshold` visits (-1: never). */
function run(n: bigint, d: bigint, threshold: number): Outcome {
  const old = setBlockThreshold(threshold);
  try {
    using m = machineFor(kvm, 'long', { bytes: Uint8Array.from(DIV_RBX), origin: CODE, labels: {} });
    installFaultHandlers(m, VECTORS);
    m.vcpu.setRegs({
      ...m.vcpu.getRegs(),
      rip: BigInt(CODE),
      rax: n & M64,
      rdx: n >> 64n,
      rbx: d,
      rflags: 2n,
    });
    expect(m.vcpu.run().reason).toBe('hlt');
    const regs = m.vcpu.getRegs();
    const fault = faultFrame(m, VECTORS);
    return {
      fault: fault.vector,
      rip: fault.vector < 0 ? regs.rip : fault.rip,
      rax: regs.rax,
      rdx: regs.rdx,
    };
  } finally {
    setBlockThreshold(old);
  }
}

/** Runs with the interpreter alone and with a block compiled at once; both must end the same. */
function runBoth(n: bigint, d: bigint): Outcome {
  const plain = run(n, d, -1);
  expect(run(n, d, 1), 'compiled blocks').toEqual(plain);
  return plain;
}

describe('DIV r/m64', () => {
  it('divides 128-bit dividends whose quotient fits 64 bits', () => {
    const cases: [bigint, bigint][] = [
      [0x1234_5678_9abc_def0_0fed_cba9_8765_4321n, 0x8000_0000_0000_0001n],
      [(0x7fff_ffff_ffff_ffffn << 64n) | M64, 0x8000_0000_0000_0000n],
      [(M64 - 1n) * M64 + (M64 - 1n), M64],
      [0x1_0000_0000n << 32n, 3n],
      [0xffff_0000_ffffn << 64n, 0x1_0000_0000_0000n],
      [123_456_789n, 10n],
    ];
    for (const [n, d] of cases) {
      const o = runBoth(n, d);
      expect(o, `${n.toString(16)} / ${d.toString(16)}`).toEqual({
        fault: -1,
        rip: BigInt(CODE + 4),
        rax: n / d,
        rdx: n % d,
      });
    }
  });

  it('raises #DE, RAX and RDX unchanged, when RDX is at or above the divisor', () => {
    for (const [n, d] of [
      [0x5n << 64n, 5n],
      [(0x8000_0000_0000_0000n << 64n) | 1n, 0x7fff_ffff_ffff_ffffn],
      [M64 << 64n, M64],
    ] as const) {
      expect(runBoth(n, d)).toEqual({ fault: 0, rip: BigInt(CODE), rax: n & M64, rdx: n >> 64n });
    }
  });

  it('raises #DE for a zero divisor', () => {
    const n = 0x1234n << 64n;
    expect(runBoth(n, 0n)).toEqual({ fault: 0, rip: BigInt(CODE), rax: 0n, rdx: 0x1234n });
  });
});
