// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_COMMAND, DEFAULT_SUITES, DEFAULT_TIMEOUT_S, parseArgs, suitesCommand } from './args.mjs';
import { MAX_FREEZE_RETRIES } from './retry.mjs';

describe('parseArgs', () => {
  it('gives the native tests and the default timeout without arguments', () => {
    assert.deepEqual(parseArgs([]), {
      command: DEFAULT_COMMAND,
      suites: DEFAULT_SUITES,
      timeoutS: DEFAULT_TIMEOUT_S,
      keep: false,
      fullNodeModules: false,
      cacheDir: null,
      systemQemu: false,
      freezeRetries: MAX_FREEZE_RETRIES,
      maySkip: [],
      help: false,
    });
  });

  it('reads --freeze-retries and --may-skip, and refuses counts past the limit and unknown suites', () => {
    const options = parseArgs(['--freeze-retries', '2', '--may-skip=linux']);
    assert.equal(options.freezeRetries, 2);
    assert.deepEqual(options.maySkip, ['linux']);
    assert.equal(parseArgs(['--freeze-retries=0']).freezeRetries, 0);
    assert.throws(() => parseArgs(['--freeze-retries', String(MAX_FREEZE_RETRIES + 1)]), /0 to 4/);
    assert.throws(() => parseArgs(['--freeze-retries', '1.5']), /whole number/);
    assert.throws(() => parseArgs(['--may-skip', 'linux,qemu']), /--may-skip wants names .*"qemu"/);
    assert.throws(() => parseArgs(['--may-skip', '']), /--may-skip wants names/);
  });

  it('reads --command, --timeout and flags in both spellings, ignoring the -- pnpm passes on', () => {
    const options = parseArgs([
      '--',
      '--command',
      'echo a=b',
      '--timeout=30',
      '--keep',
      '--full-node-modules',
      '--system-qemu',
    ]);
    assert.equal(options.command, 'echo a=b');
    assert.equal(options.suites, null);
    assert.equal(options.timeoutS, 30);
    assert.equal(options.keep, true);
    assert.equal(options.fullNodeModules, true);
    assert.equal(options.systemQemu, true);
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
    assert.throws(() => parseArgs(['--system-qemu=1']), /--system-qemu takes no value/);
    assert.throws(
      () => parseArgs(['--suites', 'cli,bogus']),
      /--suites wants names from native, .*got "bogus"/,
    );
    assert.throws(() => parseArgs(['--suites', ',']), /--suites wants names/);
  });
});

describe('suitesCommand', () => {
  /**
   * Runs the command for `suites` in a scratch root where each suite's folder has a fake
   * node_modules/vitest/vitest.mjs exiting with the status its suite name says (`pass`, `fail`).
   */
  function runSuites(suites, env = {}) {
    const root = mkdtempSync(join(tmpdir(), 'suites-'));
    try {
      const vitest = join(root, 'node_modules', 'vitest');
      mkdirSync(vitest, { recursive: true });
      writeFileSync(
        join(vitest, 'vitest.mjs'),
        [
          "const name = process.cwd().split('/').pop();",
          "console.log(['ran', name, ...process.argv.slice(2)].join(' '));",
          "process.exit(name.startsWith('fail') ? 1 : 0);",
        ].join('\n'),
      );
      for (const { dir } of suites) mkdirSync(join(root, dir), { recursive: true });
      const result = spawnSync('sh', ['-c', suitesCommand(suites)], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
      return { status: result.status, stdout: result.stdout };
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  it('runs every suite from its folder even after one fails, and fails if any failed', () => {
    const suites = [
      { name: 'a', dir: 'x/fail-a', files: [] },
      { name: 'b', dir: 'pass-b', files: ['test/one.test.ts'] },
    ];
    const failed = runSuites(suites);
    assert.equal(failed.status, 1);
    assert.match(failed.stdout, /\[suite\] a\nran fail-a run .*\n\[suite\] a status=1\n/);
    assert.match(failed.stdout, /\[suite\] b\nran pass-b run .* test\/one\.test\.ts\n\[suite\] b status=0\n/);
    assert.match(failed.stdout, /\[suite\] statuses: a=1 b=0\n/);
    assert.equal(runSuites([{ name: 'b', dir: 'pass-b', files: [] }]).status, 0);
  });

  it('fails a suite whose required file is missing instead of running it', () => {
    const suites = [{ name: 'c', dir: 'pass-c', files: [], requiresFileIn: 'NEEDED' }];
    const missing = runSuites(suites, { NEEDED: '/nonexistent/vmlinuz' });
    assert.equal(missing.status, 1);
    assert.doesNotMatch(missing.stdout, /ran pass-c/);
    assert.match(missing.stdout, /\[suite\] c: no file at \$NEEDED=\/nonexistent\/vmlinuz\n/);
    assert.equal(runSuites(suites, { NEEDED: process.execPath }).status, 0);
  });

  it('makes the default command run native, examples, the CLI and the Linux boot, and --suites pick some', () => {
    assert.deepEqual(
      DEFAULT_SUITES.map(({ name, dir }) => `${name}:${dir}`),
      ['native:packages/native', 'examples:examples', 'cli:apps/cli', 'linux:apps/cli'],
    );
    assert.match(DEFAULT_COMMAND, /\(cd apps\/cli && .* test\/cli\.test\.ts\)/);
    assert.match(DEFAULT_COMMAND, /\(cd apps\/cli && .* test\/linux-boot\.test\.ts\)/);
    const picked = parseArgs(['--suites', 'linux, native']);
    assert.deepEqual(
      picked.suites.map(({ name }) => name),
      ['native', 'linux'],
    );
    assert.match(picked.command, /^echo "\[suite\] native".*test\/linux-boot\.test\.ts/);
    assert.doesNotMatch(picked.command, /cli\.test\.ts|\(cd examples/);
  });
});
