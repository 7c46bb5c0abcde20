import { describe, expect, it } from 'vitest';
import { backends, runExample } from './support/run-example.js';

describe.each(backends)('dirty-log on $name', ({ name, skip }) => {
  if (skip) console.log(`dirty-log on ${name} skipped: ${skip}`);

  it.skipIf(skip)('reports the pages written since the last read, and ENOENT for an untracked slot', () => {
    const run = runExample('dirty-log', [name]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.split('\n')).toEqual([
      `backend: ${name}`,
      'before running: dirty pages of slot 1: none',
      'at the checkpoint: dirty pages of slot 1: 1 (0x11000=0x11), 4 (0x14000=0x44), 5 (0x15000=0x55)',
      // Page 4 written again, page 9 for the first time; page 5 only read.
      'at the HLT: dirty pages of slot 1: 4 (0x14000=0x44), 9 (0x19000=0x99)',
      'read again: dirty pages of slot 1: none',
      'slot 0 (not tracked): KVM_GET_DIRTY_LOG fails with ENOENT',
      '',
    ]);
  });
});
