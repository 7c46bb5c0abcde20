// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  FROZEN_QUIET_S,
  FreezeWatch,
  frozenMessage,
  HEARTBEAT_S,
  parseCpuSeconds,
  processCpuSeconds,
  qemuWasIdle,
} from './freeze-watch.mjs';

describe('parseCpuSeconds', () => {
  it('adds utime and stime (fields 14 and 15) in USER_HZ ticks, whatever the command name holds', () => {
    const tail = '1 2 3 4 5 6 7 8 9 10 1234 566 7 8 20 0 1 0 100 200 300';
    assert.equal(parseCpuSeconds(`42 (qemu-system-x86) S ${tail}`), 18);
    assert.equal(parseCpuSeconds(`42 (a ) b (c)) R ${tail}`), 18);
    assert.equal(parseCpuSeconds('42 (x) S 1 2'), null);
  });

  it('reads a live process and gives null once it is gone', async () => {
    const burner = spawn(process.execPath, ['-e', 'const end = Date.now() + 400; while (Date.now() < end);']);
    const exited = new Promise((resolve) => burner.on('exit', resolve));
    const early = processCpuSeconds(burner.pid);
    assert.equal(typeof early, 'number');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(processCpuSeconds(burner.pid) >= early);
    await exited;
    assert.equal(processCpuSeconds(burner.pid), null);
    assert.equal(
      processCpuSeconds(1, () => {
        throw new Error('ENOENT');
      }),
      null,
    );
  });
});

describe('FreezeWatch', () => {
  /** Feeds a sample every 5 s from `from` to `to` with `cpuAt(t)`, returning the first verdict. */
  function run(watch, from, to, cpuAt) {
    for (let t = from; t <= to; t += 5) {
      const verdict = watch.sample(t, cpuAt(t));
      if (verdict !== null) return { at: t, ...verdict };
    }
    return null;
  }

  it('calls a machine frozen once its console has been silent for the quiet window, not before', () => {
    const watch = new FreezeWatch();
    // Busy for 100 s with output all along, then silent from 100 s on, QEMU idle.
    for (let t = 0; t <= 100; t += 5) {
      watch.output(t);
      assert.equal(watch.sample(t, t * 0.9), null);
    }
    const verdict = run(watch, 105, 400, () => 90);
    assert.deepEqual(verdict, {
      at: 100 + FROZEN_QUIET_S,
      quietS: FROZEN_QUIET_S,
      cpuS: 0,
      windowS: FROZEN_QUIET_S / 2,
    });
    assert.equal(qemuWasIdle(verdict), true);
  });

  it('calls a silent machine frozen whether QEMU idles or spins, and says which', () => {
    const spinning = run(new FreezeWatch(), 0, 600, (t) => t);
    assert.equal(spinning.at, FROZEN_QUIET_S);
    assert.equal(qemuWasIdle(spinning), false);
    assert.match(frozenMessage(spinning), /QEMU busy \(30\.0 s of CPU in the last 30 s\);/);
  });

  it('never calls a guest that keeps printing its heartbeat frozen, busy or idle', () => {
    for (const cpuAt of [() => 3, (t) => t]) {
      const watch = new FreezeWatch();
      for (let t = 0; t <= 600; t += 5) {
        if (t % HEARTBEAT_S === 0) watch.output(t);
        assert.equal(watch.sample(t, cpuAt(t)), null, `at ${t} s`);
      }
    }
  });

  it('measures the CPU over the last half of the silence only, where the machine surely was frozen', () => {
    const watch = new FreezeWatch({ quietS: 20 });
    // Silent from the start; busy until 10 s (a heartbeat's worth of live running), then flat.
    const cpuAt = (t) => Math.min(t, 10);
    assert.deepEqual(run(watch, 0, 20, cpuAt), { at: 20, quietS: 20, cpuS: 0, windowS: 10 });
    assert.deepEqual(new FreezeWatch({ quietS: 20 }).sample(20, 5), { quietS: 20, cpuS: 0, windowS: 0 });
    for (let t = 25; t <= 50; t += 5) watch.sample(t, cpuAt(t));
    assert.deepEqual(watch.sample(55, cpuAt(55) + 4), { quietS: 55, cpuS: 4, windowS: 10 });
    assert.equal(watch.lastOutputAt, 0);
  });

  it('says in one line that the reference machine froze, not kvm-ts', () => {
    const message = frozenMessage({ quietS: 60.4, cpuS: 0.03, windowS: 30 });
    assert.doesNotMatch(message, /\n/);
    assert.match(
      message,
      /^the nested machine froze: no console output, not even the guest's heartbeat, for 60 s, QEMU idle \(0\.0 s of CPU in the last 30 s\); .*not kvm-ts$/,
    );
  });
});
