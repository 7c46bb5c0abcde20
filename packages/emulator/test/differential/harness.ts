/**
 * The machinery of the differential tests: generated snippets run on the host CPU (native-runner.c, built with
 * gcc) and on the emulator, and the outcomes (registers, the flags each case defines, the data buffer) compared.
 * differential.test.ts (general-purpose instructions) and differential-simd.test.ts (MMX, SSE, x87) use it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMachine } from '@kvm-ts/conformance';
import { expect } from 'vitest';
import { setBlockThreshold } from '../../src/cpu/blocks.js';
import { setWasmThreshold } from '../../src/cpu/wasm/tier.js';
import { backend } from '../../src/index.js';
import { CODE_ADDR, DATA_ADDR, DATA_SIZE, type DiffCase } from './cases.js';

/** The sixteen general registers in encoding order, as `KvmRegs` names them. */
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

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** What one snippet left behind; `flags` -1 when the emulator did not reach the HLT (`data` says why). */
interface Outcome {
  regs: bigint[];
  flags: number;
  data: string;
}

/** The host side: the native runner's path, or why there is none here (`available` says which). */
export interface NativeRunner {
  readonly available: boolean;
  /** The executable, or the reason it cannot run. */
  readonly pathOrReason: string;
  /** Whether the host kernel runs 32-bit user code (ia32 emulation can be configured off). */
  readonly compat32: boolean;
}

