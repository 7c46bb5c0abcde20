/**
 * Differential tests: the same generated snippets run natively on the host CPU (native-runner.c, built with
 * gcc) and on the emulator in 64-bit mode; registers, the flags the manuals define, and a data buffer must
 * match. Skipped, with the reason printed, where there is no gcc or the host is not x86-64.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMachine } from '@kvm-ts/conformance';
import { describe, expect, it } from 'vitest';
import { backend } from '../src/index.js';
import { CODE_ADDR, DATA_ADDR, DATA_SIZE, type DiffCase, generateCases } from './differential/cases.js';

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

function buildRunner(): string | string {
  if (process.arch !== 'x64' || process.platform !== 'linux') return 'the host is not x86-64 Linux';
  const dir = mkdtempSync(join(tmpdir(), 'kvm-ts-diff-'));
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
  const out = spawnSync(exe, { input: `${input}\n`, maxBuffer: 64 * 1024 * 1024 });
  if (out.status !== 0)
    throw new Error(`native runner failed: ${out.stderr.toString()} (signal ${out.signal})`);
  return out.stdout
    .toString()
    .trim()
    .split('\n')
    .map((line) => {
      const f = line.split(' ');
      return {
        regs: f.slice(0, 16).map((v) => BigInt(`0x${v}`)),
        flags: Number.parseInt(f[16], 16),
        data: f[17],
      };
    });
}

function runEmulated(cases: DiffCase[], mode: 32 | 64): Outcome[] {
  const kvm = backend.open('differential tests');
  const machine = createMachine(kvm, { mode: mode === 64 ? 'long' : 'protected' });
  const { vcpu, ram } = machine;
  const results: Outcome[] = [];
  for (const c of cases) {
    ram.fill(0, CODE_ADDR, CODE_ADDR + 64);
    ram.set(c.code, CODE_ADDR);
    ram[CODE_ADDR + c.code.length] = 0xf4; // HLT ends the snippet.
    ram.set(c.data, DATA_ADDR);
    const regs = vcpu.getRegs();
    for (let n = 0; n < 16; n++) regs[NAMES[n]] = mode === 64 ? c.regs[n] : c.regs[n] & 0xffffffffn;
    regs.rsp = 0x8000n;
    regs.rip = BigInt(CODE_ADDR);
    regs.rflags = BigInt(c.flags);
    vcpu.setRegs(regs);
    const exit = vcpu.run();
    if (exit.reason !== 'hlt') throw new Error(`${c.name}: expected HLT, got ${exit.reason}`);
    const after = vcpu.getRegs();
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

const runner = buildRunner();
const available = runner.startsWith('/');
if (!available) console.warn(`[differential] skipped: ${runner}`);

function compare(cases: DiffCase[], native: Outcome[], emulated: Outcome[]): string[] {
  const failures: string[] = [];
  for (let k = 0; k < cases.length; k++) {
    const c = cases[k];
    const a = native[k];
    const b = emulated[k];
    const diffs: string[] = [];
    // In 32-bit mode only EAX-EDI exist, and only their low halves.
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
    if (a.data !== b.data) diffs.push('data buffer differs');
    if (diffs.length)
      failures.push(`${c.name} [${hex(c.code)}] flags ${c.flags.toString(16)}: ${diffs.join('; ')}`);
  }
  return failures;
}

/** Whether the host kernel runs 32-bit user code (ia32 emulation can be configured off). */
function runs32BitCode(): boolean {
  if (!available) return false;
  const nop = `32 90 2 ${Array(16).fill('0').join(' ')} 00\n`;
  return spawnSync(runner, { input: nop }).status === 0;
}
const compat32 = runs32BitCode();
if (available && !compat32)
  console.warn('[differential] 32-bit cases skipped: the kernel does not run 32-bit code');

describe('differential: emulator vs host CPU', () => {
  for (const mode of [64, 32] as const) {
    it.skipIf(!available || (mode === 32 && !compat32))(
      `${mode}-bit mode: generated ALU, shift, multiply, bit, move and string cases agree`,
      () => {
        const cases = generateCases(0x5eed + mode, 24, mode);
        const native = runNative(runner, cases);
        const emulated = runEmulated(cases, mode);
        const failures = compare(cases, native, emulated);
        console.log(
          `[differential] ${mode}-bit: ${cases.length} cases, ${cases.length - failures.length} agree`,
        );
        const byName = new Map<string, number>();
        for (const f of failures) {
          const key = f.split(' ')[0];
          byName.set(key, (byName.get(key) ?? 0) + 1);
        }
        if (failures.length) console.log([...byName.entries()].map(([k, v]) => `${k}: ${v}`).join(', '));
        expect(failures.slice(0, 30)).toEqual([]);
      },
      120_000,
    );
  }
});
