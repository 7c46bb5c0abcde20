/**
 * Block modules compiled on a worker thread (src/cpu/wasm/background-compiler.ts): the run loop asks for a
 * block at a hot site, runs the interpreter meanwhile, and adds the block when the module is back, unless the
 * instructions it was compiled from left the page in between. Blocks asked for close together go in one
 * module.
 */
import { createMachine, type Machine } from '@kvm-ts/conformance';
import type { Kvm, KvmRegs } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EmulatorVcpu } from '../src/backend/vcpu.js';
import { setBlockThreshold } from '../src/cpu/blocks.js';
import { tlbIndex } from '../src/cpu/mmu.js';
import { BackgroundCompiler, setBatchWait } from '../src/cpu/wasm/background-compiler.js';
import { compileTrace } from '../src/cpu/wasm/block-compiler.js';
import { setWasmThreshold } from '../src/cpu/wasm/tier.js';
import { traceAt } from '../src/cpu/wasm/trace.js';
import {
  collectWasmBlocks,
  pendingWasmBlocks,
  requestWasmBlock,
  setBackgroundCompile,
  wasmStats,
} from '../src/cpu/wasm/wasm-block.js';
import { backend } from '../src/index.js';

const CODE = 0x30000;
const DATA = 0x20000;
// sum: add rax, rcx; mov [rdi], rax; add rdi, 8; and rdi, 0x20fff; sub rcx, 1; jnz sum; hlt
const LOOP = [
  0x48, 0x01, 0xc8, 0x48, 0x89, 0x07, 0x48, 0x83, 0xc7, 0x08, 0x48, 0x81, 0xe7, 0xff, 0x0f, 0x02, 0x00, 0x48,
  0x83, 0xe9, 0x01, 0x75, 0xe9, 0xf4,
];

let kvm: Kvm;
let saved: [number, number, boolean] = [0, 0, true];
beforeEach(() => {
  kvm = backend.open('background compile tests');
  saved = [setBlockThreshold(-1), setWasmThreshold(3), setBackgroundCompile(true)];
});
afterEach(() => {
  kvm.close();
  setBlockThreshold(saved[0]);
  setWasmThreshold(saved[1]);
  setBackgroundCompile(saved[2]);
});

/** Waits (blocking this thread a millisecond at a time, up to 10 s) until `done()` holds. */
function waitFor(done: () => boolean): void {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let k = 0; k < 10000 && !done(); k++) Atomics.wait(nap, 0, 0, 1);
}

function machine(): Machine {
  const m = createMachine(kvm, { mode: 'long', supportedCpuid: true });
  m.ram.set(LOOP, CODE);
  m.vcpu.setRegs({
    ...m.vcpu.getRegs(),
    rip: BigInt(CODE),
    rsp: 0x8000n,
    rflags: 2n,
    rcx: 20000n,
    rdi: BigInt(DATA),
  });
  return m;
}

/** The loop decoded on `m`'s page, and a function writing its trace's block function anew on each call. */
function loopFunction(m: Machine): () => Uint8Array {
  const cpu = (m.vcpu as EmulatorVcpu).cpu;
  for (let at = CODE; at < CODE + LOOP.length; ) at += cpu.fetch(at)?.len ?? 1;
  const page = cpu.tlbCode[tlbIndex(CODE / 4096)];
  return () => {
    const trace = traceAt(page.insns, 0);
    if (trace === null) throw new Error('the loop has no trace');
    return compileTrace(trace);
  };
}

