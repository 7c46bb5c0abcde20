/**
 * Importing the package and probing must not load koffi (so it installs and imports on any OS); only opening
 * the backend does. Checked in a fresh process, where nothing else has loaded koffi.
 */
import { execFileSync } from 'node:child_process';
import { KvmError } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { openDevice, probeDevice } from '../src/device.js';
import { hasKvm, needsTsx } from './support/host.js';

function runScript(script: string): Record<string, unknown> {
  const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url).pathname,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return JSON.parse(output.trim().split('\n').pop()!) as Record<string, unknown>;
}

const KOFFI_LOADED = `
  import { createRequire } from 'node:module';
  const koffiLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('koffi'));
`;

describe('lazy loading', () => {
  it.skipIf(needsTsx('lazy loading: import and probe'))('import and probe() load no koffi', () => {
    const result = runScript(`
      ${KOFFI_LOADED}
      const native = await import('./src/index.ts');
      const afterImport = koffiLoaded();
      const probe = native.backend.probe();
      console.log(JSON.stringify({ afterImport, afterProbe: koffiLoaded(), probe }));
    `);
    expect(result.afterImport).toBe(false);
    expect(result.afterProbe).toBe(false);
    expect(typeof (result.probe as { reason: string }).reason).toBe('string');
  });

  it.skipIf(!hasKvm || needsTsx('lazy loading: open'))('open() loads koffi and opens /dev/kvm', () => {
    const result = runScript(`
      ${KOFFI_LOADED}
      const native = await import('./src/index.ts');
      const kvm = native.backend.open('lazy test');
      console.log(JSON.stringify({ loaded: koffiLoaded(), version: kvm.getApiVersion() }));
      kvm.close();
    `);
    expect(result).toEqual({ loaded: true, version: 12 });
  });

  it('explains a missing device with what to do, in probe() and in open()', () => {
    const probe = probeDevice('/nonexistent/kvm');
    expect(probe.usable).toBe(false);
    expect(probe.reason).toContain('load the kvm module');
    try {
      openDevice('test', '/nonexistent/kvm');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(KvmError);
      expect((error as KvmError).code).toBe('ENOENT');
      expect((error as KvmError).message).toContain('modprobe');
    }
  });

  it('refuses a device that is not KVM', () => {
    expect(() => openDevice('test', '/dev/null')).toThrow(/not a KVM device/);
  });
});
