// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { HEARTBEAT_S } from './freeze-watch.mjs';
import { initScript } from './guest-init.mjs';

const script = (moduleParams) =>
  initScript({ busybox: '/bin/busybox', workdir: '/w', env: { A: 'b c' }, moduleParams });

/** Runs `body` under /bin/sh with the script's function definitions (up to the heartbeat) in front. */
function withFunctions(text, body) {
  const start = text.indexOf('moduleParams() {');
  const end = text.indexOf('uptime_s()');
  const result = spawnSync('sh', ['-c', `${text.slice(start, end)}\n${body}`], { encoding: 'utf8' });
  return result.stdout.trim();
}

describe('initScript', () => {
  it('is valid shell, with and without module parameters', () => {
    for (const params of [{}, { kvm: 'enable_pmu=0', kvm_amd: 'vgif=0 avic=0' }]) {
      const result = spawnSync('sh', ['-n'], { input: script(params), encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
    }
  });

  it('passes each module its parameters, whatever order prefix its file has', () => {
    const text = script({ kvm: 'enable_pmu=0', kvm_amd: 'vgif=0 avic=0' });
    const params = (file) => withFunctions(text, `moduleParams ${file}`);
    assert.equal(params('/nested-kvm/modules/02-kvm.ko'), 'enable_pmu=0');
    assert.equal(params('/nested-kvm/modules/04-kvm_amd.ko'), 'vgif=0 avic=0');
    assert.equal(params('/nested-kvm/modules/01-irqbypass.ko'), '');
    assert.match(text, /insmod "\$module" \$\(moduleParams "\$module"\)/);
    // And prints what the kernel made of them.
    assert.match(text, /cat \/sys\/module\/kvm_amd\/parameters\/vgif\)/);
    assert.equal(withFunctions(script({}), 'moduleParams /x/02-kvm.ko'), '');
  });

  it('starts the heartbeat before loading modules and stops it before the result line', () => {
    const text = script({});
    const heartbeat = text.indexOf(`sleep ${HEARTBEAT_S}; echo "[guest] heartbeat`);
    assert.ok(heartbeat > 0);
    assert.ok(heartbeat < text.indexOf('insmod'));
    const finish = text.slice(text.indexOf('finish() {'));
    assert.ok(finish.indexOf('kill "$heartbeat"') < finish.indexOf('KVM-TS-NESTED-RESULT'));
  });
});
