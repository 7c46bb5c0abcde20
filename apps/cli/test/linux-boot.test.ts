/**
 * Debian's kernel with a busybox initramfs, booted through `kvm-ts run` to an interactive shell: the test
 * types commands on the serial console (`echo $((6*7))`, `uname -m`, `cat /proc/cpuinfo`), checks their
 * output, and reboots the guest through the i8042 (`reboot=k`), which ends the run with status 0.
 *
 * It needs a kernel and time: set KVM_TS_LINUX_KERNEL to a vmlinuz (bzImage) or an extracted vmlinux (PVH
 * entry), optionally KVM_TS_LINUX_BACKEND (default auto), KVM_TS_LINUX_BUSYBOX (default /bin/busybox) and
 * KVM_TS_LINUX_TIMEOUT in seconds (default 600), KVM_TS_LINUX_APPEND (more kernel parameters) and
 * KVM_TS_LINUX_CPUS (vCPUs, default 1: /proc/cpuinfo must then list that many processors, each started by the
 * kernel from the MP table). Without a kernel it is skipped, with that reason printed.
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
const cpus = Number(process.env.KVM_TS_LINUX_CPUS ?? 1);
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

// What a person would type first; the shell echoes the line, so each answer is one the echo cannot contain.
const COMMANDS = 'echo "answer=$((6 * 7))"; uname -m; cat /proc/cpuinfo; echo "commands-$((40 + 2))-done"';
const COMMANDS_DONE = 'commands-42-done';
const RETYPE_AFTER_S = 60;

describe.skipIf(why !== null)('Linux through kvm-ts run', () => {
  it(
    `boots to a shell that runs a typed command, with ${cpus} vCPU${cpus === 1 ? '' : 's'}`,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'kvm-ts-linux-'));
      const initrd = join(dir, 'initramfs.cpio.gz');
      writeFileSync(initrd, busyboxInitramfs(busybox, MARKER));
      const args = ['--import', 'tsx', bin, 'run', kernel!, '--backend', backend, '--mem', '512M'];
      args.push('--cpus', String(cpus));
      args.push('--initrd', initrd, '--append', CMDLINE, '--timeout', String(timeoutSeconds));
      const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      let stderr = '';
      let typed = false;
      let rebooting = false;
      let retype: NodeJS.Timeout | undefined;
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('latin1');
      });
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString('latin1');
        if (!typed && output.includes(MARKER)) {
          typed = true;
          child.stdin.write(`${COMMANDS}\n`);
          // As a person would: if the shell has not answered in a minute, type the line again, and say so.
          retype = setTimeout(() => {
            if (output.includes(COMMANDS_DONE)) return;
            console.log(`no answer ${RETYPE_AFTER_S} s after typing the commands; typing them again`);
            child.stdin.write(`\n${COMMANDS}\n`);
          }, RETYPE_AFTER_S * 1000);
        }
        if (!rebooting && output.includes(COMMANDS_DONE)) {
          rebooting = true;
          child.stdin.write('reboot -f\n');
        }
      });
      const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      clearTimeout(retype);
      rmSync(dir, { recursive: true, force: true });
      if (!output.includes(COMMANDS_DONE))
        console.log(`serial output:\n${output.slice(0, 20_000)}\n...\n${output.slice(-6000)}\n${stderr}`);
      // How the kernel found and started its CPUs (the MP table, the APs) and when it reached /init, for the
      // log of a passing run too.
      const smpLines = output
        .split('\n')
        .filter((line) =>
          /MPTABLE|smpboot|smp: |x86: Booting|TSC|clocksource: Switched|Run \/init/.test(line),
        );
      console.log(`the kernel's CPU bring-up:\n${smpLines.join('\n')}`);
      expect(output).toContain('Linux version');
      expect(output).toContain(MARKER);
      expect(output).toContain('answer=42');
      expect(output).toMatch(/^x86_64\r?$/m);
      // /proc/cpuinfo as the kernel built it from CPUID: every processor it brought up, with the features
      // x86-64 requires.
      const processors = [...output.matchAll(/^processor\s*: (\d+)\r?$/gm)].map((m) => Number(m[1]));
      expect(processors).toEqual(Array.from({ length: cpus }, (_, i) => i));
      expect(output).toMatch(/^vendor_id\s*: \w+/m);
      expect(output).toMatch(/^flags\s*:.*\bfpu\b.*\bfxsr\b.*\bsse2\b/m);
      expect(output).toContain(COMMANDS_DONE);
      expect(stderr).toContain('guest reset the machine');
      expect(status).toBe(0);
    },
    (timeoutSeconds + 60) * 1000,
  );
});
