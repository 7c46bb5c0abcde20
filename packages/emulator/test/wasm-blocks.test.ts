/**
 * The WebAssembly tier (src/cpu/wasm/) against the interpreter as its oracle: every instruction it compiles
 * that sets flags, followed by SETcc, CMOVcc and Jcc of all sixteen conditions, over edge-case operands; loops
 * that chain blocks through the dispatcher under a small instruction budget (the retired count, hence the TSC,
 * must agree); a store into the block's own code page, an MMIO access and a page fault in the middle of a block,
 * each of which must leave the block for the interpreter's handler at exactly that instruction.
 */

import { createMachine, type Machine } from '@kvm-ts/conformance';
import type { Kvm, KvmRegs } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EmulatorVcpu } from '../src/backend/vcpu.js';
import { type Block, setBlockThreshold } from '../src/cpu/blocks.js';
import { BLOCK_HEAT } from '../src/cpu/insn-cache.js';
import { tlbIndex } from '../src/cpu/mmu.js';
import { setWasmThreshold } from '../src/cpu/wasm/tier.js';
import { setBackgroundCompile, wasmStats } from '../src/cpu/wasm/wasm-block.js';
import { backend } from '../src/index.js';
import { precompile } from './support/precompile.js';

const CODE = 0x30000;
/** `NOP; JMP CODE` on the code page: a run's first instruction is never a block, the JMP's target is. */
const LEAD = CODE + 0x800;
const DATA = 0x20000;

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('WebAssembly tier tests');
});
afterEach(() => kvm.close());

/** A long-mode machine, with the WebAssembly tier on (`wasm`, at `visits`) or off, JavaScript blocks off. */
function machine(wasm: boolean, visits = 60000): Machine {
  setBlockThreshold(-1);
  setWasmThreshold(wasm ? visits : -1);
  return createMachine(kvm, { mode: 'long', supportedCpuid: true });
}

let savedJs = 0;
let savedWasm = 0;
let savedBackground = true;
beforeEach(() => {
  savedJs = setBlockThreshold(-1);
  savedWasm = setWasmThreshold(-1);
  // Blocks exist as soon as a site is hot: these tests count them and compare runs step by step.
  savedBackground = setBackgroundCompile(false);
});
afterEach(() => {
  setBlockThreshold(savedJs);
  setWasmThreshold(savedWasm);
  setBackgroundCompile(savedBackground);
});

/** Runs until HLT (INTR exits of the budget go on). */
function runToHlt(m: Machine): string {
  for (let k = 0; k < 10000; k++) {
    const exit = m.vcpu.run();
    if (exit.reason !== 'intr') return exit.reason;
  }
  return 'no exit';
}

/** Runs to HLT, the INTR exits of the vCPU's instruction budget going on; returns the most one run retired. */
function runBudgeted(m: Machine): number {
  const cpu = (m.vcpu as EmulatorVcpu).cpu;
  let most = 0;
  let reason = 'intr';
  for (let k = 0; k < 10000 && reason === 'intr'; k++) {
    const before = cpu.retired;
    reason = m.vcpu.run().reason;
    most = Math.max(most, cpu.retired - before);
  }
  expect(reason).toBe('hlt');
  return most;
}

/**
 * Loads `code` at CODE (its page cleared first) and the lead-in at LEAD (`before`, which the interpreter runs on
 * the way, then NOP; JMP CODE), and sets `regs` over RIP at the lead-in, RSP 0x8000 and RFLAGS 2.
 */
function enter(
  m: Machine,
  code: readonly number[],
  regs: Partial<KvmRegs> = {},
  before: readonly number[] = [],
): void {
  m.ram.fill(0, CODE, CODE + 0x1000);
  m.ram.set(code, CODE);
  const jmp = LEAD + before.length + 6;
  m.ram.set([...before, 0x90, 0xe9, ...new Uint8Array(new Int32Array([CODE - jmp]).buffer)], LEAD);
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: BigInt(LEAD), rsp: 0x8000n, rflags: 2n, ...regs });
}

/**
 * `enter`s `code` with `regs` and `before`, compiles one WebAssembly block over `code` when `wasm`, and runs from
 * the lead-in to HLT; returns the registers.
 */
function runCase(
  m: Machine,
  code: number[],
  regs: Partial<KvmRegs>,
  wasm: boolean,
  before: number[] = [],
): KvmRegs {
  enter(m, code, regs, before);
  if (wasm) precompile(m.vcpu, CODE, code.length, 'wasm');
  expect(runToHlt(m)).toBe('hlt');
  return m.vcpu.getRegs();
}

/** Operand pairs at the edges of every size: zero, one, all ones, sign boundaries. */
const EDGES = [
  0n,
  1n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffn,
  0x8000n,
  0x7fff_ffffn,
  0x8000_0000n,
  0xffff_ffffn,
  0x1_0000_0000n,
  0x7fff_ffff_ffff_ffffn,
  0x8000_0000_0000_0000n,
  0xffff_ffff_ffff_ffffn,
];
const PAIRS: [bigint, bigint][] = [];
for (let k = 0; k < EDGES.length; k++) PAIRS.push([EDGES[k], EDGES[(k * 5 + 3) % EDGES.length]]);
PAIRS.push(
  [0x1234_5678_9abc_def0n, 0x1234_5678_9abc_def0n],
  [0xfedc_ba98_7654_3210n, 0x0123_4567_89ab_cdefn],
);

