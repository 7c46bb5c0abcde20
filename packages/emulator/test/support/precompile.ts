/**
 * Compiles a block by hand for tests: the run loop compiles one only at a start offset's HOT-th visit and from
 * instructions already decoded there, which a test's straight-line code never gives it. `precompile` decodes the
 * code in order, then builds the JavaScript or WebAssembly block at its start and puts it in the page, so the run
 * loop runs it as it would a hot one (from the second instruction of a run on: the first is always fetched).
 */
import type { Vcpu } from '@kvm-ts/core';
import type { EmulatorVcpu } from '../../src/backend/vcpu.js';
import { buildBlock, setBlockThreshold } from '../../src/cpu/blocks.js';
import { tlbIndex } from '../../src/cpu/mmu.js';
import { buildWasmBlock } from '../../src/cpu/wasm/wasm-block.js';

/** Which compiled tier a test runs its code in ('interpreter': none). */
export type Tier = 'interpreter' | 'js' | 'wasm';

/**
 * Decodes the instructions in [lin, lin + length) one after another and compiles the block starting at `lin`
 * in `tier`; returns how many instructions it holds. Throws when nothing could be compiled there.
 */
export function precompile(vcpu: Vcpu, lin: number, length: number, tier: 'js' | 'wasm'): number {
  const cpu = (vcpu as EmulatorVcpu).cpu;
  // The code may be new since the last run: have the fetches compare the page with memory again.
  cpu.recheckCode();
  for (let at = lin; at < lin + length; ) {
    const insn = cpu.fetch(at);
    if (insn === null) throw new Error(`precompile: no instruction at ${at.toString(16)}`);
    at += insn.len;
  }
  const page = cpu.tlbCode[tlbIndex(Math.floor(lin / 4096))];
  const offset = lin & 4095;
  // buildBlock compiles nothing while JavaScript blocks are off: on for this one, at a threshold never reached.
  const old = setBlockThreshold(60000);
  const block =
    tier === 'js' ? buildBlock(page.insns, offset, cpu.codeMode) : buildWasmBlock(page.insns, offset, cpu);
  setBlockThreshold(old);
  if (block === null) throw new Error(`precompile: no ${tier} block at ${lin.toString(16)}`);
  page.addBlock(block);
  return block.count;
}