/** Builds native-runner.c with gcc into a temporary folder; not available off x86-64 Linux or without gcc. */
export function buildNativeRunner(): NativeRunner {
  const unavailable = (reason: string) => ({ available: false, pathOrReason: reason, compat32: false });
  if (process.arch !== 'x64' || process.platform !== 'linux')
    return unavailable('the host is not x86-64 Linux');
  const exe = join(mkdtempSync(join(tmpdir(), 'kvm-ts-diff-')), 'native-runner');
  const source = fileURLToPath(new URL('./native-runner.c', import.meta.url));
  try {
    execFileSync('gcc', ['-O1', '-o', exe, source], { stdio: 'pipe' });
  } catch (error) {
    return unavailable(`gcc could not build the native runner (${(error as Error).message.split('\n')[0]})`);
  }
  const nop = `32 90 2 ${Array(16).fill('0').join(' ')} 00\n`;
  return { available: true, pathOrReason: exe, compat32: spawnSync(exe, { input: nop }).status === 0 };
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

/** Where the run starts when snippets run as blocks (see `runEmulated`): an offset on the snippet's page. */
const LEAD = 0xc00;
/** NOP, then JMP rel32 back to CODE_ADDR. */
const LEAD_CODE = [0x90, 0xe9, ...new Uint8Array(new Int32Array([-(LEAD + 6)]).buffer)];

function runEmulated(cases: DiffCase[], mode: 32 | 64, asBlocks = false): Outcome[] {
  const kvm = backend.open('differential tests');
  const machine = createMachine(kvm, { mode: mode === 64 ? 'long' : 'protected', supportedCpuid: true });
  const { vcpu, ram } = machine;
  // An OS that uses SSE sets CR4.OSFXSR and OSXMMEXCPT (Linux does; the native runner is a Linux process).
  const sregs = vcpu.getSregs();
  sregs.cr4 |= 0x600n;
  vcpu.setSregs(sregs);
  const results: Outcome[] = [];
  // As blocks: each run starts with an empty code TLB (the VMM may have written guest memory), so its first
  // instruction is fetched through the page walk, never as a block. So the run starts on the same page at LEAD,
  // a NOP and a JMP to the snippet, which stays where the host runs it (RIP-relative operands and x87's last
  // instruction pointer see the same addresses). A block is built on the second visit (setBlockThreshold(2)),
  // once the first has decoded the snippet: the case runs twice from the same state and the second run counts.
  const runOnce = (c: DiffCase) => {
    ram.fill(0, CODE_ADDR, CODE_ADDR + 256);
    ram.set(c.code, CODE_ADDR);
    ram[CODE_ADDR + c.code.length] = 0xf4; // HLT ends the snippet.
    ram.set(LEAD_CODE, CODE_ADDR + LEAD);
    ram.set(c.data, DATA_ADDR);
    const regs = vcpu.getRegs();
    for (let n = 0; n < 16; n++) regs[NAMES[n]] = mode === 64 ? c.regs[n] : c.regs[n] & 0xffffffffn;
    regs.rsp = 0x8000n;
    regs.rip = BigInt(CODE_ADDR + (asBlocks ? LEAD : 0));
    regs.rflags = BigInt(c.flags);
    vcpu.setRegs(regs);
    return vcpu.run();
  };
  for (const c of cases) {
    if (asBlocks) runOnce(c);
    const exit = runOnce(c);
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

/**
 * Whether the host CPU keeps the x87 pointers as the emulator's CPUID says it does: FDP only at unmasked
 * exceptions and FCS/FDS always 0 (CPUID.(EAX=7,ECX=0):EBX bits 6 and 13, Linux's `fdp_excptn_only` and
 * `zero_fcs_fds`; SDM Vol. 1 8.1.8). Current Intel parts do; AMD's store the last instruction's pointers and
 * opcode, which the emulator does not model, so there those bytes are not compared.
 */
const HOST_X87_POINTERS_AS_EMULATOR = ((): boolean => {
  let flags = '';
  try {
    flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    return false;
  }
  const has = (name: string) => flags.split(' ').includes(name);
  const same = has('fdp_excptn_only') && has('zero_fcs_fds');
  if (!same)
    console.warn(
      '[differential] the host CPU keeps the x87 FCS/FOP/FDP/FDS pointers (no fdp_excptn_only and zero_fcs_fds): those FNSAVE bytes are not compared',
    );
  return same;
})();

/** An outcome's data as compared: the x87 pointer bytes blanked where the host keeps them otherwise. */
function comparedData(c: DiffCase, data: string): string {
  if (c.x87Pointers === undefined || HOST_X87_POINTERS_AS_EMULATOR) return data;
  let blanked = data;
  for (const [from, to] of c.x87Pointers)
    blanked = blanked.slice(0, from * 2) + '--'.repeat(to - from) + blanked.slice(to * 2);
  return blanked;
}

function compare(cases: DiffCase[], native: Outcome[], emulated: Outcome[]): string[] {
  const failures: string[] = [];
  for (let k = 0; k < cases.length; k++) {
    const c = cases[k];
    if (emulated[k].flags === -1) {
      failures.push(`${c.name} [${hex(c.code)}]: ${emulated[k].data}`);
      continue;
    }
    const a = { ...native[k], data: comparedData(c, native[k].data) };
    const b = { ...emulated[k], data: comparedData(c, emulated[k].data) };
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
    if (a.data !== b.data) {
      const offsets: string[] = [];
      for (let o = 0; o < a.data.length; o += 2) {
        if (a.data.slice(o, o + 2) !== b.data.slice(o, o + 2)) offsets.push((o / 2).toString(16));
      }
      const first = Number.parseInt(offsets[0], 16) & ~15;
      diffs.push(
        `data differs at ${offsets.slice(0, 8).join(',')}: host ${a.data.slice(first * 2, first * 2 + 32)} emu ${b.data.slice(first * 2, first * 2 + 32)}`,
      );
    }
    if (diffs.length)
      failures.push(`${c.name} [${hex(c.code)}] flags ${c.flags.toString(16)}: ${diffs.join('; ')}`);
  }
  return failures;
}

/** Every how many cases also runs as a compiled block (compiling costs about a millisecond a case). */
const BLOCK_SAMPLE = 4;

/** Runs `cases` on the emulator with each snippet compiled into a block (see `runEmulated`). */
function runEmulatedAsBlocks(cases: DiffCase[], mode: 32 | 64): Outcome[] {
  const saved = setBlockThreshold(2);
  try {
    return runEmulated(cases, mode, true);
  } finally {
    setBlockThreshold(saved);
  }
}

/**
 * Runs `cases` on the emulator with each snippet compiled into a WebAssembly block, JavaScript blocks off (the
 * lead-in's JMP is followed into the snippet, which runs in the block up to its first form the tier does not
 * compile).
 */
function runEmulatedAsWasm(cases: DiffCase[], mode: 32 | 64): Outcome[] {
  const savedJs = setBlockThreshold(-1);
  const savedWasm = setWasmThreshold(2);
  try {
    return runEmulated(cases, mode, true);
  } finally {
    setBlockThreshold(savedJs);
    setWasmThreshold(savedWasm);
  }
}

/**
 * Runs `cases` on the host and on the emulator in `mode`, in the interpreter, (one case in BLOCK_SAMPLE) as
 * compiled blocks, and in 64-bit mode every case as a WebAssembly block, prints how many agree (and the disagreeing case names with their counts), and fails with the
 * first `DIFF_SHOW` (default 20) disagreements.
 */
export function expectAgreement(runner: NativeRunner, label: string, cases: DiffCase[], mode: 32 | 64): void {
  const native = runNative(runner.pathOrReason, cases);
  const sampled = cases.filter((_, k) => k % BLOCK_SAMPLE === 0);
  const failures = [
    ...compare(cases, native, runEmulated(cases, mode)),
    ...compare(
      sampled,
      native.filter((_, k) => k % BLOCK_SAMPLE === 0),
      runEmulatedAsBlocks(sampled, mode),
    ).map((f) => `compiled block: ${f}`),
    ...(mode === 64
      ? compare(cases, native, runEmulatedAsWasm(cases, mode)).map((f) => `wasm block: ${f}`)
      : []),
  ];
  const wasmRuns = mode === 64 ? cases.length : 0;
  const total = cases.length + sampled.length + wasmRuns;
  console.log(
    `[${label}] ${cases.length} cases, ${sampled.length} of them again as compiled blocks, ${wasmRuns} as WebAssembly blocks: ${total - failures.length} of ${total} runs agree`,
  );
  if (failures.length) {
    const byName = new Map<string, number>();
    for (const f of failures) {
      const key = f.split(' [')[0];
      byName.set(key, (byName.get(key) ?? 0) + 1);
    }
    console.log([...byName.entries()].map(([name, n]) => `${name}: ${n}`).join(', '));
  }
  expect(failures.slice(0, Number(process.env.DIFF_SHOW ?? 20))).toEqual([]);
}
