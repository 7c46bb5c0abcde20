// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadOrder, moduleDepends } from './kernel.mjs';

/** A fake module object: some bytes, then .modinfo strings as the kernel build writes them. */
function moduleObject(modinfo) {
  return Buffer.concat([
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0]),
    Buffer.from(modinfo.map((s) => `${s}\0`).join('')),
  ]);
}

describe('moduleDepends', () => {
  it('reads depends= from .modinfo, with - and _ treated alike', () => {
    const object = moduleObject(['license=GPL', 'depends=kvm,ccp,irq-bypass', 'retpoline=Y', 'name=kvm_amd']);
    assert.deepEqual(moduleDepends(object), ['kvm', 'ccp', 'irq_bypass']);
  });

  it('gives nothing for an empty or absent depends=', () => {
    assert.deepEqual(moduleDepends(moduleObject(['license=GPL', 'depends=', 'name=irqbypass'])), []);
    assert.deepEqual(moduleDepends(moduleObject(['license=GPL', 'name=x'])), []);
  });
});

describe('loadOrder', () => {
  it('loads every dependency once, before the modules that need it', () => {
    const graph = { kvm_amd: ['kvm', 'ccp'], kvm: ['irqbypass'], ccp: [], irqbypass: [] };
    assert.deepEqual(
      loadOrder('kvm_amd', (name) => graph[name]),
      ['irqbypass', 'kvm', 'ccp', 'kvm_amd'],
    );
    const diamond = { top: ['left', 'right'], left: ['base'], right: ['base'], base: [] };
    assert.deepEqual(
      loadOrder('top', (name) => diamond[name]),
      ['base', 'left', 'right', 'top'],
    );
  });

  it('refuses a dependency cycle', () => {
    const cycle = { a: ['b'], b: ['a'] };
    assert.throws(() => loadOrder('a', (name) => cycle[name]), /cycle at a/);
  });
});
