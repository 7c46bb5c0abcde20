import {
  Errno,
  ExitReason,
  type IoExit,
  KvmError,
  type KvmExit,
  SystemEventType,
  type Vcpu,
} from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { fakeVcpu, scriptedVcpu } from '../test/support/fake-vcpu.js';
import { Bus } from './devices/bus.js';
import { ExitPort } from './devices/exit-port.js';
import { Serial16550 } from './devices/serial.js';
import { describeExit, ExitStatus, exitStatus, RunLoop, type RunOutcome } from './run-loop.js';

const out = (port: number, bytes: number[], size = 1): IoExit => ({
  reason: 'io',
  code: ExitReason.IO,
  direction: 1,
  size,
  port,
  count: bytes.length / size,
  data: Uint8Array.from(bytes),
});
const input = (port: number, size: number): IoExit => ({
  reason: 'io',
  code: ExitReason.IO,
  direction: 0,
  size,
  port,
  count: 1,
  data: new Uint8Array(size),
});
const intr: KvmExit = { reason: 'intr', code: ExitReason.INTR };

function machine(exits: KvmExit[], members = {}) {
  const ports = new Bus('port');
  const written: number[] = [];
  const vcpu = scriptedVcpu(exits, members);
  let loop: RunLoop | null = null;
  ports.register(
    0x3f8,
    8,
    new Serial16550(
      () => {},
      (b) => written.push(b),
    ),
    'COM1',
  );
  ports.register(0xf4, 4, new ExitPort((status) => loop?.finish({ kind: 'exit-port', status })), 'exit');
  return {
    vcpu,
    ports,
    written,
    make(options = {}) {
      loop = new RunLoop(vcpu, ports, new Bus('mmio'), options);
      return loop;
    },
  };
}

