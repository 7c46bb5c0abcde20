import { describe, expect, it } from 'vitest';
import { backends, runExample } from './support/run-example.js';

describe.each(backends)('custom-device on $name', ({ name, skip }) => {
  if (skip) console.log(`custom-device on ${name} skipped: ${skip}`);

  it.skipIf(skip)('completes the IN and the MMIO read from the VMM-side devices', () => {
    const run = runExample('custom-device', [name]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.split('\n')).toEqual([
      `backend: ${name}`,
      'io   in  port 0xe9: e9',
      'mmio write 0xd0000: 28 00 00 00',
      'mmio write 0xd0004: 02 00 00 00',
      // 40 + 2, read back by the guest, which only prints '*' if the MMIO read returned it.
      'mmio read  0xd0000: 2a 00 00 00',
      'io   out port 0xe9: 2a',
      'io   out port 0xe9: 0a',
      'exit hlt',
      'counter value: 42',
      'debug console output: "*\\n"',
      '',
    ]);
  });
});
