import { IOCTLS } from './ioctls.js';
import { STRUCTS, type StructLayout } from './structs.js';

export { IOCTLS, type IoctlName, SYSTEM_IOCTLS, VCPU_IOCTLS, VM_IOCTLS } from './ioctls.js';
export { NEWER_THAN_HEADERS, STRUCTS, type StructLayout, type StructName } from './structs.js';

/** The ABI table as plain JSON data, as `kvm-ts abi --json` prints it. */
export interface AbiTable {
  readonly ioctls: Readonly<Record<string, number>>;
  readonly structs: Readonly<Record<string, StructLayout>>;
}

/**
 * Every ioctl request number and struct layout (size, field offsets) this package uses on x86-64, as checked
 * against `linux/kvm.h` by the ABI test. Returns a fresh copy the caller may keep or change.
 */
export function abiTable(): AbiTable {
  return JSON.parse(JSON.stringify({ ioctls: IOCTLS, structs: STRUCTS })) as AbiTable;
}
