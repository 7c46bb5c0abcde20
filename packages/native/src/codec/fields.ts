/**
 * Checked writes and plain reads of kernel struct fields in a byte buffer (little-endian, x86-64). A value that
 * does not fit its field raises `KvmError` EINVAL before the ioctl, instead of being silently truncated into a
 * struct the kernel would then trust.
 */
import { Errno, KvmError } from '@kvm-ts/core';

/** The EINVAL a malformed argument gets, naming the field. */
export function badArgument(operation: string, detail: string): KvmError {
  return new KvmError(operation, Errno.EINVAL, detail);
}

const U64_MAX = (1n << 64n) - 1n;

/** Writes fields of one struct into `bytes`, checking each value against its field's width. */
export class StructWriter {
  readonly view: DataView;

  constructor(
    readonly operation: string,
    readonly bytes: Uint8Array,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private integer(name: string, value: number, max: number): number {
    if (!Number.isInteger(value) || value < 0 || value > max) {
      throw badArgument(this.operation, `${name} must be an integer from 0 to ${max}, not ${value}`);
    }
    return value;
  }

  u8(offset: number, value: number, name: string): void {
    this.view.setUint8(offset, this.integer(name, value, 0xff));
  }

  u16(offset: number, value: number, name: string): void {
    this.view.setUint16(offset, this.integer(name, value, 0xffff), true);
  }

  u32(offset: number, value: number, name: string): void {
    this.view.setUint32(offset, this.integer(name, value, 0xffffffff), true);
  }

  /** A 64-bit field from a bigint (or a safe integer); negative bigints are taken as two's complement. */
  u64(offset: number, value: bigint | number, name: string): void {
    let big: bigint;
    if (typeof value === 'number') {
      big = BigInt(this.integer(name, value, Number.MAX_SAFE_INTEGER));
    } else if (typeof value === 'bigint' && value >= -(1n << 63n) && value <= U64_MAX) {
      big = BigInt.asUintN(64, value);
    } else {
      throw badArgument(this.operation, `${name} must be a 64-bit bigint, not ${String(value)}`);
    }
    this.view.setBigUint64(offset, big, true);
  }

  /** Copies a byte array of exactly `length` bytes. */
  fixedBytes(offset: number, value: Uint8Array, length: number, name: string): void {
    if (!(value instanceof Uint8Array) || value.length !== length) {
      throw badArgument(this.operation, `${name} must be a Uint8Array of ${length} bytes`);
    }
    this.bytes.set(value, offset);
  }
}

/** Requires an array of exactly `length` items. */
export function exactLength<T>(
  operation: string,
  value: readonly T[],
  length: number,
  name: string,
): readonly T[] {
  if (!Array.isArray(value) || value.length !== length) {
    throw badArgument(operation, `${name} must have exactly ${length} items`);
  }
  return value;
}

/** Requires an array of at most `max` items. */
export function atMost<T>(operation: string, value: readonly T[], max: number, name: string): readonly T[] {
  if (!Array.isArray(value) || value.length > max) {
    throw badArgument(operation, `${name} must be an array of at most ${max} items`);
  }
  return value;
}

/** Reads a u64 field as a bigint. */
export function readU64(view: DataView, offset: number): bigint {
  return view.getBigUint64(offset, true);
}

/** A DataView over a byte array. */
export function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