describe('RunLoop', () => {
  it('sends OUT exits to the port bus (rep outs item by item) and ends on the exit port', async () => {
    const m = machine([out(0x3f8, [0x68]), out(0x3f8, [0x69, 0x21, 0x0a]), out(0xf4, [0x05])]);
    const result = await m.make().run();
    expect(m.written).toEqual([0x68, 0x69, 0x21, 0x0a]);
    expect(result.outcome).toEqual({ kind: 'exit-port', status: 11 });
    expect(result.exits).toBe(3);
    expect(exitStatus(result.outcome)).toBe(11);
    expect(m.vcpu.runs).toBe(3);
  });

  it('fills IN exits from the bus: a device register, and all ones where nothing answers', async () => {
    const lsr = input(0x3fd, 1);
    const pci = input(0xcfc, 4);
    const m = machine([lsr, pci, out(0xf4, [0])]);
    await m.make().run();
    expect(lsr.data[0]).toBe(0x60);
    expect([...pci.data]).toEqual([0xff, 0xff, 0xff, 0xff]);
  });

  it('reports a triple fault with the RIP at the SHUTDOWN exit', async () => {
    const m = machine([{ reason: 'shutdown', code: ExitReason.SHUTDOWN }], {
      getRegs: () => ({ rip: 0xfff0n }),
    });
    const result = await m.make().run();
    expect(result.outcome).toEqual({ kind: 'triple-fault', rip: 0xfff0n });
    expect(result.reason).toBe('guest triple-faulted (KVM_EXIT_SHUTDOWN) at RIP 0xfff0');
    expect(exitStatus(result.outcome)).toBe(ExitStatus.TRIPLE_FAULT);
  });

  it('maps system events and internal errors to their outcomes', async () => {
    const event = (type: number): KvmExit => ({
      reason: 'system_event',
      code: ExitReason.SYSTEM_EVENT,
      type,
      data: [],
    });
    expect(
      (
        await machine([event(SystemEventType.SHUTDOWN)])
          .make()
          .run()
      ).outcome,
    ).toEqual({ kind: 'poweroff' });
    expect(
      (
        await machine([event(SystemEventType.RESET)])
          .make()
          .run()
      ).outcome,
    ).toEqual({ kind: 'reset' });
    const internal: KvmExit = {
      reason: 'internal_error',
      code: ExitReason.INTERNAL_ERROR,
      suberror: 1,
      data: [0x10n],
    };
    const result = await machine([internal]).make().run();
    expect(result.reason).toBe('internal error: KVM_EXIT_INTERNAL_ERROR EMULATION (data 0x10)');
    expect(exitStatus(result.outcome)).toBe(ExitStatus.INTERNAL_ERROR);
    const debug: KvmExit = {
      reason: 'debug',
      code: ExitReason.DEBUG,
      exception: 1,
      pc: 0n,
      dr6: 0n,
      dr7: 0n,
    };
    expect((await machine([debug]).make().run()).reason).toMatch(/unexpected exit 'debug'/);
  });

  it('times out a guest that never ends, yielding to the event loop while it runs', async () => {
    let yields = 0;
    const vcpu = fakeVcpu({ run: () => intr });
    const loop = new RunLoop(vcpu, new Bus('port'), new Bus('mmio'), {
      timeoutSeconds: 0.05,
      onYield: () => {
        yields++;
      },
    });
    const result = await loop.run();
    expect(result.outcome).toEqual({ kind: 'timeout', seconds: 0.05 });
    expect(exitStatus(result.outcome)).toBe(ExitStatus.TIMEOUT);
    expect(yields).toBeGreaterThan(1);
  });

  it('stops when finish() is called from the event loop, and makes the next run() return at once', async () => {
    const vcpu = fakeVcpu({ run: () => intr });
    const loop = new RunLoop(vcpu, new Bus('port'), new Bus('mmio'));
    setTimeout(() => loop.finish({ kind: 'stopped', by: 'SIGINT' }), 20);
    const result = await loop.run();
    expect(result.outcome).toEqual({ kind: 'stopped', by: 'SIGINT' });
    expect(vcpu.immediateExit).toBe(true);
    expect(exitStatus(result.outcome)).toBe(130);
  });

  it('traces every exit on one line', async () => {
    const lines: string[] = [];
    const m = machine([out(0x3f8, [0x41]), out(0xf4, [1])]);
    await m.make({ trace: (line: string) => lines.push(line) }).run();
    expect(lines).toEqual(['io out port 0x3f8 size 1 value 0x41', 'io out port 0xf4 size 1 value 0x1']);
    expect(describeExit({ reason: 'hlt', code: ExitReason.HLT })).toBe('hlt');
  });

  it('gives every outcome a distinct status class: 0 for clean ends, odd for the port, even for the VMM', () => {
    const outcomes: RunOutcome[] = [
      { kind: 'poweroff' },
      { kind: 'reset' },
      { kind: 'halted' },
      { kind: 'triple-fault', rip: null },
      { kind: 'internal-error', detail: '' },
      { kind: 'timeout', seconds: 1 },
      { kind: 'stopped', by: 'x' },
    ];
    expect(outcomes.map(exitStatus)).toEqual([0, 0, 0, 4, 6, 8, 130]);
  });
});

/**
 * A vCPU whose `runAsync()` stays pending, as a KVM_RUN on its own thread does, until `immediateExit` is set
 * (the kick the core asks for) or a scripted exit is released with `step()`.
 */
