import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Whether nasm is installed (tests that assemble guests are skipped with this reason otherwise). */
export const hasNasm = spawnSync('nasm', ['-v']).status === 0;

/** Assembles `source` as a flat binary. */
export function assemble(source: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'kvm-ts-vmm-test-'));
  try {
    writeFileSync(join(dir, 'guest.asm'), source);
    execFileSync('nasm', ['-f', 'bin', '-o', join(dir, 'guest.bin'), join(dir, 'guest.asm')]);
    return new Uint8Array(readFileSync(join(dir, 'guest.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
