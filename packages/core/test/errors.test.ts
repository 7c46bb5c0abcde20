import { describe, expect, it } from 'vitest';
import { Errno, errnoName, KvmError, kvmFail } from '../src/index.js';

describe('KvmError', () => {
  it('carries the operation, errno number and name, and says them in its message', () => {
    const error = new KvmError('KVM_CREATE_IRQCHIP', Errno.EEXIST, 'the VM already has an irqchip');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('KvmError');
    expect(error.operation).toBe('KVM_CREATE_IRQCHIP');
    expect(error.errno).toBe(17);
    expect(error.code).toBe('EEXIST');
    expect(error.message).toBe('KVM_CREATE_IRQCHIP: EEXIST: the VM already has an irqchip');
  });

  it('names errnos it has no constant for by number', () => {
    expect(errnoName(22)).toBe('EINVAL');
    expect(errnoName(200)).toBe('E200');
  });

  it('kvmFail throws with the named errno', () => {
    expect(() => kvmFail('KVM_RUN', 'EINTR', 'interrupted')).toThrowError(
      expect.objectContaining({ errno: Errno.EINTR, code: 'EINTR', operation: 'KVM_RUN' }),
    );
  });

  it('uses the x86-64 Linux errno numbers', () => {
    // asm-generic/errno-base.h and errno.h
    expect(Errno).toMatchObject({ EPERM: 1, ENOENT: 2, EINTR: 4, ENXIO: 6, E2BIG: 7, EBADF: 9, ENOMEM: 12 });
    expect(Errno).toMatchObject({ EACCES: 13, EFAULT: 14, EBUSY: 16, EEXIST: 17, EINVAL: 22, ENOTTY: 25 });
  });
});