function threadedVcpu(id: number, exits: (KvmExit | Error)[]) {
  const queue = [...exits];
  let pending: ((exit: KvmExit) => void) | null = null;
  let failing: ((error: Error) => void) | null = null;
  const state = { immediateExit: false, runs: 0 };
  const vcpu = {
    id,
    get immediateExit() {
      return state.immediateExit;
    },
    set immediateExit(value: boolean) {
      state.immediateExit = value;
      if (value && pending) {
        const resolve = pending;
        pending = null;
        resolve(intr);
      }
    },
    getRegs: () => ({ rip: 0x1234n }),
    runAsync() {
      state.runs++;
      if (state.immediateExit) return Promise.resolve(intr);
      return new Promise<KvmExit>((resolve, reject) => {
        pending = resolve;
        failing = reject;
      });
    },
  } as unknown as Vcpu;
  return {
    vcpu,
    state,
    /** Whether a run is in flight, waiting for `step`. */
    get waiting() {
      return pending !== null;
    },
    /** Lets the pending run return the next scripted exit (or fail with the scripted error). */
    step() {
      const next = queue.shift();
      if (!next || !pending) throw new Error('nothing to step');
      const [resolve, reject] = [pending, failing];
      pending = null;
      if (next instanceof Error) reject?.(next);
      else resolve(next);
    },
  };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Turns of the event loop until `ready()` holds. A vCPU's loop may yield (setImmediate) between an exit and its
 * next run when a slice has passed, which on a slow machine takes more than one turn.
 */
async function until(ready: () => boolean): Promise<void> {
  for (let k = 0; k < 1000 && !ready(); k++) await tick();
  expect(ready()).toBe(true);
}

describe('RunLoop with several vCPUs', () => {
  it('awaits every vCPU at once when they have runAsync, all exits to the same buses', async () => {
    const ports = new Bus('port');
    const seen: string[] = [];
    ports.register(0x510, 1, { read: () => 0, write: (_, __, v) => seen.push(`id ${v}`) }, 'ids');
    const a = threadedVcpu(0, [out(0x510, [0]), out(0x510, [2])]);
    const b = threadedVcpu(1, [out(0x510, [1]), { reason: 'shutdown', code: ExitReason.SHUTDOWN }]);
    const lines: string[] = [];
    const loop = new RunLoop([a.vcpu, b.vcpu], ports, new Bus('mmio'), { trace: (l) => lines.push(l) });
    const running = loop.run();
    await until(() => a.waiting && b.waiting);
    // Both runs are in flight at once: vCPU 1 exits while vCPU 0 is still in its first run.
    expect([a.state.runs, b.state.runs]).toEqual([1, 1]);
    b.step();
    await until(() => b.waiting);
    a.step();
    await until(() => a.waiting);
    a.step();
    await until(() => a.waiting);
    // A triple fault on vCPU 1 ends the run and kicks vCPU 0 out of its pending run.
    b.step();
    const result = await running;
    expect(seen).toEqual(['id 1', 'id 0', 'id 2']);
    expect(result.outcome).toEqual({ kind: 'triple-fault', rip: 0x1234n });
    expect(a.state.immediateExit).toBe(true);
    expect(lines).toContain('cpu1 io out port 0x510 size 1 value 0x1');
    // vCPU 0's run, pending when vCPU 1 faulted, came back as an INTR exit.
    expect(lines.slice(-2)).toEqual(['cpu1 shutdown', 'cpu0 intr']);
  });

  it("runs a vCPU again after KVM_RUN's EAGAIN (an AP that took INIT/SIPI), and stops all on finish()", async () => {
    const a = threadedVcpu(0, []);
    const b = threadedVcpu(1, [new KvmError('KVM_RUN', Errno.EAGAIN, 'the AP took INIT and SIPI')]);
    const loop = new RunLoop([a.vcpu, b.vcpu], new Bus('port'), new Bus('mmio'));
    const running = loop.run();
    await until(() => b.waiting);
    b.step();
    await until(() => b.state.runs === 2);
    loop.finish({ kind: 'stopped', by: 'SIGINT' });
    const result = await running;
    expect(result.outcome).toEqual({ kind: 'stopped', by: 'SIGINT' });
    expect([a.state.immediateExit, b.state.immediateExit]).toEqual([true, true]);
  });

  it('stops the others and raises the error when a vCPU fails', async () => {
    const a = threadedVcpu(0, []);
    const b = threadedVcpu(1, [new KvmError('KVM_RUN', Errno.EFAULT, 'bad address')]);
    const running = new RunLoop([a.vcpu, b.vcpu], new Bus('port'), new Bus('mmio')).run();
    await until(() => b.waiting);
    b.step();
    await expect(running).rejects.toThrow(/KVM_RUN: EFAULT/);
    expect(a.state.immediateExit).toBe(true);
  });

  it('runs vCPUs without runAsync in turn, one run() each', async () => {
    const order: number[] = [];
    const vcpus = [0, 1, 2].map((id) =>
      fakeVcpu({
        id,
        runAsync: undefined,
        run: () => {
          order.push(id);
          return order.length >= 7 ? out(0xf4, [0]) : intr;
        },
      }),
    );
    const ports = new Bus('port');
    let loop: RunLoop | null = null;
    ports.register(0xf4, 4, new ExitPort((status) => loop?.finish({ kind: 'exit-port', status })), 'exit');
    loop = new RunLoop(vcpus, ports, new Bus('mmio'));
    const result = await loop.run();
    expect(order).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect(result.outcome).toEqual({ kind: 'exit-port', status: 1 });
  });
});
