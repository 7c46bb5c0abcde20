/**
 * Differential tests of MMX, SSE..SSE4.2 and x87 instructions: the snippets of differential-simd/ run on the
 * host CPU (differential/native-runner.c, built with gcc) and on the emulator, in 64-bit mode and in 32-bit
 * compatibility mode; registers, the flags each instruction defines and the data buffer (which holds the
 * vector results, MXCSR and the x87 state saved with FNSAVE) must match. Skipped, with the reason printed,
 * where there is no gcc or the host is not x86-64 Linux. Instructions whose results the manuals leave to the
 * implementation (RCPPS, RSQRTPS: only an error bound) are tested separately in test/simd.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMachine } from '@kvm-ts/conformance';
import { describe, expect, it } from 'vitest';
import { backend } from '../src/index.js';
import type { DiffCase } from './differential/cases.js';
import { CODE_ADDR, DATA_ADDR, DATA_SIZE, generateSimdCases } from './differential-simd/cases.js';
import { generateX87Cases } from './differential-simd/x87-cases.js';

const NAMES = [
  'rax',
  'rcx',
  'rdx',
  'rbx',
  'rsp',
  'rbp',
  'rsi',
  'rdi',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
] as const;

function buildRunner(): string {
  if (process.arch !== 'x64' || process.platform !== 'linux') return 'the host is not x86-64 Linux';
  const dir = mkdtempSync(join(tmpdir(), 'kvm-ts-diff-simd-'));
  const exe = join(dir, 'native-runner');
  const source = fileURLToPath(new URL('./differential/native-runner.c', import.meta.url));
  try {
    execFileSync('gcc', ['-O1', '-o', exe, source], { stdio: 'pipe' });
  } catch (error) {
    return `gcc could not build the native runner (${(error as Error).message.split('\n')[0]})`;
  }
  return exe;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

interface Outcome {
  regs: bigint[];
  flags: number;
  data: string;
}

function runNative(exe: string, cases: DiffCase[]): Outcome[] {
  const input = cases
    .map(
      (c) =>
        `${c.mode} ${hex(c.code)} ${c.flags.toString(16)} ${c.regs.map((r) => r.toString(16)).join(' ')} ${hex(c.data)}`,
    )
    .join('\n');
  const out = spawnSync(exe, { input: `${input}\n`, maxBuffer: 256 * 1024 * 1024 });
  if (out.status !== 0)
    throw new Error(`native runner failed: ${out.stderr.toString()} (signal ${out.signal})`);
  return out.stdout
    .toString()
    .trim()
    .split('\n')
    .map((line) => {
      const f = line.split(' ');
      return {
        regs: f.slice(0, 16).map((x) => BigInt(`0x${x}`)),
        flags: Number.parseInt(f[16], 16),
        data: f[17],
      };
    });
}

function runEmulated(cases: DiffCase[], mode: 32 | 64): Outcome[] {
  const kvm = backend.open('differential SIMD tests');
  const machine = createMachine(kvm, { mode: mode === 64 ? 'long' : 'protected', supportedCpuid: true });
  const { vcpu, ram } = machine;
  // An OS that uses SSE sets CR4.OSFXSR and OSXMMEXCPT (Linux does; the native runner is a Linux process).
  const sregs = vcpu.getSregs();
  sregs.cr4 |= 0x600n;
  vcpu.setSregs(sregs);
  const results: Outcome[] = [];
  for (const c of cases) {
    ram.fill(0, CODE_ADDR, CODE_ADDR + 256);
    ram.set(c.code, CODE_ADDR);
    ram[CODE_ADDR + c.code.length] = 0xf4;
    ram.set(c.data, DATA_ADDR);
    const regs = vcpu.getRegs();
    for (let n = 0; n < 16; n++) regs[NAMES[n]] = mode === 64 ? c.regs[n] : c.regs[n] & 0xffffffffn;
    regs.rsp = 0x8000n;
    regs.rip = BigInt(CODE_ADDR);
    regs.rflags = BigInt(c.flags);
    vcpu.setRegs(regs);
    const exit = vcpu.run();
    const after = vcpu.getRegs();
    if (exit.reason !== 'hlt') {
      results.push({ regs: [], flags: -1, data: `exit ${exit.reason} at rip ${after.rip.toString(16)}` });
      continue;
    }
    results.push({
      regs: NAMES.map((name) => after[name]),
      flags: Number(after.rflags),
      data: hex(ram.subarray(DATA_ADDR, DATA_ADDR + DATA_SIZE)),
    });
  }
  machine.close();
  kvm.close();
  return results;
}

function compare(cases: DiffCase[], native: Outcome[], emulated: Outcome[]): string[] {
  const failures: string[] = [];
  for (let k = 0; k < cases.length; k++) {
    const c = cases[k];
    const a = native[k];
    const b = emulated[k];
    const diffs: string[] = [];
    if (b.flags === -1) {
      failures.push(`${c.name} [${hex(c.code)}]: ${b.data}`);
      continue;
    }
    const count = c.mode === 64 ? 16 : 8;
    const mask = c.mode === 64 ? (1n << 64n) - 1n : 0xffffffffn;
    for (let n = 0; n < count; n++) {
      if (n === 4 || c.skipRegs?.includes(n)) continue;
      if ((a.regs[n] & mask) !== (b.regs[n] & mask)) {
        diffs.push(
          `${NAMES[n]} host ${(a.regs[n] & mask).toString(16)} emu ${(b.regs[n] & mask).toString(16)}`,
        );
      }
    }
    if ((a.flags & c.flagMask) !== (b.flags & c.flagMask)) {
      diffs.push(
        `flags host ${(a.flags & c.flagMask).toString(16)} emu ${(b.flags & c.flagMask).toString(16)}`,
      );
    }
    if (a.data !== b.data) {
      const offsets: string[] = [];
      for (let o = 0; o < a.data.length; o += 2) {
        if (a.data.slice(o, o + 2) !== b.data.slice(o, o + 2)) offsets.push((o / 2).toString(16));
      }
      const first = Number.parseInt(offsets[0], 16) & ~15;
      diffs.push(
        `data differs at ${offsets.slice(0, 8).join(',')}: host ${a.data.slice(first * 2, first * 2 + 32)} emu ${b.data.slice(first * 2, first * 2 + 32)} in ${c.data.length ? hex(c.data.subarray(0, 0x50)) : ''}`,
      );
    }
    if (diffs.length) failures.push(`${c.name} [${hex(c.code)}] ${diffs.join('; ')}`);
  }
  return failures;
}

const runner = buildRunner();
const available = runner.startsWith('/');
if (!available) console.warn(`[differential-simd] skipped: ${runner}`);

function runs32BitCode(): boolean {
  if (!available) return false;
  const nop = `32 90 2 ${Array(16).fill('0').join(' ')} 00\n`;
  return spawnSync(runner, { input: nop }).status === 0;
}
const compat32 = runs32BitCode();
if (available && !compat32)
  console.warn('[differential-simd] 32-bit cases skipped: the kernel does not run 32-bit code');

function check(label: string, cases: DiffCase[], mode: 32 | 64): void {
  const native = runNative(runner, cases);
  const emulated = runEmulated(cases, mode);
  const failures = compare(cases, native, emulated);
  console.log(`[differential-simd] ${label}: ${cases.length} cases, ${cases.length - failures.length} agree`);
  if (failures.length) {
    const byName = new Map<string, number>();
    for (const f of failures) {
      const key = f.split(' [')[0];
      byName.set(key, (byName.get(key) ?? 0) + 1);
    }
    console.log([...byName.entries()].map(([k, n]) => `${k}: ${n}`).join(', '));
  }
  expect(failures.slice(0, Number(process.env.DIFF_SHOW ?? 20))).toEqual([]);
}

describe('differential: MMX/SSE/x87 on the emulator vs the host CPU', () => {
  for (const mode of [64, 32] as const) {
    it.skipIf(!available || (mode === 32 && !compat32))(
      `${mode}-bit mode: MMX, SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 forms agree`,
      () =>
        check(
          `${mode}-bit SSE`,
          generateSimdCases(
            0x51d + mode + Number(process.env.DIFF_SEED ?? 0),
            Number(process.env.DIFF_REPS ?? 3),
            mode,
          ),
          mode,
        ),
      300_000,
    );
    it.skipIf(!available || (mode === 32 && !compat32))(
      `${mode}-bit mode: x87 forms agree`,
      () =>
        check(
          `${mode}-bit x87`,
          generateX87Cases(
            0x87 + mode + Number(process.env.DIFF_SEED ?? 0),
            2 * Number(process.env.DIFF_REPS ?? 3),
            mode,
          ),
          mode,
        ),
      300_000,
    );
  }
});