describe('WebAssembly blocks compiled on a worker thread', () => {
  it('a hot loop runs in the interpreter until its module is back, then as one block; both agree', () => {
    const results: [KvmRegs, number][] = [];
    for (const tier of [-1, 3]) {
      setWasmThreshold(tier);
      using m = machine();
      const vcpu = m.vcpu as EmulatorVcpu;
      vcpu.instructionBudget = 500;
      const built = wasmStats.built;
      let reason = vcpu.run().reason;
      // While a module is on its way, runs go on interpreting; a later run's slice adds the block.
      if (tier > 0) {
        expect(pendingWasmBlocks(), 'modules asked for').toBeGreaterThan(0);
        waitFor(() => {
          if (reason === 'intr') reason = vcpu.run().reason;
          return wasmStats.built > built || reason !== 'intr';
        });
        // One block for the loop: its other instructions, interpreted meanwhile, did not become entries.
        expect(wasmStats.built - built, 'blocks added').toBe(1);
      }
      for (let k = 0; k < 100000 && reason === 'intr'; k++) reason = vcpu.run().reason;
      expect(reason).toBe('hlt');
      results.push([m.vcpu.getRegs(), vcpu.cpu.retired]);
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[0][1]).toBe(20000 * 6 + 1);
  });

  it('a module that comes back after its instructions were written over adds no block', () => {
    for (const written of [false, true]) {
      using m = machine();
      const cpu = (m.vcpu as EmulatorVcpu).cpu;
      for (let at = CODE; at < CODE + LOOP.length; ) at += cpu.fetch(at)?.len ?? 1;
      const page = cpu.tlbCode[tlbIndex(CODE / 4096)];
      expect(requestWasmBlock(page, 0, cpu), 'nothing now: the module is on its way').toBeNull();
      // A write into the loop drops its cached instructions, as a store into the page does.
      if (written) page.invalidate(0x0b, 1);
      waitFor(() => {
        collectWasmBlocks();
        return pendingWasmBlocks() === 0;
      });
      expect(pendingWasmBlocks()).toBe(0);
      expect(page.blocks[0] !== undefined, written ? 'written over' : 'unchanged').toBe(!written);
    }
  });

  it('blocks asked for together go in one module, and each runs as interpreted', () => {
    // Entered at each block's first instruction in turn: a block given another's function would run wrong code.
    for (const start of [0, 6, 10]) {
      const results: [KvmRegs, number][] = [];
      for (const asked of [false, true]) {
        // A VM made with the tier on has the WebAssembly memory blocks need.
        setWasmThreshold(3);
        using m = machine();
        const vcpu = m.vcpu as EmulatorVcpu;
        const cpu = vcpu.cpu;
        for (let at = CODE; at < CODE + LOOP.length; ) at += cpu.fetch(at)?.len ?? 1;
        const page = cpu.tlbCode[tlbIndex(CODE / 4096)];
        if (asked) {
          const [built, instances] = [wasmStats.built, wasmStats.instances];
          // The loop's first, third and fourth instructions: fewer than a module waits for, so they go together
          // when the first has waited long enough. The wait is held open while they are asked for (compiling
          // them on a loaded machine can outlast it), then restored: the waiting ones are due at once.
          const wait = setBatchWait(60_000);
          for (const offset of [0, 6, 10]) expect(requestWasmBlock(page, offset, cpu)).toBeNull();
          expect(pendingWasmBlocks(), 'all three wait').toBe(3);
          setBatchWait(wait);
          waitFor(() => {
            collectWasmBlocks();
            return pendingWasmBlocks() === 0;
          });
          expect(wasmStats.built - built, 'blocks').toBe(3);
          expect(wasmStats.instances - instances, 'modules instantiated').toBe(1);
          for (const offset of [0, 6, 10]) expect(page.blocks[offset], `block at ${offset}`).toBeDefined();
        }
        // No more blocks: the run uses these three or none.
        setWasmThreshold(-1);
        m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: BigInt(CODE + start) });
        let reason = vcpu.run().reason;
        for (let k = 0; k < 100000 && reason === 'intr'; k++) reason = vcpu.run().reason;
        expect(reason).toBe('hlt');
        results.push([m.vcpu.getRegs(), cpu.retired]);
      }
      expect(results[1], `from offset ${start}`).toEqual(results[0]);
    }
  });

  it('sends a module as a copy: no ArrayBuffer is transferred (a detached one slows every typed array in V8)', () => {
    const compiler = BackgroundCompiler.start();
    expect(compiler, 'this Node has joinable threads').not.toBeNull();
    if (compiler === null) return;
    using m = machine();
    const fn = loopFunction(m);
    const port = (
      compiler as unknown as { port: { postMessage(message: unknown, transfer?: unknown[]): void } }
    ).port;
    const post = port.postMessage;
    const posted: { bytes: Uint8Array; transfer: unknown[] | undefined }[] = [];
    port.postMessage = (message: unknown, transfer?: unknown[]) => {
      posted.push({ bytes: (message as { bytes: Uint8Array }).bytes, transfer });
      post.call(port, message, transfer);
    };
    try {
      const answers: unknown[] = [];
      compiler.submit(fn(), (module) => answers.push(module));
      compiler.hurry();
      waitFor(() => compiler.ready());
      compiler.collect();
      expect(answers).toHaveLength(1);
      expect(answers[0]).not.toBeNull();
      expect(posted).toHaveLength(1);
      expect(posted[0].transfer ?? []).toEqual([]);
      // Still attached after the send, as only a transfer would change.
      expect(posted[0].bytes.buffer.byteLength).toBeGreaterThan(0);
    } finally {
      port.postMessage = post;
    }
  });

  it('a lone function waits for company, unless hurried: then it goes as soon as the thread is idle', () => {
    const compiler = BackgroundCompiler.start();
    expect(compiler, 'this Node has joinable threads').not.toBeNull();
    if (compiler === null) return;
    using m = machine();
    const fn = loopFunction(m);
    const answers: (string | null)[] = [];
    const done = (module: unknown, _index: number, error: string | null) => {
      answers.push(module === null ? error : 'module');
    };
    compiler.submit(fn(), done);
    expect(compiler.waitingCount, 'one function waits for more').toBe(1);
    compiler.hurry();
    expect(compiler.waitingCount, 'hurried, sent to the idle thread').toBe(0);
    // The thread is busy with that one: a hurried second waits for its answer, and goes when it is collected.
    compiler.submit(fn(), done);
    compiler.hurry();
    expect(compiler.waitingCount, 'the thread is busy').toBe(1);
    waitFor(() => compiler.ready());
    compiler.collect();
    expect(answers).toEqual(['module']);
    expect(compiler.waitingCount, 'sent once the first answer was collected').toBe(0);
    waitFor(() => compiler.ready());
    compiler.collect();
    expect(answers).toEqual(['module', 'module']);
    expect(compiler.pending).toBe(0);
  });
});
