// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseKernelDepends } from './apt.mjs';

describe('parseKernelDepends', () => {
  it('finds the kernel package linux-image-amd64 depends on, with its pinned version', () => {
    const show = [
      'Package: linux-image-amd64',
      'Version: 6.1.192-2',
      'Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)',
      'Description: Linux for 64-bit PCs (meta-package)',
    ].join('\n');
    assert.deepEqual(parseKernelDepends(show), { name: 'linux-image-6.1.0-56-amd64', version: '6.1.192-2' });
  });

  it('gives a null version when none is pinned, and null without a kernel in Depends', () => {
    assert.deepEqual(parseKernelDepends('Depends: linux-image-6.1.0-41-amd64, foo'), {
      name: 'linux-image-6.1.0-41-amd64',
      version: null,
    });
    assert.equal(parseKernelDepends('Package: linux-image-amd64\nDepends: something-else'), null);
    assert.equal(parseKernelDepends(''), null);
  });
});
