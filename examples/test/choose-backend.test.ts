import { describe, expect, it } from 'vitest';
import { noKvmReason, runExample } from './support/run-example.js';

describe('choose-backend', () => {
  it('opens each choice through openKvm and says what it chose and why', () => {
    const run = runExample('choose-backend', []);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = run.stdout;
    expect(out).toContain('KVM_TS_BACKEND is not set: openKvm() without a backend option means auto\n');
    expect(out).toContain(
      'emulator: opened emulator (flavour emulator) because emulator was chosen by the caller\n',
    );
    expect(out).toContain('emulator: KVM API version 12, guest says 42\n');
    if (noKvmReason) {
      console.log(`choose-backend: ${noKvmReason}; checking that auto falls back to the emulator`);
      expect(out).toMatch(/^native probe: not usable: .+$/m);
      expect(out).toMatch(
        /^auto: opened emulator \(flavour emulator\) because auto: .+; using the emulator$/m,
      );
      expect(out).toMatch(/^native: unavailable: E[A-Z]+: .+$/m);
    } else {
      expect(out).toMatch(/^native probe: usable: \/dev\/kvm can be opened \((\w+)\)$/m);
      expect(out).toMatch(
        /^auto: opened native \(flavour \w+\) because auto: \/dev\/kvm can be opened \(\w+\)$/m,
      );
      expect(out).toMatch(/^native: opened native \(flavour \w+\) because native was chosen by the caller$/m);
      expect(out).toContain('auto: KVM API version 12, guest says 42\n');
      expect(out).toContain('native: KVM API version 12, guest says 42\n');
    }
  });

  it('reports an unknown backend as a KvmError and goes on, and names KVM_TS_BACKEND when it is set', () => {
    const run = runExample('choose-backend', ['no-such-backend', 'emulator'], { KVM_TS_BACKEND: 'emulator' });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(
      'KVM_TS_BACKEND=emulator: openKvm() without a backend option opens that one\n',
    );
    expect(run.stdout).toMatch(
      /^no-such-backend: unavailable: ENODEV: .*unknown kvm-ts backend 'no-such-backend'/m,
    );
    // The failure of the first choice does not leak into the second.
    expect(run.stdout).toMatch(/emulator: KVM API version 12, guest says 42\n$/);
  });
});
