/**
 * Runs a benchmark kernel under QEMU TCG (Debian's qemu-system-x86) with isa-debug-exit at 0xf4 and the debug
 * console on stdout. The timed span is between the arrival of the guest's 'S' and 'E' bytes on the pipe, so
 * QEMU's start-up is not counted.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why `qemu-system-<arch>` cannot run here, or null. */
export function qemuMissing(arch) {
  try {
    execFileSync(`qemu-system-${arch}`, ['--version'], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `qemu-system-${arch} not found (${err.code ?? err.message}): install Debian's qemu-system-x86`;
  }
}

/** Seconds between the guest's start and end marks. */
export async function runQemu(image, arch) {
  const dir = mkdtempSync(join(tmpdir(), 'kvm-ts-bench-'));
  try {
    const kernel = join(dir, 'kernel.elf');
    writeFileSync(kernel, image);
    const args = ['-accel', 'tcg', '-nodefaults', '-display', 'none', '-no-reboot', '-m', '64'];
    args.push('-debugcon', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-kernel', kernel);
    return await new Promise((resolve, reject) => {
      const child = spawn(`qemu-system-${arch}`, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let start = 0;
      let end = 0;
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.stdout.on('data', (chunk) => {
        const now = performance.now();
        for (const b of chunk) {
          if (b === 0x53) start = now;
          else if (b === 0x45) end = now;
        }
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        // isa-debug-exit ends QEMU with (value << 1) | 1; the kernels write 0.
        if (code !== 1 || start === 0 || end === 0)
          reject(new Error(`qemu exited ${code}: ${stderr.trim()}`));
        else resolve((end - start) / 1000);
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
