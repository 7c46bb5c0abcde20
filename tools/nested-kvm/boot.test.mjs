// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { qemuArgs } from './boot.mjs';

describe('qemuArgs', () => {
  const kernel = '/cache/vmlinuz';
  const initrd = '/tmp/work/initramfs.cpio.gz';

  it('boots TCG with -cpu max, one vCPU and the kernel, with no -L for the system QEMU', () => {
    const args = qemuArgs({ kernel, initrd });
    assert.equal(args.includes('-L'), false);
    assert.equal(args.includes('-qmp'), false);
    assert.deepEqual(args.slice(args.indexOf('-accel'), args.indexOf('-accel') + 4), [
      '-accel',
      'tcg',
      '-cpu',
      'max',
    ]);
    assert.equal(args[args.indexOf('-smp') + 1], '1');
    assert.equal(args[args.indexOf('-kernel') + 1], kernel);
    assert.equal(args[args.indexOf('-initrd') + 1], initrd);
  });

  it('puts the unpacked QEMU data folder first, as -L, and the QMP socket when given', () => {
    const dataDir = '/cache/qemu/versions/1_10.0.2+ds-2/root/usr/share/qemu';
    const args = qemuArgs({ kernel, initrd, dataDir, qmpSocket: '/tmp/work/qmp.sock', memoryMiB: 1024 });
    assert.deepEqual(args.slice(0, 4), ['-L', dataDir, '-qmp', 'unix:/tmp/work/qmp.sock,server=on,wait=off']);
    assert.equal(args.filter((arg) => arg === '-L').length, 1);
    assert.equal(args[args.indexOf('-m') + 1], '1024');
  });
});
