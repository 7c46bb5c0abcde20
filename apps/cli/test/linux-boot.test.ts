/**
 * Debian's kernel with a busybox initramfs, booted through `kvm-ts run` to an interactive shell: the test
 * types a command on the serial console, checks its output, and reboots the guest through the i8042
 * (`reboot=k`), which ends the run with status 0.
 *
 * It needs a kernel and time: set KVM_TS_LINUX_KERNEL to a vmlinuz (bzImage) or an extracted vmlinux (PVH
 * entry), optionally KVM_TS_LINUX_BACKEND (default auto), KVM_TS_LINUX_BUSYBOX (default /bin/busybox) and
 * KVM_TS_LINUX_TIMEOUT in seconds (default 600) and KVM_TS_LINUX_APPEND (more kernel parameters). Without a kernel it is skipped, with that reason printed.
 * It is meant for the nested-KVM runner (`pnpm test:kvm`), where a hardware-model KVM boots Linux in seconds.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { busyboxInitramfs } from './support/initramfs.js';

const kernel = process.env.KVM_TS_LINUX_KERNEL;
const busybox = process.env.KVM_TS_LINUX_BUSYBOX ?? '/bin/busybox';
const backend = process.env.KVM_TS_LINUX_BACKEND ?? 'auto';
const timeoutSeconds = Number(process.env.KVM_TS_LINUX_TIMEOUT ?? 600);
const why = !kernel
  ? 'KVM_TS_LINUX_KERNEL is not set'
  : !existsSync(kernel)
    ? `${kernel} does not exist`
    : !existsSync(busybox)
      ? `${busybox} does not exist (install busybox-static)`
      : null;
if (why) console.log(`skipping the Linux boot: ${why}`);

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'bin.ts');
const MARKER = 'KVM-TS-SHELL-READY';
const CMDLINE = [
  'console=ttyS0 reboot=k panic=-1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd 8250.nr_uarts=1 io_delay=none',
  process.env.KVM_TS_LINUX_APPEND ?? '',
]
  .join(' ')
  .trim();

describe.skipIf(why !== null)('Linux through kvm-ts run', () => {
  it(
    'boots to a shell that runs a typed command',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'kvm-ts-linux-'));
      const initrd = join(dir, 'initramfs.cpio.gz');
      writeFileSync(initrd, busyboxInitramfs(busybox, MARKER));
      const args = ['--import', 'tsx', bin, 'run', kernel!, '--backend', backend, '--mem', '512M'];
      args.push('--initrd', initrd, '--append', CMDLINE, '--timeout', String(timeoutSeconds));
      const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      let stderr = '';
      let typed = false;
      let rebooting = false;
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('latin1');
      });
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString('latin1');
        if (!typed && output.includes(MARKER)) {
          typed = true;
          child.stdin.write('echo "answer=$((6 * 7))"\n');
        }
        if (!rebooting && output.includes('answer=42')) {
          rebooting = true;
          child.stdin.write('reboot -f\n');
        }
      });
      const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      rmSync(dir, { recursive: true, force: true });
      if (!output.includes('answer=42'))
        console.log(`serial output:\n${output.slice(0, 20_000)}\n...\n${output.slice(-6000)}\n${stderr}`);
      expect(output).toContain('Linux version');
      expect(output).toContain(MARKER);
      expect(output).toContain('answer=42');
      expect(stderr).toContain('guest reset the machine');
      expect(status).toBe(0);
    },
    (timeoutSeconds + 60) * 1000,
  );
});
