import { ExitReason, IoDirection, type KvmExit, type Vcpu } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { describeExit, runExpecting, runUntil, snapshotExit } from '../src/setup/run.js';

/** A vCPU stand-in that replays exits, reusing one data buffer as a backend over kvm_run would. */
function scriptedVcpu(exits: (() => KvmExit)[]): Vcpu {
  let i = 0;
  return {
    run: () => {
      const next = exits[Math.min(i, exits.length - 1)];
      i++;
      return next();
    },
  } as unknown as Vcpu;
}

const shared = new Uint8Array(8);
const ioOut = (port: number, byte: number): KvmExit => {
  shared[0] = byte;
  return {
    reason: 'io',
    code: ExitReason.IO,
    direction: IoDirection.OUT,
    size: 1,
    port,
    count: 1,
    data: shared.subarray(0, 1),
  };
};
const hlt: KvmExit = { reason: 'hlt', code: ExitReason.HLT };

describe('run helpers', () => {
  it('runUntil stops at the accepted exit and keeps copies of every exit', () => {
    const vcpu = scriptedVcpu([() => ioOut(0x10, 1), () => ioOut(0x10, 2), () => hlt]);
    const exits = runUntil(vcpu, (e) => e.reason === 'hlt');
    expect(exits.map((e) => e.reason)).toEqual(['io', 'io', 'hlt']);
    expect(exits.flatMap((e) => (e.reason === 'io' ? Array.from(e.data) : []))).toEqual([1, 2]);
  });

  it('runUntil gives up after the bound instead of spinning', () => {
    const vcpu = scriptedVcpu([() => ioOut(0x10, 7)]);
    expect(() => runUntil(vcpu, (e) => e.reason === 'hlt', { maxExits: 5 })).toThrow(/within 5 exits/);
  });

  it('runExpecting names the exit it got when it is not the expected one', () => {
    expect(() => runExpecting(scriptedVcpu([() => ioOut(0x10, 0xab)]), 'hlt')).toThrow(
      'expected a hlt exit, got io out port 0x10 size 1 count 1 data [ab]',
    );
  });

  it('a snapshot does not change when the backend reuses its buffer', () => {
    const first = snapshotExit(ioOut(0x12, 0x11));
    ioOut(0x12, 0x22);
    expect(first.reason === 'io' && Array.from(first.data)).toEqual([0x11]);
    expect(describeExit(first)).toBe('io out port 0x12 size 1 count 1 data [11]');
  });
});
