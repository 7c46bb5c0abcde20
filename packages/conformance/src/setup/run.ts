import { IoDirection, type KvmExit, type Vcpu } from '@kvm-ts/core';

/**
 * The most exits any conformance run loop takes before it gives up: a broken backend then fails the test
 * instead of spinning forever.
 */
export const MAX_EXITS = 64;

/**
 * A copy of an exit that stays valid after the next `run()` (backends may reuse the exit object and its data
 * view, as `kvm_run` is one shared page).
 */
export type ExitSnapshot =
  | { reason: 'io'; direction: number; size: number; port: number; count: number; data: Uint8Array }
  | { reason: 'mmio'; physAddr: bigint; isWrite: boolean; len: number; data: Uint8Array }
  | { reason: 'debug'; exception: number; pc: bigint; dr6: bigint; dr7: bigint }
  | { reason: Exclude<KvmExit['reason'], 'io' | 'mmio' | 'debug'>; code: number };

/** Copies what matters of `exit` out of the backend's shared structures. */
export function snapshotExit(exit: KvmExit): ExitSnapshot {
  switch (exit.reason) {
    case 'io':
      return {
        reason: 'io',
        direction: exit.direction,
        size: exit.size,
        port: exit.port,
        count: exit.count,
        data: exit.data.slice(0, exit.size * exit.count),
      };
    case 'mmio':
      return {
        reason: 'mmio',
        physAddr: exit.physAddr,
        isWrite: exit.isWrite,
        len: exit.len,
        data: exit.data.slice(0, exit.len),
      };
    case 'debug':
      return { reason: 'debug', exception: exit.exception, pc: exit.pc, dr6: exit.dr6, dr7: exit.dr7 };
    default:
      return { reason: exit.reason, code: exit.code };
  }
}

/** One line describing an exit, for failure messages. */
export function describeExit(exit: KvmExit | ExitSnapshot): string {
  switch (exit.reason) {
    case 'io': {
      const data = Array.from(exit.data.subarray(0, exit.size * exit.count), (b) =>
        b.toString(16).padStart(2, '0'),
      );
      const direction = exit.direction === IoDirection.OUT ? 'out' : 'in';
      return `io ${direction} port 0x${exit.port.toString(16)} size ${exit.size} count ${exit.count} data [${data.join(' ')}]`;
    }
    case 'mmio':
      return `mmio ${exit.isWrite ? 'write' : 'read'} 0x${exit.physAddr.toString(16)} len ${exit.len}`;
    case 'debug':
      return `debug exception ${exit.exception} pc 0x${exit.pc.toString(16)}`;
    case 'internal_error':
      return 'suberror' in exit ? `internal_error suberror ${exit.suberror}` : 'internal_error';
    default:
      return exit.reason;
  }
}

/**
 * Runs the vCPU once and checks the exit is `reason`, returning it narrowed to that variant (the live object:
 * read or fill it before the next `run()`). Throws with a description of the exit otherwise.
 */
export function runExpecting<R extends KvmExit['reason']>(
  vcpu: Vcpu,
  reason: R,
): Extract<KvmExit, { reason: R }> {
  const exit = vcpu.run();
  if (exit.reason !== reason) {
    throw new Error(`expected a ${reason} exit, got ${describeExit(exit)}`);
  }
  return exit as Extract<KvmExit, { reason: R }>;
}

/**
 * Runs the vCPU until `stop` says so, at most `maxExits` times, and returns a snapshot of every exit
 * (the last is the one `stop` accepted). `handle` may complete an exit (fill IO-in or MMIO-read data) before
 * the next run. Throws when the bound is reached.
 */
export function runUntil(
  vcpu: Vcpu,
  stop: (exit: KvmExit) => boolean,
  options: { maxExits?: number; handle?: (exit: KvmExit) => void } = {},
): ExitSnapshot[] {
  const maxExits = options.maxExits ?? MAX_EXITS;
  const exits: ExitSnapshot[] = [];
  for (let i = 0; i < maxExits; i++) {
    const exit = vcpu.run();
    options.handle?.(exit);
    exits.push(snapshotExit(exit));
    if (stop(exit)) return exits;
  }
  const last = exits.slice(-3).map(describeExit).join('; ');
  throw new Error(`no stopping exit within ${maxExits} exits (last: ${last})`);
}
