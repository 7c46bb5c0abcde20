import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEMO_GUEST, DEMO_GUEST_SHA256 } from '../src/guests/generated.js';
import { hasNasm } from './support/nasm.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

if (!hasNasm) console.log('skipping the demo guest rebuild check: nasm is not installed');

describe('the committed demo guest', () => {
  it('is the bytes its hash says', () => {
    expect(createHash('sha256').update(DEMO_GUEST).digest('hex')).toBe(DEMO_GUEST_SHA256);
    expect(DEMO_GUEST[0]).toBe(0xfa); // cli
  });

  it.skipIf(!hasNasm)('rebuilds byte-identically from guests/demo.asm', () => {
    const check = spawnSync(process.execPath, [join(root, 'guests', 'build.mjs'), '--check'], {
      encoding: 'utf8',
    });
    expect(check.stderr).toContain('matches');
    expect(check.status).toBe(0);
  });
});