/** Flag-setting forms the tier compiles, on RAX (or AL, AX, EAX) and RBX. */
const WRITERS: [string, number[]][] = [
  ['add rax, rbx', [0x48, 0x01, 0xd8]],
  ['add eax, ebx', [0x01, 0xd8]],
  ['add al, bl', [0x00, 0xd8]],
  ['add ax, bx', [0x66, 0x01, 0xd8]],
  ['sub rax, rbx', [0x48, 0x29, 0xd8]],
  ['sub eax, ebx', [0x29, 0xd8]],
  ['sub ah, bl', [0x28, 0xdc]],
  ['cmp rax, rbx', [0x48, 0x39, 0xd8]],
  ['cmp eax, ebx', [0x39, 0xd8]],
  ['cmp al, bl', [0x38, 0xd8]],
  ['cmp ax, bx', [0x66, 0x39, 0xd8]],
  ['cmp rax, -2', [0x48, 0x83, 0xf8, 0xfe]],
  ['cmp al, 0x80', [0x3c, 0x80]],
  ['and rax, rbx', [0x48, 0x21, 0xd8]],
  ['or ebx, eax', [0x09, 0xc3]],
  ['xor al, bl', [0x30, 0xd8]],
  ['test rax, rbx', [0x48, 0x85, 0xd8]],
  ['test eax, 0x80000000', [0xa9, 0, 0, 0, 0x80]],
  ['test bl, 0x81', [0xf6, 0xc3, 0x81]],
  ['shl rax, 1', [0x48, 0xd1, 0xe0]],
  ['shl eax, 31', [0xc1, 0xe0, 0x1f]],
  ['shr rax, 63', [0x48, 0xc1, 0xe8, 0x3f]],
  ['shr eax, 1', [0xd1, 0xe8]],
  ['sar rax, 5', [0x48, 0xc1, 0xf8, 0x05]],
  ['sar eax, 1', [0xd1, 0xf8]],
  ['shl eax, 32 (count 0)', [0xc1, 0xe0, 0x20]],
  ['shl rax, cl', [0x48, 0xd3, 0xe0]],
  ['shr eax, cl', [0xd3, 0xe8]],
  ['sar rax, cl', [0x48, 0xd3, 0xf8]],
  ['imul rax, rbx', [0x48, 0x0f, 0xaf, 0xc3]],
  ['imul eax, ebx', [0x0f, 0xaf, 0xc3]],
  ['imul rax, rbx, -3', [0x48, 0x6b, 0xc3, 0xfd]],
  ['imul eax, ebx, 0x12345', [0x69, 0xc3, 0x45, 0x23, 0x01, 0x00]],
  ['mul rbx', [0x48, 0xf7, 0xe3]],
  ['mul ebx', [0xf7, 0xe3]],
  ['imul rbx (one operand)', [0x48, 0xf7, 0xeb]],
  ['imul ebx (one operand)', [0xf7, 0xeb]],
  ['neg rax', [0x48, 0xf7, 0xd8]],
  ['neg al', [0xf6, 0xd8]],
  ['neg ebx', [0xf7, 0xdb]],
  // ADC and SBB read CF: after a writer, and in a chain.
  ['cmp rax, rbx; adc rax, rbx', [0x48, 0x39, 0xd8, 0x48, 0x11, 0xd8]],
  ['add rax, rbx; adc ebx, eax', [0x48, 0x01, 0xd8, 0x11, 0xc3]],
  ['add rax, rbx; adc rax, rbx; adc rbx, rax', [0x48, 0x01, 0xd8, 0x48, 0x11, 0xd8, 0x48, 0x11, 0xc3]],
  ['sub eax, ebx; sbb rax, rbx', [0x29, 0xd8, 0x48, 0x19, 0xd8]],
  ['cmp al, bl; sbb al, 1', [0x38, 0xd8, 0x1c, 0x01]],
  ['shr eax, 1; adc rax, 0', [0xd1, 0xe8, 0x48, 0x83, 0xd0, 0x00]],
  ['sub rax, rbx; sbb rbx, rbx', [0x48, 0x29, 0xd8, 0x48, 0x19, 0xdb]],
  ['cmp rax, rbx; not rax', [0x48, 0x39, 0xd8, 0x48, 0xf7, 0xd0]],
  // ROL and ROR fold every flag into RFLAGS: after each kind of writer, and read by ADC and INC after them.
  ['add rax, rbx; rol rax, 3', [0x48, 0x01, 0xd8, 0x48, 0xc1, 0xc0, 0x03]],
  ['cmp eax, ebx; ror eax, 1', [0x39, 0xd8, 0xd1, 0xc8]],
  ['shr rbx, 1; rol rbx, 63', [0x48, 0xd1, 0xeb, 0x48, 0xc1, 0xc3, 0x3f]],
  ['xor al, bl; ror rax, 17', [0x30, 0xd8, 0x48, 0xc1, 0xc8, 0x11]],
  ['dec eax; after cmp; rol eax, 1', [0x48, 0x39, 0xd8, 0xff, 0xc8, 0xd1, 0xc0]],
  ['cmp rax, rbx; rol rax, 1; adc rbx, rax', [0x48, 0x39, 0xd8, 0x48, 0xd1, 0xc0, 0x48, 0x11, 0xc3]],
  ['sub rax, rbx; ror rbx, 9; inc ebx', [0x48, 0x29, 0xd8, 0x48, 0xc1, 0xcb, 0x09, 0xff, 0xc3]],
  ['add al, bl; rol rax, 1; ror rax, 1', [0x00, 0xd8, 0x48, 0xd1, 0xc0, 0x48, 0xd1, 0xc8]],
];

/** INC/DEC read CF: after a writer. */
const INC_DEC: [string, number[]][] = [
  ['inc rax', [0x48, 0xff, 0xc0]],
  ['dec eax', [0xff, 0xc8]],
  ['inc al', [0xfe, 0xc0]],
  ['dec ah', [0xfe, 0xcc]],
];

/** The registers of a flags case: RAX and RBX the pair, CL from them (0 among them, for shifts by CL). */
function operands(a: bigint, b: bigint): Partial<KvmRegs> {
  return { rax: a, rbx: b, rcx: (a ^ b) & 0xffn, rdx: 0x5555n, rsi: 0x1111n, rdi: 0x2222n, r10: 0n };
}

/** SETcc DL, CMOVcc RSI, RDI, Jcc over OR R10, 1, then HLT. */
function readers(cc: number): number[] {
  return [0x0f, 0x90 + cc, 0xc2, 0x48, 0x0f, 0x40 + cc, 0xf7, 0x70 + cc, 0x04, 0x49, 0x83, 0xca, 0x01, 0xf4];
}

