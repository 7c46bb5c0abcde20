// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_COMMAND, DEFAULT_TIMEOUT_S, parseArgs } from './args.mjs';

describe('parseArgs', () => {
  it('gives the native tests and the default timeout without arguments', () => {
    assert.deepEqual(parseArgs([]), {
      command: DEFAULT_COMMAND,
      timeoutS: DEFAULT_TIMEOUT_S,
      keep: false,
      fullNodeModules: false,
      cacheDir: null,
      help: false,
    });
  });

  it('reads --command, --timeout and flags in both spellings, ignoring the -- pnpm passes on', () => {
    const options = parseArgs([
      '--',
      '--command',
      'echo a=b',
      '--timeout=30',
      '--keep',
      '--full-node-modules',
    ]);
    assert.equal(options.command, 'echo a=b');
    assert.equal(options.timeoutS, 30);
    assert.equal(options.keep, true);
    assert.equal(options.fullNodeModules, true);
    assert.equal(parseArgs(['--command=node -e "x=1"']).command, 'node -e "x=1"');
    assert.equal(parseArgs(['-h']).help, true);
  });

  it('refuses unknown arguments, missing values, bad timeouts and values on flags', () => {
    assert.throws(() => parseArgs(['--bogus']), /unknown argument "--bogus"/);
    assert.throws(() => parseArgs(['--command']), /--command needs a value/);
    assert.throws(() => parseArgs(['--command', '  ']), /must not be empty/);
    for (const bad of ['0', '-5', 'ten', '1e3', '']) {
      assert.throws(() => parseArgs(['--timeout', bad]), /--timeout wants a positive number/, bad);
    }
    assert.throws(() => parseArgs(['--keep=yes']), /--keep takes no value/);
  });
});
