/**
 * Packaging as a user meets it: every publishable package of the workspace is packed with `pnpm pack`, the
 * tarballs are installed with npm into an empty folder outside the workspace, and `npx kvm-ts info` and the
 * demo guest run from there. Needs the npm registry (for commander and koffi); set KVM_TS_SKIP_PACK=1 to skip
 * it offline, which is printed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const skip = process.env.KVM_TS_SKIP_PACK === '1';
if (skip) console.log('skipping the pack-and-install test: KVM_TS_SKIP_PACK=1');

const work = mkdtempSync(join(tmpdir(), 'kvm-ts-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Workspace package folders whose package.json is not private. */
function publishable(): string[] {
  return ['packages', 'apps'].flatMap((group) =>
    readdirSync(join(root, group))
      .map((name) => join(root, group, name))
      .filter((dir) => {
        try {
          return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).private !== true;
        } catch {
          return false;
        }
      }),
  );
}

describe.skipIf(skip)('the packed packages, installed with npm outside the workspace', () => {
  it('run `npx kvm-ts info` and the demo guest', () => {
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    // The CLI's own dist is not a test prerequisite in turbo (only its dependencies' builds are): build it.
    execFileSync('pnpm', ['--filter', 'kvm-ts', 'build'], { cwd: root, stdio: 'pipe' });
    for (const dir of publishable()) {
      execFileSync('pnpm', ['pack', '--pack-destination', tarballs], { cwd: dir, stdio: 'pipe' });
    }
    const packed = readdirSync(tarballs).filter((f) => f.endsWith('.tgz'));
    expect(packed.some((f) => f.startsWith('kvm-ts-'))).toBe(true);

    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'pack-check', private: true, type: 'module' }),
    );
    execFileSync(
      'npm',
      ['install', '--no-audit', '--no-fund', '--loglevel=error', ...packed.map((f) => join(tarballs, f))],
      {
        cwd: app,
        stdio: 'pipe',
        timeout: 240_000,
      },
    );

    const env = { ...process.env };
    delete env.KVM_TS_BACKEND;
    const info = spawnSync('npx', ['--yes', '--no-install', 'kvm-ts', 'info', '--json'], {
      cwd: app,
      encoding: 'utf8',
      env,
    });
    expect(info.stderr).toBe('');
    expect(info.status).toBe(0);
    expect(JSON.parse(info.stdout).apiVersion).toBe(12);

    const demo = spawnSync('npx', ['--yes', '--no-install', 'kvm-ts', 'demo', '--timeout', '100'], {
      cwd: app,
      encoding: 'utf8',
      env,
    });
    expect(demo.stdout).toContain('2262 found');
    expect(demo.stderr).toContain('guest reset the machine');
    expect(demo.status).toBe(0);
  }, 400_000);
});