describe('WebAssembly blocks against the interpreter', () => {
  it('every flag-setting form, then SETcc, CMOVcc and Jcc of each condition, agree', () => {
    using plain = machine(false);
    using compiled = machine(true);
    // With the tier off a VM reserves no WebAssembly memory: its RAM is an ArrayBuffer of its own.
    expect((plain.vcpu as EmulatorVcpu).cpu.area).toBeNull();
    expect(plain.ram.byteOffset).toBe(0);
    expect((compiled.vcpu as EmulatorVcpu).cpu.area).not.toBeNull();
    const built = wasmStats.built;
    let runs = 0;
    const cases: [string, number[]][] = [...WRITERS];
    // INC/DEC after a CMP or a shift, whose CF they keep.
    for (const [name, bytes] of INC_DEC) {
      cases.push([`cmp rax, rbx; ${name}`, [0x48, 0x39, 0xd8, ...bytes]]);
      cases.push([`shr ebx, 1; ${name}`, [0xd1, 0xeb, ...bytes]]);
    }
    for (const [name, writer] of cases) {
      for (let cc = 0; cc < 16; cc++) {
        for (const [a, b] of PAIRS) {
          const code = [...writer, ...readers(cc)];
          const regs = operands(a, b);
          const want = runCase(plain, code, regs, false);
          const got = runCase(compiled, code, regs, true);
          expect(got, `${name}; cc ${cc}; rax ${a.toString(16)} rbx ${b.toString(16)}`).toEqual(want);
          runs++;
        }
      }
    }
    expect(wasmStats.built - built).toBe(runs);
    // Every module the compiler wrote was valid WebAssembly.
    expect(wasmStats.invalid).toBe(0);
  }, 120_000);

  it('a block that reads flags before it sets any computes them from the lazy record the interpreter left', () => {
    using plain = machine(false);
    using compiled = machine(true);
    const built = wasmStats.built;
    let runs = 0;
    // Flag writers the interpreter runs (the tier's forms and some it leaves to the interpreter: each leaves its
    // own kind of lazy record, or none), on the way to a block whose first instruction reads flags.
    const writers: [string, number[]][] = [
      ...WRITERS,
      ...INC_DEC.map(([name, bytes]): [string, number[]] => [
        `cmp rax, rbx; ${name}`,
        [0x48, 0x39, 0xd8, ...bytes],
      ]),
      ['bt rax, 5', [0x48, 0x0f, 0xba, 0xe0, 0x05]],
      ['mul rbx', [0x48, 0xf7, 0xe3]],
      ['shld rax, rbx, 3', [0x48, 0x0f, 0xa4, 0xd8, 0x03]],
      ['add rax, rbx; stc', [0x48, 0x01, 0xd8, 0xf9]],
      ['sub eax, ebx; cmc', [0x29, 0xd8, 0xf5]],
      ['inc byte [rsp - 8] (CF kept)', [0x48, 0x39, 0xd8, 0xfe, 0x44, 0x24, 0xf8]],
    ];
    const heads: [string, number[]][] = [];
    for (let cc = 0; cc < 16; cc++) heads.push([`cc ${cc} first`, readers(cc)]);
    heads.push(['adc first', [0x48, 0x11, 0xc6, ...readers(2)]]);
    heads.push(['dec first', [0xff, 0xcb, ...readers(0)]]);
    heads.push(['rol first', [0x48, 0xd1, 0xc6, ...readers(11)]]);
    for (const [name, writer] of writers) {
      for (const [head, code] of heads) {
        for (const [a, b] of PAIRS) {
          const regs = operands(a, b);
          const want = runCase(plain, code, regs, false, writer);
          const got = runCase(compiled, code, regs, true, writer);
          expect(got, `${name}; ${head}; rax ${a.toString(16)} rbx ${b.toString(16)}`).toEqual(want);
          runs++;
        }
      }
    }
    expect(wasmStats.built - built).toBe(runs);
    expect(wasmStats.invalid).toBe(0);
  }, 120_000);

  it('loops chained through the dispatcher retire what the interpreter retires, under a small budget', () => {
    // sum: add rax, rcx; mov [rdi], rax; add rdi, 8; and rdi, 0x20fff (wraps in the data page); sub rcx, 1;
    // jnz sum; then a second loop: call f; sub rbx, 1; jnz; hlt; f: add rdx, rbx; ret.
    const code = [
      0x48, 0x01, 0xc8, 0x48, 0x89, 0x07, 0x48, 0x83, 0xc7, 0x08, 0x48, 0x81, 0xe7, 0xff, 0x0f, 0x02, 0x00,
      0x48, 0x83, 0xe9, 0x01, 0x75, 0xe9, 0xe8, 0x07, 0, 0, 0, 0x48, 0x83, 0xeb, 0x01, 0x75, 0xf5, 0xf4, 0x48,
      0x01, 0xda, 0xc3,
    ];
    const results: [KvmRegs, number, bigint][] = [];
    for (const wasm of [false, true]) {
      using m = machine(wasm, 3);
      (m.vcpu as EmulatorVcpu).instructionBudget = 97;
      enter(m, code, { rcx: 5000n, rbx: 3000n, rdi: BigInt(DATA) });
      const built = wasmStats.built;
      // No run may retire more than its budget, however blocks and passes fall.
      expect(runBudgeted(m), 'instructions in one run').toBeLessThanOrEqual(97);
      if (wasm) expect(wasmStats.built - built, 'blocks built').toBeGreaterThan(1);
      const view = new DataView(m.ram.buffer, m.ram.byteOffset);
      results.push([
        m.vcpu.getRegs(),
        (m.vcpu as EmulatorVcpu).cpu.retired,
        view.getBigUint64(DATA + 0x800, true),
      ]);
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[0][1]).toBe(2 + 5000 * 6 + 3000 * 5 + 1);
  });

  it('forward branches inside a trace, and the paths it takes in from taken Jcc, agree with the interpreter', () => {
    // loop: mov rax, rcx; and eax, 3; jz .z; add rdx, rbp; .z: setc bl; movzx ebx, bl; add rsi, rbx;
    // sete bl; add rdi, rbx; call f; test cl, 4; jnz .odd; add r8, rax; xchg eax, ebx (not compiled: the path
    // ends); add r8, rbx; .odd: adc r9, r8; dec rcx; jnz loop; hlt.
    // f: cmp rax, 2; jae .out; add r10, rax; ret; .out: sub r10, rax; ret.
    // .z joins a LOGIC and an ADD (SETC reads CF, which differs); .out follows the RET the trace followed;
    // .odd is reached only by the JNZ (ADC reads TEST's CF, not SUB's from the path before it).
    const code = [
      0x48, 0x89, 0xc8, 0x83, 0xe0, 0x03, 0x74, 0x03, 0x48, 0x01, 0xea, 0x0f, 0x92, 0xc3, 0x0f, 0xb6, 0xdb,
      0x48, 0x01, 0xde, 0x0f, 0x94, 0xc3, 0x48, 0x01, 0xdf, 0xe8, 0x15, 0x00, 0x00, 0x00, 0xf6, 0xc1, 0x04,
      0x75, 0x07, 0x49, 0x01, 0xc0, 0x93, 0x49, 0x01, 0xd8, 0x4d, 0x11, 0xc1, 0x48, 0xff, 0xc9, 0x75, 0xcd,
      0xf4, 0x48, 0x83, 0xf8, 0x02, 0x73, 0x04, 0x49, 0x01, 0xc2, 0xc3, 0x49, 0x29, 0xc2, 0xc3,
    ];
    const results: [KvmRegs, number][] = [];
    for (const wasm of [false, true]) {
      using m = machine(wasm, 3);
      (m.vcpu as EmulatorVcpu).instructionBudget = 97;
      enter(m, code, { rcx: 3000n, rbp: 1n << 63n });
      if (wasm) {
        // The straight path is 17 instructions to the XCHG; .out's two and .odd's three are taken in.
        expect(precompile(m.vcpu, CODE, code.length, 'wasm')).toBe(22);
      }
      expect(runBudgeted(m), 'instructions in one run').toBeLessThanOrEqual(97);
      results.push([m.vcpu.getRegs(), (m.vcpu as EmulatorVcpu).cpu.retired]);
    }
    expect(results[1]).toEqual(results[0]);
    // Both CF sources at .z were seen: some SETC read 1 (after the ADD), not all.
    expect(results[0][0].rsi).toBeGreaterThan(0n);
    expect(results[0][0].rsi).toBeLessThan(3000n);
  });

  it('a store into its own code page leaves the block at that store; the next run sees the new code', () => {
    // mov byte [rip + patch], 0x05 (the imm8 of the ADD below: 1 -> 5); add rax, 1; hlt.
    const code = [0xc6, 0x05, 0x03, 0, 0, 0, 0x05, 0x48, 0x83, 0xc0, 0x01, 0xf4];
    for (const wasm of [false, true]) {
      using m = machine(wasm);
      const r = runCase(m, code, { rax: 0n }, wasm);
      expect(r.rax, wasm ? 'WebAssembly' : 'interpreter').toBe(5n);
    }
  });

  it('a page the dispatcher chains into, rewritten by the VMM between runs, runs its new bytes', () => {
    // CODE: call TARGET; out 0x10, eax; jmp CODE. TARGET (the next page): mov eax, 0x11; ret.
    const TARGET = CODE + 0x1000;
    const call = [0xe8, ...new Uint8Array(new Int32Array([TARGET - (CODE + 5)]).buffer)];
    const loop = [...call, 0xe7, 0x10, 0xeb, 0xf7];
    const target = [0xb8, 0x11, 0, 0, 0, 0xc3];
    for (const wasm of [false, true]) {
      using m = machine(wasm);
      m.ram.fill(0, TARGET, TARGET + 0x1000);
      m.ram.set(target, TARGET);
      enter(m, loop);
      if (wasm) {
        // The block at CODE ends at the CALL; the dispatcher goes on into the block at TARGET.
        expect(precompile(m.vcpu, TARGET, target.length, 'wasm')).toBe(2);
        expect(precompile(m.vcpu, CODE, call.length, 'wasm')).toBe(1);
      }
      const outs: number[] = [];
      for (const value of [0x11, 0x11, 0x22, 0x22, 0x33]) {
        m.ram[TARGET + 1] = value;
        const exit = m.vcpu.run();
        outs.push(exit.reason === 'io' ? exit.data[0] : -1);
      }
      expect(outs, wasm ? 'WebAssembly' : 'interpreter').toEqual([0x11, 0x11, 0x22, 0x22, 0x33]);
    }
  });

  it('a chain on one page, to the next page and back, runs the block at each RIP, never one at the same offset of the other page', () => {
    // A block per instruction (the JNZ's takes in its taken path), so the dispatcher goes from each to the
    // next, three times round: CODE: add rax, 1; add rax, 2; jmp NEXT + 0x100. NEXT + 0x100: add rbx, 1;
    // jmp CODE + 0x200. CODE + 0x200: add rdx, 1; sub r8, 1; jnz CODE; hlt. The same offsets on the other page
    // hold decoys that a chain using the wrong page's directory would run: CODE + 0x100: add rcx, 1; hlt, and
    // NEXT + 0x200: add rsi, 1; hlt. The first time round, the next page is new to the run and the chain
    // returns there; then it goes on.
    const NEXT = CODE + 0x1000;
    const jmp = (from: number, to: number) => [
      0xe9,
      ...new Uint8Array(new Int32Array([to - (from + 5)]).buffer),
    ];
    const code = [0x48, 0x83, 0xc0, 0x01, 0x48, 0x83, 0xc0, 0x02, ...jmp(CODE + 8, NEXT + 0x100)];
    const jnz = [0x0f, 0x85, ...new Uint8Array(new Int32Array([CODE - (CODE + 0x20e)]).buffer)];
    for (const wasm of [false, true]) {
      using m = machine(wasm);
      enter(m, code, { r8: 3n });
      m.ram.fill(0, NEXT, NEXT + 0x1000);
      m.ram.set([0x48, 0x83, 0xc1, 0x01, 0xf4], CODE + 0x100);
      m.ram.set([0x48, 0x83, 0xc2, 0x01, 0x49, 0x83, 0xe8, 0x01, ...jnz, 0xf4], CODE + 0x200);
      m.ram.set([0x48, 0x83, 0xc3, 0x01, ...jmp(NEXT + 0x104, CODE + 0x200)], NEXT + 0x100);
      m.ram.set([0x48, 0x83, 0xc6, 0x01, 0xf4], NEXT + 0x200);
      if (wasm) {
        for (const [at, length] of [
          [CODE, 4],
          [CODE + 4, 4],
          [CODE + 8, 5],
          [NEXT + 0x100, 4],
          [NEXT + 0x104, 5],
          [CODE + 0x200, 4],
          [CODE + 0x204, 4],
          [CODE + 0x208, 6],
          [CODE + 0x100, 4],
          [NEXT + 0x200, 4],
        ])
          expect(precompile(m.vcpu, at, length, 'wasm'), `block at ${at.toString(16)}`).toBeGreaterThan(0);
      }
      expect(runToHlt(m)).toBe('hlt');
      const { rax, rbx, rcx, rdx, rsi, r8, rip } = m.vcpu.getRegs();
      expect({ rax, rbx, rcx, rdx, rsi, r8, rip }, wasm ? 'WebAssembly' : 'interpreter').toEqual({
        rax: 9n,
        rbx: 3n,
        rcx: 0n,
        rdx: 3n,
        rsi: 0n,
        r8: 0n,
        rip: BigInt(CODE + 0x20f),
      });
    }
  });

  it('an MMIO store in the middle of a block is an MMIO exit at that instruction, the earlier ones done', () => {
    // mov rax, 7; mov [rbx], eax (rbx: mapped, no slot behind it); hlt
    const code = [0x48, 0xc7, 0xc0, 0x07, 0, 0, 0, 0x89, 0x03, 0xf4];
    for (const wasm of [false, true]) {
      using m = machine(wasm);
      enter(m, code, { rbx: 0xd_0000n });
      if (wasm) expect(precompile(m.vcpu, CODE, code.length, 'wasm')).toBe(2);
      const exit = m.vcpu.run();
      expect(exit.reason === 'mmio' && { addr: exit.physAddr, write: exit.isWrite, len: exit.len }).toEqual({
        addr: 0xd_0000n,
        write: true,
        len: 4,
      });
      expect(m.vcpu.getRegs().rax).toBe(7n);
      expect(m.vcpu.run().reason).toBe('hlt');
      expect(m.vcpu.getRegs().rip).toBe(BigInt(CODE + code.length));
    }
  });

  it("an MMIO exit between IMUL and the ADD that sets the flags again shows the VMM IMUL's CF and OF", () => {
    // imul rax, rcx; mov [rbx], eax (rbx: mapped, no slot behind it); add rdx, 1; hlt
    const code = [0x48, 0x0f, 0xaf, 0xc1, 0x89, 0x03, 0x48, 0x83, 0xc2, 0x01, 0xf4];
    for (const [rax, rcx, carry] of [
      [0x1_0000_0000n, 0x1_0000_0000n, 0x801n],
      [3n, 5n, 0n],
    ] as const) {
      for (const wasm of [false, true]) {
        using m = machine(wasm);
        enter(m, code, { rax, rcx, rbx: 0xd_0000n });
        if (wasm) expect(precompile(m.vcpu, CODE, code.length, 'wasm')).toBe(3);
        expect(m.vcpu.run().reason).toBe('mmio');
        // CF (bit 0) and OF (bit 11).
        expect(m.vcpu.getRegs().rflags & 0x801n, `wasm ${wasm}`).toBe(carry);
        expect(m.vcpu.run().reason).toBe('hlt');
      }
    }
  });

  it('the run loop runs a block where the count holds its mark; a count at the mark with no block starts again', () => {
    using m = machine(true);
    // mov ecx, 50; L: dec ecx; jnz L; hlt (the block at L loops round inside itself)
    const code = [0xb9, 50, 0, 0, 0, 0xff, 0xc9, 0x75, 0xfc, 0xf4];
    enter(m, code);
    precompile(m.vcpu, CODE + 5, 4, 'wasm');
    const cpu = (m.vcpu as EmulatorVcpu).cpu;
    const page = cpu.tlbCode[tlbIndex(CODE / 4096)];
    const block = page.blocks[5] as Block;
    let runs = 0;
    const run = block.run;
    (block as { run: Block['run'] }).run = function (this: Block, c, lim) {
      runs++;
      run.call(this, c, lim);
    };
    expect(page.heat[5]).toBe(BLOCK_HEAT);
    // A count that reached the mark on its own, where no block starts: the loop counts it from zero again.
    page.heat[0] = BLOCK_HEAT;
    expect(runToHlt(m)).toBe('hlt');
    expect(runs).toBeGreaterThan(0);
    expect(m.vcpu.getRegs().rcx).toBe(0n);
    expect(page.heat[0]).toBe(0);
  });

  it('JMP and CALL through a register or memory leave the block for their target; a non-canonical one faults', () => {
    // lea rax, [rip + 0x1b] (f); call rax; add rbx, rax; lea rcx, [rip + 0x15] (g); mov [0x20000], rcx;
    // jmp [0x20000]; ... f: mov rdx, 5; ret; g: hlt
    const code = [
      0x48, 0x8d, 0x05, 0x1b, 0, 0, 0, 0xff, 0xd0, 0x48, 0x01, 0xc3, 0x48, 0x8d, 0x0d, 0x15, 0, 0, 0, 0x48,
      0x89, 0x0c, 0x25, 0, 0, 0x02, 0, 0xff, 0x24, 0x25, 0, 0, 0x02, 0, 0xba, 0x05, 0, 0, 0, 0xc3, 0xf4,
    ];
    // Sanity of the hand assembly: f and g where the LEAs point.
    expect([code[0x22], code[0x28]]).toEqual([0xba, 0xf4]);
    using plain = machine(false);
    using compiled = machine(true);
    const regs = { rax: 0n, rbx: 0x100n, rcx: 0n, rdx: 0n };
    const want = runCase(plain, code, regs, false);
    expect(want.rdx).toBe(5n);
    expect(runCase(compiled, code, regs, true)).toEqual(want);
    // mov rax, 0x8000_0000_0000 (not canonical); jmp rax: #GP with no IDT, a triple fault, RIP at the JMP.
    const bad = [0x48, 0xb8, 0, 0, 0, 0, 0, 0x80, 0, 0, 0xff, 0xe0, 0xf4];
    const ends: [string, bigint][] = [];
    for (const [m, wasm] of [
      [plain, false],
      [compiled, true],
    ] as const) {
      m.ram.set(bad, CODE);
      m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: BigInt(LEAD), rsp: 0x8000n, rflags: 2n });
      if (wasm) expect(precompile(m.vcpu, CODE, bad.length, 'wasm')).toBe(2);
      ends.push([m.vcpu.run().reason, m.vcpu.getRegs().rip]);
    }
    expect(ends[1]).toEqual(ends[0]);
  });

  it('registers of every size are read and written as the interpreter does (AH..BH, 16-bit merges, zero extension)', () => {
    // mov ah, bl; mov bh, 0x7f; add ch, ah; mov dx, cx; movzx esi, bh; movsx rdi, dh; mov r8b, 0x80; mov eax, ebx;
    // xor r9d, r9d; setl cl; hlt
    const code = [
      0x88, 0xdc, 0xb7, 0x7f, 0x00, 0xe5, 0x66, 0x89, 0xca, 0x0f, 0xb6, 0xf7, 0x48, 0x0f, 0xbe, 0xfe, 0x41,
      0xb0, 0x80, 0x89, 0xd8, 0x45, 0x31, 0xc9, 0x0f, 0x9c, 0xc1, 0xf4,
    ];
    const regs = {
      rax: 0x1111_2222_3333_4444n,
      rbx: 0x5555_6666_7777_88f9n,
      rcx: 0x9999_aaaa_bbbb_ccddn,
      rdx: 0xeeee_ffff_0000_1111n,
      r8: -1n & 0xffff_ffff_ffff_ffffn,
      r9: 0x1234n,
    };
    using plain = machine(false);
    using compiled = machine(true);
    expect(runCase(compiled, code, regs, true)).toEqual(runCase(plain, code, regs, false));
  });
});

