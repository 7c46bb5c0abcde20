import { describe, expect, it } from 'vitest';
import { backends, runExample } from './support/run-example.js';

describe.each(backends)('long-mode on $name', ({ name, skip }) => {
  if (skip) console.log(`long-mode on ${name} skipped: ${skip}`);

  it.skipIf(skip)(
    'enters 64-bit mode from KVM_SET_SREGS and runs RIP-relative code and a 64-bit immediate',
    () => {
      const run = runExample('long-mode', [name]);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      // What KVM_GET_SREGS reads back: PE|ET|PG, the PML4, PAE, LME|LMA.
      expect(run.stdout).toContain('step 4: cr0=0x80000011 cr3=0x1000 cr4=0x20 efer=0x500');
      expect(run.stdout).toContain('step 5: rip=0x8000, which translates to physical 0x8000 (valid=1)');
      expect(run.stdout).toMatch(
        /exit io x\d+: the guest wrote "Hello from 64-bit long mode\\n" to port 0x3f8\n/,
      );
      expect(run.stdout).toMatch(/exit hlt: rax=0x123456789abcdef\n$/);
    },
  );
});
