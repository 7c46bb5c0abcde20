import { describe, expect, it } from 'vitest';
import { backends, runExample } from './support/run-example.js';

describe.each(backends)('hello-real-mode on $name', ({ name, skip }) => {
  if (skip) console.log(`hello-real-mode on ${name} skipped: ${skip}`);

  it.skipIf(skip)('prints the three OUT exits of "Hi\\n" and the HLT exit', () => {
    const run = runExample('hello-real-mode', [name]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^backend: ${name} \\(${name} was chosen by the caller\\)$`)),
      'exit io: out port 0x3f8 "H"',
      'exit io: out port 0x3f8 "i"',
      'exit io: out port 0x3f8 "\\n"',
      'exit hlt',
      '',
    ]);
  });

  it.skipIf(skip)('takes the backend from KVM_TS_BACKEND when given no argument', () => {
    const run = runExample('hello-real-mode', [], { KVM_TS_BACKEND: name });
    expect(run.stdout).toContain(`backend: ${name} (${name} was chosen by KVM_TS_BACKEND)`);
    expect(run.stdout).toContain('exit hlt');
  });
});