describe('WebAssembly blocks: SSE forms (vector.ts) where the differential cases do not reach', () => {
  /** Turns SSE on (CR4.OSFXSR, CR0.EM and TS clear), or leaves CR0.TS set when `ts`. */
  function sse(m: Machine, ts = false): void {
    const s = m.vcpu.getSregs();
    m.vcpu.setSregs({ ...s, cr4: s.cr4 | 0x600n, cr0: (s.cr0 & ~0xcn) | (ts ? 0x8n : 0n) });
  }

  /** Sets XMM1 to bytes 0x81, 0x92, ... (every lane's sign bit set in some, clear in others), runs `code`. */
  function xmm1After(m: Machine, code: number[], wasm: boolean): number[] {
    sse(m);
    const fpu = m.vcpu.getFpu();
    fpu.xmm[1] = Uint8Array.from({ length: 16 }, (_, k) => (0x81 + 0x11 * k) & 0xff);
    m.vcpu.setFpu(fpu);
    runCase(m, code, {}, wasm);
    return [...m.vcpu.getFpu().xmm[1]];
  }

  it('shifts by an immediate of 0, below, at and past the lane width, as the interpreter shifts', () => {
    using plain = machine(false);
    using compiled = machine(true);
    const start = [...Uint8Array.from({ length: 16 }, (_, k) => (0x81 + 0x11 * k) & 0xff)];
    for (const op of [0x71, 0x72, 0x73]) {
      for (const ext of op === 0x73 ? [2, 3, 6, 7] : [2, 4, 6]) {
        for (const count of [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255]) {
          // PSRLx/PSRAx/PSLLx/PSRLDQ/PSLLDQ xmm1, imm8; hlt
          const code = [0x66, 0x0f, op, 0xc0 | (ext << 3) | 1, count, 0xf4];
          const want = xmm1After(plain, code, false);
          if (count > 0 && count < 8) expect(want, `${op.toString(16)} /${ext} ${count}`).not.toEqual(start);
          expect(xmm1After(compiled, code, true), `${op.toString(16)} /${ext} ${count}`).toEqual(want);
        }
      }
    }
  });

  it('a misaligned 16-byte operand of an aligned form is #GP in a block, as in the interpreter; MOVDQU is not', () => {
    // paddd xmm1, [rbx]; hlt / movdqu xmm1, [rbx]; hlt
    for (const [code, faults] of [
      [[0x66, 0x0f, 0xfe, 0x0b, 0xf4], true],
      [[0xf3, 0x0f, 0x6f, 0x0b, 0xf4], false],
    ] as const) {
      for (const rbx of [BigInt(DATA), BigInt(DATA + 8)]) {
        const ends: string[] = [];
        for (const wasm of [false, true]) {
          using m = machine(wasm);
          sse(m);
          // mov rax, [rbx] on the way (interpreted) fills the TLB entry the block's probe needs.
          enter(m, code, { rbx }, [0x48, 0x8b, 0x03]);
          if (wasm) expect(precompile(m.vcpu, CODE, code.length, 'wasm')).toBe(1);
          ends.push(m.vcpu.run().reason);
        }
        // No IDT: the #GP is a triple fault.
        expect(ends, `${code[2].toString(16)} at ${rbx.toString(16)}`).toEqual(
          faults && rbx % 16n !== 0n ? ['shutdown', 'shutdown'] : ['hlt', 'hlt'],
        );
      }
    }
  });

  it('with CR0.TS set a block leaves its first SSE instruction to the handler (#NM); with SSE on it marks XSTATE_BV', () => {
    // pxor xmm1, xmm1; hlt
    const code = [0x66, 0x0f, 0xef, 0xc9, 0xf4];
    for (const ts of [true, false]) {
      const ends: string[] = [];
      for (const wasm of [false, true]) {
        using m = machine(wasm);
        sse(m, ts);
        enter(m, code);
        const x = m.vcpu.getXsave();
        x.region[512] &= ~2;
        m.vcpu.setXsave(x);
        if (wasm) expect(precompile(m.vcpu, CODE, code.length, 'wasm')).toBe(1);
        ends.push(`${m.vcpu.run().reason} ${m.vcpu.getXsave().region[512] & 2}`);
      }
      expect(ends[1], ts ? 'TS set' : 'SSE on').toBe(ends[0]);
      expect(ends[0]).toBe(ts ? 'shutdown 0' : 'hlt 2');
    }
  });
});

