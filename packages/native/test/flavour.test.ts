/** Detecting which KVM module drives /dev/kvm, from a stand-in /sys/module. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectFlavour } from '../src/flavour.js';

describe('detectFlavour', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    root = undefined;
  });

  const sysModule = (...modules: string[]) => {
    root = mkdtempSync(join(tmpdir(), 'kvm-ts-flavour-'));
    for (const name of modules) mkdirSync(join(root, name));
    return root;
  };

  it.each([
    [['kvm', 'kvm_intel'], 'kvm_intel'],
    [['kvm', 'kvm_amd'], 'kvm_amd'],
    [['kvm', 'kvm_pvm'], 'kvm_pvm'],
    [['kvm', 'kvm_intel', 'kvm_pvm'], 'kvm_pvm'],
    [['kvm'], 'kvm'],
  ])('%j -> %s', (modules, flavour) => {
    expect(detectFlavour(sysModule(...modules))).toBe(flavour);
  });
});
