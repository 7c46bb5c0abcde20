// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  FROZEN_MAX_CPU_S,
  FROZEN_QUIET_S,
  FreezeWatch,
  frozenMessage,
  parseCpuSeconds,
  processCpuSeconds,
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

  it('calls a silent machine whose QEMU uses no CPU frozen after the quiet window, not before', () => {
    const watch = new FreezeWatch();
    // Busy for 100 s (output all along), then silent and flat from 100 s on.
    for (let t = 0; t <= 100; t += 5) {
      watch.output(t);
      assert.equal(watch.sample(t, t * 0.9), null);
    }
    const verdict = run(watch, 105, 400, () => 90);
    assert.deepEqual(verdict, { at: 100 + FROZEN_QUIET_S, quietS: FROZEN_QUIET_S, cpuS: 0 });
  });

  it('does not call a silent guest that still uses CPU frozen (a test of ours spinning quietly)', () => {
    const watch = new FreezeWatch();
    watch.output(0);
    assert.equal(
      run(watch, 0, 600, (t) => t * 0.5),
      null,
    );
  });

  it('does not call an idle guest that keeps printing its heartbeat frozen', () => {
    const watch = new FreezeWatch();
    for (let t = 0; t <= 600; t += 5) {
      if (t % 15 === 0) watch.output(t);
      assert.equal(watch.sample(t, 3), null, `at ${t} s`);
    }
  });

  it('counts only the CPU used inside the window, and needs a full window of samples', () => {
    const watch = new FreezeWatch({ quietS: 20, maxCpuS: FROZEN_MAX_CPU_S });
    // Silent from the start; busy until 30 s, then flat: frozen 20 s after the CPU stopped.
    const cpuAt = (t) => Math.min(t, 30);
    assert.equal(run(watch, 0, 45, cpuAt), null);
    assert.deepEqual(run(watch, 50, 100, cpuAt), { at: 50, quietS: 50, cpuS: 0 });
    // A watch that starts sampling late cannot judge before it has a window's worth of samples.
    const late = new FreezeWatch({ quietS: 20, startedAt: 0 });
    assert.equal(late.sample(100, 5), null);
    assert.equal(late.sample(110, 5), null);
    assert.deepEqual(late.sample(120, 5), { quietS: 120, cpuS: 0 });
  });

  it('says in one line that the reference machine froze, not kvm-ts', () => {
    const message = frozenMessage({ quietS: 60.4, cpuS: 0.03 });
    assert.doesNotMatch(message, /\n/);
    assert.match(message, /^the nested machine froze: QEMU used 0\.03 s of CPU .* for 60 s; .*not kvm-ts$/);
  });
});