describe('WebAssembly blocks: LOCK forms, PUSHF and hints, against the interpreter', () => {
  /** Runs `code` from the lead-in in both tiers with `regs` and 32 bytes of DATA; both results must agree. */
  function agree(
    machines: readonly [Machine, Machine],
    name: string,
    code: number[],
    regs: Partial<KvmRegs>,
    data: number[],
    blockLength: number,
  ): void {
    const results: [KvmRegs, number[]][] = [];
    for (const wasm of [false, true]) {
      const m = machines[wasm ? 1 : 0];
      m.ram.set(data, DATA);
      // add qword [rbx + 24], 0 and push rax; pop rax on the way (interpreted) fill the TLB entries, write tags
      // included, that the block's probes need.
      enter(m, code, regs, [0x48, 0x83, 0x43, 0x18, 0x00, 0x50, 0x58]);
      if (wasm) expect(precompile(m.vcpu, CODE, code.length, 'wasm'), name).toBe(blockLength);
      expect(runToHlt(m), name).toBe('hlt');
      results.push([m.vcpu.getRegs(), [...m.ram.subarray(DATA, DATA + 32)]]);
    }
    expect(results[1], name).toEqual(results[0]);
  }

  const qwords = (...v: bigint[]) => [...new Uint8Array(new BigUint64Array(v).buffer)];
  /** [LOCK] [REX.W] 0F `bytes` (a bit instruction); PUSHF; POP RDX; HLT. */
  const bitForm = (lock: boolean, wide: boolean, ...bytes: number[]) => [
    ...(lock ? [0xf0] : []),
    ...(wide ? [0x48] : []),
    0x0f,
    ...bytes,
    0x9c,
    0x5a,
    0xf4,
  ];

  it('LOCK CMPXCHG m32/m64: success, failure, and a misaligned operand left to the handler', () => {
    using plain = machine(false);
    using compiled = machine(true);
    const both = [plain, compiled] as const;
    for (const wide of [true, false]) {
      // lock cmpxchg [rbx], rcx; pushf; pop rdx; hlt
      const code = [0xf0, ...(wide ? [0x48] : []), 0x0f, 0xb1, 0x0b, 0x9c, 0x5a, 0xf4];
      for (const [rax, offset] of [
        [0x1111_2222_3333_4444n, 0],
        [0x1111_2222_3333_4445n, 0],
        [0x5555_6666_7777_8888n, 0],
        [0x1111_2222_3333_4444n, 4],
      ] as const) {
        agree(
          both,
          `cmpxchg${wide ? 64 : 32} rax=${rax.toString(16)} +${offset}`,
          code,
          { rax, rcx: 0x9999_aaaa_bbbb_ccccn, rbx: BigInt(DATA + offset) },
          qwords(0x1111_2222_3333_4444n, 0x5555_6666_7777_8888n, 0n, 0n),
          3,
        );
      }
    }
  });

  it('BT, BTS, BTR, BTC of memory by an immediate, LOCK and not, aligned and not, every bit position class', () => {
    using plain = machine(false);
    using compiled = machine(true);
    const both = [plain, compiled] as const;
    for (const lock of [true, false]) {
      for (const ext of [4, 5, 6, 7]) {
        for (const wide of [true, false]) {
          for (const bit of [0, 5, 31, 32, 63]) {
            if (!wide && bit > 31) continue;
            for (const offset of [0, 4, 2]) {
              if (lock && ext === 4) continue; // LOCK BT is #UD
              // [lock] btx [rbx], bit; pushf; pop rdx; hlt
              const code = bitForm(lock, wide, 0xba, 0x23 | (ext << 3), bit);
              agree(
                both,
                `${lock ? 'lock ' : ''}bt/${ext} ${wide ? 64 : 32} bit ${bit} +${offset}`,
                code,
                { rbx: BigInt(DATA + offset), rax: 3n },
                qwords(0x8000_0001_0000_0021n, 0xffff_ffff_ffff_fffen, 0n, 0n),
                3,
              );
            }
          }
        }
      }
    }
  });

  it('BT, BTS, BTR, BTC of memory by a register: the signed offset picks the unit, below and above the operand', () => {
    using plain = machine(false);
    using compiled = machine(true);
    const both = [plain, compiled] as const;
    for (const lock of [true, false]) {
      for (const op of [0xa3, 0xab, 0xb3, 0xbb]) {
        for (const wide of [true, false]) {
          // rcx: the bit offset, from the unit below to two units above; a 32-bit one ignores RCX's upper half.
          const offsets = [0n, 5n, 63n, 64n, 100n, 0xffff_ffff_ffff_ffc1n];
          for (const rcx of wide ? offsets : [...offsets, 0xffff_ffffn, 0x1_0000_0021n]) {
            if (lock && op === 0xa3) continue; // LOCK BT is #UD
            // [lock] btx [rbx + 8], rcx; pushf; pop rdx; hlt
            const code = bitForm(lock, wide, op, 0x4b, 0x08);
            agree(
              both,
              `${lock ? 'lock ' : ''}bt ${op.toString(16)} ${wide ? 64 : 32} rcx ${rcx.toString(16)}`,
              code,
              { rbx: BigInt(DATA), rcx, rax: 3n },
              qwords(0x8000_0001_0000_0021n, 0xffff_ffff_ffff_fffen, 0x1234_5678_9abc_def0n, 0n),
              3,
            );
          }
        }
      }
    }
  });

  it('CMPXCHG16B: equal stores RCX:RBX and sets ZF, unequal loads RDX:RAX and clears it; other flags stay', () => {
    using plain = machine(false);
    using compiled = machine(true);
    const both = [plain, compiled] as const;
    // add rdi, rdi (sets CF, OF...); cmpxchg16b [rbx]; pushf; pop rsi; hlt
    const code = [0x48, 0x01, 0xff, 0x48, 0x0f, 0xc7, 0x0b, 0x9c, 0x5e, 0xf4];
    const memory = qwords(0x1111_2222_3333_4444n, 0x5555_6666_7777_8888n, 0n, 0n);
    for (const [rax, rdx] of [
      [0x1111_2222_3333_4444n, 0x5555_6666_7777_8888n],
      [0x1111_2222_3333_4445n, 0x5555_6666_7777_8888n],
      [0x1111_2222_3333_4444n, 0x5555_6666_7777_8889n],
    ] as const) {
      for (const rdi of [0x8000_0000_0000_0000n, 1n]) {
        agree(
          both,
          `cmpxchg16b rax=${rax.toString(16)} rdx=${rdx.toString(16)} rdi=${rdi.toString(16)}`,
          code,
          { rbx: BigInt(DATA), rax, rdx, rcx: 0xaaaa_bbbb_cccc_ddddn, rdi },
          memory,
          4,
        );
      }
    }
    // Misaligned: #GP from the handler (no IDT here: both shut down), the memory and registers untouched.
    const results: [string, KvmRegs, number[]][] = [];
    for (const m of both) {
      m.ram.set(memory, DATA);
      enter(m, code, { rbx: BigInt(DATA + 8), rax: 1n, rdx: 2n, rcx: 3n, rdi: 1n });
      if (m === compiled) expect(precompile(m.vcpu, CODE, code.length, 'wasm')).toBe(4);
      results.push([runToHlt(m), m.vcpu.getRegs(), [...m.ram.subarray(DATA, DATA + 32)]]);
    }
    expect(results[0][0]).toBe('shutdown');
    expect(results[1]).toEqual(results[0]);
  });

  it('MOV r/m, Sreg reads the selectors: zero-extended into a register, merged at 16 bits, 16 bits to memory', () => {
    using plain = machine(false);
    using compiled = machine(true);
    // mov eax, ss; mov rcx, cs; mov dx, ds; mov [rbx + 8], es; mov [rbx + 12], ss; hlt
    const code = [0x8c, 0xd0, 0x48, 0x8c, 0xc9, 0x66, 0x8c, 0xda, 0x8c, 0x43, 0x08, 0x8c, 0x53, 0x0c, 0xf4];
    const ones = 0xffff_ffff_ffff_ffffn;
    const data = qwords(ones, ones, ones, ones);
    agree(
      [plain, compiled],
      'mov from sreg',
      code,
      { rbx: BigInt(DATA), rax: ones, rcx: ones, rdx: ones },
      data,
      5,
    );
    const regs = compiled.vcpu.getRegs();
    const sregs = compiled.vcpu.getSregs();
    expect([regs.rax, regs.rcx, regs.rdx]).toEqual([
      BigInt(sregs.ss.selector),
      BigInt(sregs.cs.selector),
      (ones & ~0xffffn) | BigInt(sregs.ds.selector),
    ]);
    expect(sregs.ss.selector, 'a selector to tell from zero').not.toBe(0);
  });

  it('LOCK XADD m32/m64 (an atomic add), aligned and not, and XADD m without LOCK', () => {
    using plain = machine(false);
    using compiled = machine(true);
    const both = [plain, compiled] as const;
    for (const lock of [true, false]) {
      for (const wide of [true, false]) {
        for (const offset of [0, 4, 1]) {
          // [lock] xadd [rbx], rcx; pushf; pop rdx; hlt
          const code = [...(lock ? [0xf0] : []), ...(wide ? [0x48] : []), 0x0f, 0xc1, 0x0b, 0x9c, 0x5a, 0xf4];
          agree(
            both,
            `${lock ? 'lock ' : ''}xadd${wide ? 64 : 32} +${offset}`,
            code,
            { rcx: 0xffff_ffff_8000_0001n, rbx: BigInt(DATA + offset) },
            qwords(0x7fff_ffff_ffff_ffffn, 0x1234_5678_9abc_def0n, 0n, 0n),
            3,
          );
        }
      }
    }
  });

  it('PUSHF pushes the flags the lazy record holds and RFLAGS without RF; PREFETCH and hint NOPs are NOPs', () => {
    using plain = machine(false);
    using compiled = machine(true);
    const both = [plain, compiled] as const;
    // add rax, rcx; pushf; pop rdx; prefetcht0 [rbx]; prefetchw [rbx]; nop dword [rax]; hlt
    const code = [0x48, 0x01, 0xc8, 0x9c, 0x5a, 0x0f, 0x18, 0x0b, 0x0f, 0x0d, 0x0b, 0x0f, 0x1f, 0x00, 0xf4];
    for (const [rax, rcx, rflags] of [
      [1n, 2n, 2n],
      [0xffff_ffff_ffff_ffffn, 1n, 0x402n],
      [0x7fff_ffff_ffff_ffffn, 1n, 0x10002n],
      [0x8000_0000_0000_0000n, 0x8000_0000_0000_0000n, 0x202n],
    ] as const) {
      agree(both, `pushf after add ${rax.toString(16)}`, code, { rax, rcx, rflags }, [], 6);
    }
  });

  it('SHL, SHR, SAR by CL: a count of 0 keeps the flags the ADD before it set and zero-extends a 32-bit register', () => {
    using plain = machine(false);
    using compiled = machine(true);
    // add rax, rdx; <shift> r8d/r8, cl; pushf; pop rsi; adc rdi, 0; hlt
    for (const [name, shift] of [
      ['shl r8d, cl', [0x41, 0xd3, 0xe0]],
      ['shr r8d, cl', [0x41, 0xd3, 0xe8]],
      ['sar r8, cl', [0x49, 0xd3, 0xf8]],
      ['shl r8, cl', [0x49, 0xd3, 0xe0]],
    ] as const) {
      const code = [0x48, 0x01, 0xd0, ...shift, 0x9c, 0x5e, 0x48, 0x83, 0xd7, 0x00, 0xf4];
      for (const cl of [0n, 1n, 31n, 32n, 33n, 63n, 64n]) {
        for (const [rax, rdx] of [
          [0xffff_ffff_ffff_ffffn, 1n],
          [0x7fff_ffff_ffff_ffffn, 1n],
          [1n, 2n],
        ] as const) {
          agree(
            [plain, compiled],
            `${name} cl=${cl} after add ${rax.toString(16)}`,
            code,
            { rax, rdx, rcx: cl, rbx: BigInt(DATA), r8: 0xffff_ffff_8000_0001n, rdi: 5n, rflags: 2n },
            [],
            5,
          );
        }
      }
    }
  });

  /**
   * `agree` for each case (its name, the code run before PUSHF; POP RSI; HLT, the block's length), each operand
   * pair `[a, b]` and CL of 0 and 3 (a shift by CL of 0 keeps the flags before it); `regs` places them.
   */
  function agreeOverCases(
    machines: readonly [Machine, Machine],
    cases: readonly (readonly [string, number[], number])[],
    pairs: readonly (readonly [bigint, bigint])[],
    regs: (a: bigint, b: bigint, cl: bigint) => Partial<KvmRegs>,
  ): void {
    for (const [name, body, blockLength] of cases) {
      for (const [a, b] of pairs) {
        for (const cl of [0n, 3n]) {
          const label = `${name}: ${a.toString(16)}, ${b.toString(16)}, cl=${cl}`;
          agree(machines, label, [...body, 0x9c, 0x5e, 0xf4], regs(a, b, cl), [], blockLength);
        }
      }
    }
  }

  it('IMUL r64 with CF and OF overwritten unseen skips its high half; seen by a shift by CL, SETO or the next IMUL, it agrees', () => {
    using plain = machine(false);
    using compiled = machine(true);
    const imul = [0x48, 0x0f, 0xaf, 0xc1]; // imul rax, rcx
    agreeOverCases(
      [plain, compiled],
      [
        // mov r13, rdx; mov r14, rax; mov eax, eax; shr r14, 32: the RSA loop's shape.
        [
          'imul, then a shift by 32',
          [...imul, 0x49, 0x89, 0xd5, 0x49, 0x89, 0xc6, 0x89, 0xc0, 0x49, 0xc1, 0xee, 0x20],
          7,
        ],
        ['imul, then imul rdx, rcx', [...imul, 0x48, 0x0f, 0xaf, 0xd1], 4],
        ['imul, then shr r8, cl', [...imul, 0x49, 0xd3, 0xe8], 4],
        ['imul, then mov r13, rdx; seto dil', [...imul, 0x49, 0x89, 0xd5, 0x40, 0x0f, 0x90, 0xc7], 5],
        ['imul, then a store, then add rdx, 1', [...imul, 0x48, 0x89, 0x43, 0x08, 0x48, 0x83, 0xc2, 0x01], 5],
      ],
      [
        [3n, 5n],
        [0x1_0000_0000n, 0x1_0000_0000n],
        [0x7fff_ffff_ffff_ffffn, 2n],
        [0xffff_ffff_ffff_ffffn, 2n],
        [0x8000_0000_0000_0000n, 0xffff_ffff_ffff_ffffn],
      ],
      (rax, rcx, cl) => ({
        rax,
        rcx: (rcx & ~0xffn) | cl,
        rdx: 7n,
        rbx: BigInt(DATA),
        r8: 0xffff_ffff_8000_0001n,
        rflags: 2n,
      }),
    );
  });

  it('SHL, SHR, SAR by a constant whose flags are set again unseen agree; seen by PUSHF or a shift by CL, too', () => {
    using plain = machine(false);
    using compiled = machine(true);
    for (const [name, shift] of [
      ['shr r14, 32', [0x49, 0xc1, 0xee, 0x20]],
      ['shl r13d, 1', [0x41, 0xd1, 0xe5]],
      ['sar r14d, 5', [0x41, 0xc1, 0xfe, 0x05]],
      ['sar r14, 63', [0x49, 0xc1, 0xfe, 0x3f]],
    ] as const) {
      agreeOverCases(
        [plain, compiled],
        [
          // mov eax, eax; <shift>; add rcx, r13: the flags set again by the ADD.
          [`${name}, then add`, [0x89, 0xc0, ...shift, 0x4c, 0x01, 0xe9], 5],
          [`${name}, then pushf`, [0x89, 0xc0, ...shift], 4],
          // <shift>; shr r8, cl: a count of 0 keeps the first shift's flags.
          [`${name}, then shr r8, cl`, [...shift, 0x49, 0xd3, 0xe8], 4],
        ],
        [
          [0x8000_0001n, 0xffff_ffff_8000_0001n],
          [0x4000_0000n, 0x8000_0000_0000_0000n],
          [1n, 0x7fff_ffff_ffff_fffen],
        ],
        (r13, r14, cl) => ({
          rcx: cl,
          r13,
          r14,
          rbx: BigInt(DATA),
          r8: 0xffff_ffff_8000_0001n,
          rflags: 0x8d7n,
        }),
      );
    }
  });

  it('PUSH imm8 and imm32 push sign-extended quadwords; LEAVE reloads RSP from RBP and pops RBP', () => {
    using plain = machine(false);
    using compiled = machine(true);
    // push -2; push 0x12345678; push -0x80000000; pop rax; pop rcx; pop rdx; leave; hlt
    const code = [
      0x6a, 0xfe, 0x68, 0x78, 0x56, 0x34, 0x12, 0x68, 0x00, 0x00, 0x00, 0x80, 0x58, 0x59, 0x5a, 0xc9, 0xf4,
    ];
    const frame = BigInt(DATA + 8);
    agree(
      [plain, compiled],
      'push imm, leave',
      code,
      { rbx: BigInt(DATA), rbp: frame },
      qwords(0n, 0x1122_3344_5566_7788n, 0n, 0n),
      7,
    );
    expect(compiled.vcpu.getRegs()).toMatchObject({
      rax: 0xffff_ffff_8000_0000n,
      rcx: 0x1234_5678n,
      rdx: 0xffff_ffff_ffff_fffen,
      rsp: frame + 8n,
      rbp: 0x1122_3344_5566_7788n,
    });
  });
});

