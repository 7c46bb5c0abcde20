// Smoke check of a /dev/kvm through koffi, independent of @kvm-ts/native: opens the device,
// asks KVM_GET_API_VERSION (must be 12, api.rst 4.1) and creates and closes one VM
// (KVM_CREATE_VM, api.rst 4.2). Run it in the guest with
//   pnpm test:kvm -- --command "node tools/nested-kvm/probe-kvm.mjs"
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** _IO(KVMIO, 0x00) and _IO(KVMIO, 0x01), from linux/kvm.h. */
const KVM_GET_API_VERSION = 0xae00;
const KVM_CREATE_VM = 0xae01;
/** The only API version KVM has ever reported. */
const KVM_API_VERSION = 12;
const O_RDWR = 0o2;
const O_CLOEXEC = 0o2000000;

// koffi is a dependency of @kvm-ts/native, so it resolves from that package.
const require = createRequire(fileURLToPath(new URL('../../packages/native/package.json', import.meta.url)));
const koffi = require('koffi');
const libc = koffi.load('libc.so.6');
const open = libc.func('int open(const char *path, int flags)');
const ioctl = libc.func('int ioctl(int fd, unsigned long request, unsigned long arg)');
const close = libc.func('int close(int fd)');

const flavour =
  ['kvm_amd', 'kvm_intel', 'kvm_pvm'].find((name) => existsSync(`/sys/module/${name}`)) ?? 'unknown';
const kvm = open('/dev/kvm', O_RDWR | O_CLOEXEC);
if (kvm < 0) {
  console.error(`probe-kvm: open /dev/kvm failed, errno ${koffi.errno()}`);
  process.exit(1);
}
const version = ioctl(kvm, KVM_GET_API_VERSION, 0);
const vm = ioctl(kvm, KVM_CREATE_VM, 0);
const vmErrno = vm < 0 ? koffi.errno() : 0;
if (vm >= 0) close(vm);
close(kvm);
console.log(
  `probe-kvm: flavour ${flavour}, KVM_GET_API_VERSION = ${version}, KVM_CREATE_VM fd ${vm}${vm < 0 ? ` errno ${vmErrno}` : ''}`,
);
process.exit(version === KVM_API_VERSION && vm >= 0 ? 0 : 1);
