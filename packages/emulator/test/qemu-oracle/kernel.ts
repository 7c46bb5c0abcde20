/**
 * Builds an oracle kernel: the frame (frame32.inc or frame64.inc, nasm) followed by generated scenarios, each a
 * block of code that ends in UD2 or an earlier exception, and the table the frame walks. nasm writes the
 * whole ELF32 multiboot image itself (`-f bin`), as the benchmark kernels do.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One generated scenario: the code that runs it, and code that must sit below 1 MiB (real mode). */
export interface Scenario {
  /** Names the variation in failure messages, e.g. `pf pte=5 write cpl3`. */
  readonly name: string;
  /** Runs at CPL 0 after `reset`, in the frame's mode; ends with UD2 or an exception. */
  readonly asm: string;
  /** 16-bit code for the trampoline below 1 MiB, if the scenario goes through real mode. */
  readonly trampoline?: string;
  /**
   * Set where QEMU TCG is known to deviate from the manuals: the emulator's exception vector and error code
   * are checked against this outcome, worked out from the SDM, instead of against QEMU's dump.
   */
  readonly sdm?: { readonly vector: number; readonly error: number; readonly why: string };
  /**
   * Where QEMU TCG deviates in a detail the manuals define: `fix` turns QEMU's dump line into what the SDM
   * says, `mask` blanks what cannot be fixed (a hash over the deviating value) in both dumps.
   */
  readonly qemuFix?: {
    readonly why: string;
    readonly fix?: (line: string) => string;
    readonly mask?: (line: string) => string;
  };
}

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** The nasm source of a kernel that runs `scenarios` in order under `frame`. */
export function kernelSource(frame: 'frame32.inc' | 'frame64.inc', scenarios: readonly Scenario[]): string {
  const bits = frame === 'frame64.inc' ? 'bits 64' : 'bits 32';
  const out = [`%include "${frame}"`];
  scenarios.forEach((s, k) => {
    out.push(`; ${s.name}`, bits, `scenario_${k}:`, s.asm.replaceAll('@', `s${k}_`), '    ud2');
  });
  out.push(bits, 'align 8', 'scenario_table:');
  const entry = frame === 'frame64.inc' ? 'dq' : 'dd';
  for (let k = 0; k < scenarios.length; k++) out.push(`    ${entry} scenario_${k}`);
  out.push(`    ${entry} 0`, 'bits 16', 'trampoline_start:');
  scenarios.forEach((s, k) => {
    if (s.trampoline) out.push(s.trampoline.replaceAll('@', `s${k}_`));
  });
  out.push('trampoline_end:', 'image_end:');
  return out.join('\n');
}

/** Assembles `source` with the frames' folder on the include path; returns the ELF image. */
export function assemble(source: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'kvm-ts-oracle-'));
  try {
    const asm = join(dir, 'kernel.asm');
    const out = join(dir, 'kernel.elf');
    writeFileSync(asm, source);
    try {
      execFileSync('nasm', ['-f', 'bin', '-I', HERE, '-o', out, asm], { stdio: 'pipe' });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      const lines = source.split('\n');
      const context = [...stderr.matchAll(/kernel\.asm:(\d+)/g)]
        .slice(0, 5)
        .map((m) => `${m[1]}: ${lines[Number(m[1]) - 1]}`);
      throw new Error(`nasm failed:\n${stderr}\n${context.join('\n')}`);
    }
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