describe('WebAssembly blocks: CLI and LOCK XADD', () => {
  it('CLI clears IF in a block where CPL <= IOPL; at CPL 3 with IOPL 0 it is left to the handler (#GP)', () => {
    // cli (the block); out 0x10, al (interpreted)
    const code = [0xfa, 0xe6, 0x10];
    for (const [user, iopl] of [
      [false, 0],
      [true, 3],
      [true, 0],
    ] as const) {
      const ends: string[] = [];
      for (const wasm of [false, true]) {
        using m = machine(wasm);
        if (user) {
          // Ring 3 may use the first 2 MiB (U/S on the way down); CS and SS at DPL and RPL 3.
          const tables = m.pageTables as NonNullable<typeof m.pageTables>;
          for (const entry of [tables.pml4, tables.pdpt, tables.pd]) m.ram[entry] |= 4;
          const s = m.vcpu.getSregs();
          m.vcpu.setSregs({
            ...s,
            cs: { ...s.cs, dpl: 3, selector: s.cs.selector | 3 },
            ss: { ...s.ss, dpl: 3, selector: s.ss.selector | 3 },
          });
        }
        // add rax, rax (interpreted) leaves lazy flags that the block must carry through.
        enter(
          m,
          code,
          { rax: 0x8000_0000_0000_0000n, rflags: 0x202n | BigInt(iopl << 12) },
          [0x48, 0x01, 0xc0],
        );
        if (wasm) expect(precompile(m.vcpu, CODE, 1, 'wasm')).toBe(1);
        const reason = m.vcpu.run().reason;
        const r = m.vcpu.getRegs();
        ends.push(`${reason} rip ${(r.rip - BigInt(CODE)).toString(16)} flags ${r.rflags.toString(16)}`);
      }
      expect(ends[1], `user ${user} iopl ${iopl}`).toBe(ends[0]);
      // CF, PF, ZF and OF from the ADD, bit 1; IF cleared only where CLI ran.
      const flags = (iopl << 12) | 0x847 | (user && iopl === 0 ? 0x200 : 0);
      expect(ends[0]).toBe(
        `${user && iopl === 0 ? 'shutdown rip 0' : 'io rip 1'} flags ${flags.toString(16)}`,
      );
    }
  });
});

