// Debian's unmodified kernel and a busybox initramfs, ready for `kvm-ts run`: the guest of the
// Linux milestone. The kernel comes from `apt-get download` (never installed on the host), the
// shell from the host's static busybox; both are cached under .cache/linux-guest/.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { Apt, findCommand } from '../nested-kvm/apt.mjs';
import { writeGzipArchive } from '../nested-kvm/cpio.mjs';

/** The two kernels Debian ships for x86-64 guests, by the metapackage that names the current one. */
export const FLAVOURS = Object.freeze({
  /** For virtual machines: fewer drivers, a smaller image. */
  cloud: 'linux-image-cloud-amd64',
  /** The kernel every Debian PC runs. */
  generic: 'linux-image-amd64',
});

/**
 * The script's own arguments: `pnpm <script> -- --flag` hands the `--` on, and `parseArgs` would take
 * everything after it for positionals.
 */
export function scriptArgs() {
  const args = process.argv.slice(2);
  return args[0] === '--' ? args.slice(1) : args;
}

/** What `/init` prints once the kernel has started it: the end of the boot as the bench times it. */
export const INIT_MARKER = 'KVM-TS-INIT-READY';

/**
 * The kernel command line for the VMM's machine: the console on COM1, a reboot through the i8042
 * (which ends `kvm-ts run` with status 0), no PCI probing (the VMM has no PCI), one UART.
 */
export const CMDLINE =
  'console=ttyS0 reboot=k panic=-1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd 8250.nr_uarts=1 io_delay=none';

/**
 * `/init`: mounts what busybox's applets read, installs them all as links, prints the marker and
 * gives the console a shell. `cttyhack` makes the console the shell's controlling terminal, so
 * Ctrl-C reaches the foreground command.
 */
const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo ${INIT_MARKER}
echo "Debian's $(uname -sr) on $(uname -m), busybox $(busybox | head -n 1 | cut -d ' ' -f 2); reboot -f to leave"
exec setsid cttyhack sh
`;

/** True when the ELF at `path` asks for no program interpreter (a static executable). */
function isStatic(path) {
  return !readFileSync(path).includes('/lib64/ld-linux');
}

/**
 * The current Debian kernel of `flavour`, unpacked to `cacheDir/kernel-<package>_<version>/vmlinuz`
 * (downloaded only when that version is not cached). Falls back to a cached kernel without
 * package lists.
 */
function ensureKernel(apt, flavour, cacheDir, log) {
  const metapackage = FLAVOURS[flavour];
  if (!metapackage) throw new Error(`linux-guest: unknown flavour ${flavour} (cloud or generic)`);
  let wanted = apt.resolveKernelPackage(metapackage);
  if (wanted === null && apt.update()) wanted = apt.resolveKernelPackage(metapackage);
  if (wanted === null) throw new Error(`linux-guest: apt-cache cannot resolve ${metapackage}`);
  const dir = join(cacheDir, `kernel-${wanted.name}_${wanted.version}`);
  const vmlinuz = join(dir, 'vmlinuz');
  if (existsSync(vmlinuz)) return { vmlinuz, label: `${wanted.name} ${wanted.version}` };

  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(join(cacheDir, 'download-'));
  try {
    log(`downloading ${wanted.name} ${wanted.version}`);
    if (!apt.download(wanted, work)) throw new Error(`linux-guest: apt-get download ${wanted.name} failed`);
    const deb = readdirSync(work).find((name) => name.endsWith('.deb'));
    execFileSync('dpkg', ['-x', join(work, deb), join(work, 'unpacked')]);
    const boot = join(work, 'unpacked', 'boot');
    const image = readdirSync(boot).find((name) => name.startsWith('vmlinuz-'));
    if (!image) throw new Error(`linux-guest: ${deb} has no boot/vmlinuz-*`);
    mkdirSync(join(work, 'kernel'));
    copyFileSync(join(boot, image), join(work, 'kernel', 'vmlinuz'));
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(work, 'kernel'), dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { vmlinuz, label: `${wanted.name} ${wanted.version}` };
}

/**
 * Makes sure the guest of `flavour` is in `cacheDir`: `{ kernel, initramfs, busybox, label }`.
 * Installs busybox-static when no static busybox is on the host (as root; otherwise says how).
 */
export async function ensureLinuxGuest({ flavour = 'cloud', cacheDir, log = () => {} }) {
  const apt = new Apt();
  let busybox = findCommand('busybox');
  if (busybox === null || !isStatic(busybox)) {
    apt.install(['busybox-static']);
    busybox = findCommand('busybox');
  }
  if (busybox === null || !isStatic(busybox))
    throw new Error(`linux-guest: ${busybox} is not a static busybox`);
  const kernel = ensureKernel(apt, flavour, cacheDir, log);
  const initramfs = join(cacheDir, 'initramfs.cpio.gz');
  await writeGzipArchive(
    [
      ...['bin', 'dev', 'proc', 'sys', 'tmp'].map((name) => ({ name, kind: 'dir', mode: 0o755 })),
      { name: 'dev/console', kind: 'char', mode: 0o600, rdev: [5, 1] },
      { name: 'bin/busybox', kind: 'file', mode: 0o755, source: busybox },
      { name: 'bin/sh', kind: 'symlink', mode: 0o777, target: 'busybox' },
      { name: 'init', kind: 'file', mode: 0o755, data: Buffer.from(INIT_SCRIPT) },
    ],
    initramfs,
  );
  return { kernel: kernel.vmlinuz, initramfs, busybox, label: kernel.label };
}
