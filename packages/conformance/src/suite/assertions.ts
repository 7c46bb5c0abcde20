import { Errno, type ErrnoName, IoDirection, type Vcpu } from '@kvm-ts/core';
import { expect } from 'vitest';
import { describeExit, runExpecting } from '../setup/run.js';

/**
 * Runs `action` and checks it raised the `KvmError` KVM raises for it: its `code` and `errno`. Checks the
 * name rather than `instanceof`, so a backend built against another copy of `@kvm-ts/core` is judged the same.
 */
export function expectKvmError(action: () => unknown, code: ErrnoName): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  if (caught === undefined) throw new Error(`expected KvmError ${code}, but the call succeeded`);
  const error = caught as { name?: string; code?: string; errno?: number; message?: string };
  expect(error.name, `expected KvmError ${code}, got ${String(caught)}`).toBe('KvmError');
  expect(error.code, error.message).toBe(code);
  expect(error.errno).toBe(Errno[code]);
}

/** Little-endian bytes of `value`, `size` bytes long. */
export function le(value: bigint | number, size: number): number[] {
  const bytes: number[] = [];
  let v = BigInt(value);
  for (let i = 0; i < size; i++) {
    bytes.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return bytes;
}

/** Runs once and checks for an OUT of `value` (`size` bytes) to `port`. */
export function expectOut(vcpu: Vcpu, port: number, size: number, value: bigint | number): void {
  const exit = runExpecting(vcpu, 'io');
  const what = describeExit(exit);
  expect(exit.direction, what).toBe(IoDirection.OUT);
  expect(exit.port, what).toBe(port);
  expect(exit.size, what).toBe(size);
  expect(exit.count, what).toBe(1);
  expect(Array.from(exit.data.subarray(0, size)), what).toEqual(le(value, size));
}

/** Runs once, checks for an IN of `size` bytes from `port`, and completes it with `value`. */
export function completeIn(vcpu: Vcpu, port: number, size: number, value: bigint | number): void {
  const exit = runExpecting(vcpu, 'io');
  const what = describeExit(exit);
  expect(exit.direction, what).toBe(IoDirection.IN);
  expect(exit.port, what).toBe(port);
  expect(exit.size, what).toBe(size);
  expect(exit.count, what).toBe(1);
  exit.data.set(le(value, size));
}

/** Runs once and checks for an MMIO write of `value` (`len` bytes) at `address`. */
export function expectMmioWrite(vcpu: Vcpu, address: number, len: number, value: bigint | number): void {
  const exit = runExpecting(vcpu, 'mmio');
  const what = describeExit(exit);
  expect(exit.isWrite, what).toBe(true);
  expect(exit.physAddr, what).toBe(BigInt(address));
  expect(exit.len, what).toBe(len);
  expect(Array.from(exit.data.subarray(0, len)), what).toEqual(le(value, len));
}

/** Runs once, checks for an MMIO read of `len` bytes at `address`, and completes it with `value`. */
export function completeMmioRead(vcpu: Vcpu, address: number, len: number, value: bigint | number): void {
  const exit = runExpecting(vcpu, 'mmio');
  const what = describeExit(exit);
  expect(exit.isWrite, what).toBe(false);
  expect(exit.physAddr, what).toBe(BigInt(address));
  expect(exit.len, what).toBe(len);
  exit.data.set(le(value, len));
}

/** Runs once and checks the guest halted. */
export function expectHlt(vcpu: Vcpu): void {
  runExpecting(vcpu, 'hlt');
}
