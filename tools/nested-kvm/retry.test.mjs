// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SUITES } from './args.mjs';
import {
  isTestFailureLine,
  MAX_FREEZE_RETRIES,
  planRetryAfterFreeze,
  skippableAfterFreeze,
} from './retry.mjs';

const names = (plan) => plan.suites?.map(({ name }) => name) ?? null;

describe('planRetryAfterFreeze', () => {
  const passed = (...list) => list.map((name) => ({ name, status: 0 }));

  it('reruns the suite the machine froze in and those after it, not the ones that passed', () => {
    const plan = planRetryAfterFreeze({
      suites: DEFAULT_SUITES,
      finished: passed('native', 'examples', 'cli'),
      failureSeen: false,
      retriesDone: 0,
    });
    assert.deepEqual(names(plan), ['linux']);
    const early = planRetryAfterFreeze({
      suites: DEFAULT_SUITES,
      finished: passed('native'),
      failureSeen: false,
      retriesDone: 0,
    });
    assert.deepEqual(names(early), ['examples', 'cli', 'linux']);
  });

  it('never retries after a suite or a test failed while the machine was alive', () => {
    const failedSuite = planRetryAfterFreeze({
      suites: DEFAULT_SUITES,
      finished: [...passed('native'), { name: 'examples', status: 1 }],
      failureSeen: false,
      retriesDone: 0,
    });
    assert.equal(failedSuite.suites, null);
    assert.match(failedSuite.why, /examples \(status 1\)/);
    const failedTest = planRetryAfterFreeze({
      suites: DEFAULT_SUITES,
      finished: passed('native', 'examples', 'cli'),
      failureSeen: true,
      retriesDone: 0,
    });
    assert.equal(failedTest.suites, null);
    assert.match(failedTest.why, /a test of suite linux failed before the freeze/);
  });

  it('retries at most MAX_FREEZE_RETRIES times, and never a --command', () => {
    const again = planRetryAfterFreeze({
      suites: DEFAULT_SUITES,
      finished: [],
      failureSeen: false,
      retriesDone: MAX_FREEZE_RETRIES,
    });
    assert.equal(again.suites, null);
    assert.match(again.why, new RegExp(`already booted ${MAX_FREEZE_RETRIES} fresh machine`));
    const command = planRetryAfterFreeze({ suites: null, finished: [], failureSeen: false, retriesDone: 0 });
    assert.equal(command.suites, null);
    assert.match(command.why, /--command/);
  });

  it('has nothing to retry when every suite had finished', () => {
    const plan = planRetryAfterFreeze({
      suites: DEFAULT_SUITES,
      finished: passed('native', 'examples', 'cli', 'linux'),
      failureSeen: false,
      retriesDone: 0,
    });
    assert.equal(plan.suites, null);
    assert.match(plan.why, /every suite had finished/);
  });
});

describe('isTestFailureLine', () => {
  it("knows vitest's verbose failure lines from passing and skipped ones", () => {
    assert.equal(isTestFailureLine('   × boots to a shell 301234ms\r'), true);
    assert.equal(isTestFailureLine(' FAIL  test/linux-boot.test.ts > Linux through kvm-ts run'), true);
    assert.equal(isTestFailureLine('   ✓ boots to a shell 41234ms'), false);
    assert.equal(isTestFailureLine('   ↓ skipped test'), false);
    assert.equal(isTestFailureLine('[guest] heartbeat 12.3 s'), false);
    assert.equal(isTestFailureLine('FAILED to do something'), false);
  });
});

describe('planRetryAfterFreeze with --freeze-retries', () => {
  it('stops at the run’s own limit', () => {
    const at = (retriesDone, maxRetries) =>
      planRetryAfterFreeze({
        suites: DEFAULT_SUITES,
        finished: [],
        failureSeen: false,
        retriesDone,
        maxRetries,
      });
    assert.deepEqual(names(at(1, 2)), ['native', 'examples', 'cli', 'linux']);
    assert.equal(at(2, 2).suites, null);
    assert.match(at(2, 2).why, /already booted 2/);
    assert.equal(at(0, 0).suites, null);
  });
});

describe('skippableAfterFreeze', () => {
  const passed = (...list) => list.map((name) => ({ name, status: 0 }));
  const linuxOnly = DEFAULT_SUITES.filter(({ name }) => name === 'linux');

  it('lets the suites --may-skip names end unfinished when nothing failed', () => {
    const last = { suites: linuxOnly, finished: [], failureSeen: false, maySkip: ['linux'] };
    assert.deepEqual(skippableAfterFreeze(last), ['linux']);
    const whole = { suites: DEFAULT_SUITES, finished: passed('native', 'examples', 'cli') };
    assert.deepEqual(skippableAfterFreeze({ ...whole, failureSeen: false, maySkip: ['linux'] }), ['linux']);
  });

  it('fails the run when another suite is unfinished, anything failed, or nothing may be skipped', () => {
    const base = { suites: DEFAULT_SUITES, failureSeen: false, maySkip: ['linux'] };
    assert.equal(skippableAfterFreeze({ ...base, finished: passed('native', 'examples') }), null);
    assert.equal(
      skippableAfterFreeze({
        ...base,
        finished: [...passed('native', 'examples'), { name: 'cli', status: 1 }],
      }),
      null,
    );
    assert.equal(
      skippableAfterFreeze({ ...base, finished: passed('native', 'examples', 'cli'), failureSeen: true }),
      null,
    );
    assert.equal(
      skippableAfterFreeze({ ...base, finished: passed('native', 'examples', 'cli'), maySkip: [] }),
      null,
    );
    assert.equal(skippableAfterFreeze({ ...base, suites: null, finished: [] }), null);
  });
});