describe('WebAssembly blocks: REP MOVS and REP STOS, against the interpreter', () => {
  it('runs within a page at once; DF, overlap, a page crossing and a wide nonzero STOS are the handler`s', () => {
    using plain = machine(false);
    using compiled = machine(true);
    // or byte [rdi], 0; or byte [rsi], 0 (interpreted) fill the TLB entries, write tags included.
    const before = [0x80, 0x0f, 0x00, 0x80, 0x0e, 0x00];
    // Then the REP form; lea r9, [rdi + rsi]; hlt.
    const after = [0x4c, 0x8d, 0x0c, 0x37, 0xf4];
    const cases: [string, number[], Partial<KvmRegs>][] = [
      ['rep stosq, a page of zeros', [0xf3, 0x48, 0xab], { rcx: 512n, rdi: BigInt(DATA), rax: 0n }],
      [
        'rep stosq, nonzero',
        [0xf3, 0x48, 0xab],
        { rcx: 4n, rdi: BigInt(DATA + 8), rax: 0x1122_3344_5566_7788n },
      ],
      ['rep stosb', [0xf3, 0xaa], { rcx: 100n, rdi: BigInt(DATA + 3), rax: 0x7777_77abn }],
      ['rep stosw of zero', [0x66, 0xf3, 0xab], { rcx: 9n, rdi: BigInt(DATA + 0x101), rax: 0xffff_0000n }],
      ['rep stosd, one past the page', [0xf3, 0xab], { rcx: 1n, rdi: BigInt(DATA + 4094), rax: 0n }],
      ['rep stosq, 513 elements', [0xf3, 0x48, 0xab], { rcx: 513n, rdi: BigInt(DATA), rax: 0n }],
      ['rep stosb, rcx 0', [0xf3, 0xaa], { rcx: 0n, rdi: BigInt(DATA + 5), rax: 0x55n }],
      ['rep movsq', [0xf3, 0x48, 0xa5], { rcx: 16n, rsi: BigInt(DATA + 0x800), rdi: BigInt(DATA + 8) }],
      ['repne movsb', [0xf2, 0xa4], { rcx: 77n, rsi: BigInt(DATA + 0x901), rdi: BigInt(DATA + 0x10) }],
      ['rep movsb, overlapping', [0xf3, 0xa4], { rcx: 64n, rsi: BigInt(DATA), rdi: BigInt(DATA + 1) }],
      [
        'rep movsb, backward',
        [0xf3, 0xa4],
        { rcx: 64n, rsi: BigInt(DATA + 0x900), rdi: BigInt(DATA + 0x100) },
      ],
      [
        'rep movsd, the source past its page',
        [0xf3, 0xa5],
        { rcx: 8n, rsi: BigInt(DATA + 4080), rdi: BigInt(DATA) },
      ],
    ];
    for (const [name, form, regs] of cases) {
      const results: [KvmRegs, number[]][] = [];
      for (const wasm of [false, true]) {
        const m = wasm ? compiled : plain;
        for (let k = 0; k < 0x2000; k++) m.ram[DATA + k] = (k * 7 + 1) & 0xff;
        const code = [...form, ...after];
        const flags = name.includes('backward') ? 0x402n : 2n;
        enter(m, code, { rsi: BigInt(DATA), rflags: flags, ...regs }, before);
        if (wasm) expect(precompile(m.vcpu, CODE, code.length, 'wasm'), name).toBe(2);
        expect(runToHlt(m), name).toBe('hlt');
        results.push([m.vcpu.getRegs(), [...m.ram.subarray(DATA, DATA + 0x2000)]]);
      }
      expect(results[1], name).toEqual(results[0]);
    }
  });
});
