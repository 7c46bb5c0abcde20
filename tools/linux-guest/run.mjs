// `pnpm linux`: boots Debian's kernel with a busybox shell through `kvm-ts run`, on the terminal.
//   pnpm linux [-- --flavour cloud|generic] [--backend auto|native|emulator] [--timeout S] [--paths]
// --paths prints the kernel and initramfs as shell assignments (for KVM_TS_LINUX_KERNEL and the
// Linux boot test) instead of booting.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CMDLINE, ensureLinuxGuest, FLAVOURS, scriptArgs } from './guest.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const usage = `Usage: pnpm linux [-- --flavour cloud|generic] [--backend auto|native|emulator] [--timeout S] [--paths]`;

let options;
try {
  ({ values: options } = parseArgs({
    args: scriptArgs(),
    options: {
      flavour: { type: 'string', default: 'cloud' },
      backend: { type: 'string', default: 'auto' },
      timeout: { type: 'string' },
      paths: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (error) {
  console.error(`linux: ${error.message}\n${usage}`);
  process.exit(2);
}
if (options.help) {
  console.log(usage);
  process.exit(0);
}
if (!(options.flavour in FLAVOURS)) {
  console.error(`linux: --flavour ${options.flavour}: cloud or generic\n${usage}`);
  process.exit(2);
}

const guest = await ensureLinuxGuest({
  flavour: options.flavour,
  cacheDir: join(root, '.cache', 'linux-guest'),
  log: (line) => console.error(`linux: ${line}`),
});
if (options.paths) {
  console.log(`KVM_TS_LINUX_KERNEL=${guest.kernel}`);
  console.log(`KVM_TS_LINUX_BUSYBOX=${guest.busybox}`);
  console.log(`KVM_TS_LINUX_INITRAMFS=${guest.initramfs}`);
  process.exit(0);
}

const bin = join(root, 'apps', 'cli', 'dist', 'bin.js');
if (!existsSync(bin)) {
  console.error('linux: apps/cli is not built: run pnpm build first');
  process.exit(2);
}
console.error(`linux: ${guest.label} with busybox from ${guest.busybox}`);
const args = [bin, 'run', guest.kernel, '--backend', options.backend, '--mem', '512M'];
args.push('--initrd', guest.initramfs, '--append', CMDLINE);
if (options.timeout) args.push('--timeout', options.timeout);
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
