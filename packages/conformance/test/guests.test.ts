import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allGuests } from '../src/guests/generated.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

function hasNasm(): boolean {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const nasm = hasNasm();
if (!nasm)
  console.warn('[conformance] nasm is not installed: the byte-identical rebuild of the guests is skipped');

describe('generated guest programs', () => {
  it.each(allGuests.map((g) => [g.name, g] as const))(
    '%s matches its recorded sha256 and starts at its load address',
    (_, guest) => {
      expect(createHash('sha256').update(guest.bytes).digest('hex')).toBe(guest.sha256);
      expect(guest.symbols.start).toBe(guest.loadAddress);
      expect(guest.bytes.length).toBeGreaterThan(0);
      expect(guest.loadAddress + guest.bytes.length).toBeLessThanOrEqual(guest.symbols.STACK_TOP);
    },
  );

  it.skipIf(!nasm)('rebuild from guests/*.asm with nasm byte for byte (guests:check)', () => {
    const output = execFileSync('node', [join(packageDir, 'scripts', 'build-guests.mjs'), '--check'], {
      encoding: 'utf8',
    });
    expect(output).toContain('matches');
  });
});
