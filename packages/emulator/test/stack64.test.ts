/**
 * The 64-bit stack as PUSH, POP, CALL and RET move it (operands.ts's 64-bit fast path works on RSP's two 32-bit
 * halves): the borrow and the carry across 4 GiB, #SS(0) for a stack address that is not canonical and #PF for
 * an unmapped stack page, each with RSP and the destination register left as they were (SDM Vol. 1 6.2.3 and
 * 3.3.7.1, Vol. 3A 6.15). The faults are delivered through IST1 (support/long-faults.ts), so a bad RSP cannot
 * turn them into a double fault. Every case runs in the run loop, in a compiled JavaScript block and in a
 * WebAssembly block.
 */
import type { Kvm } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setBlockThreshold } from '../src/cpu/blocks.js';
import { setWasmThreshold } from '../src/cpu/wasm/tier.js';
import { backend } from '../src/index.js';
import { machineFor } from './support/listing.js';
import { faultFrame, installFaultHandlers } from './support/long-faults.js';
import { precompile, type Tier } from './support/precompile.js';

/** #SS and #PF. */
const VECTORS = [12, 14];

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('64-bit stack tests');
});
afterEach(() => kvm.close());

const CODE = 0x1000;
/** Page tables for the two stack pages either side of 4 GiB (free RAM above the machine's own tables). */
const PD_LOW = 0x20000;
const PT_LOW = 0x21000;
const PD_HIGH = 0x22000;
const PT_HIGH = 0x23000;
/** Physical pages behind linear 0xffff_f000 and 0x1_0000_0000. */
const BELOW_4G = 0x24000;
const ABOVE_4G = 0x25000;

interface Outcome {
  vector: 'SS' | 'PF' | 'none';
  regs: { rax: bigint; rbx: bigint; rcx: bigint; rdx: bigint; rsi: bigint; rsp: bigint; rip: bigint };
  /** The fault's frame on the IST stack: error code, RIP and RSP. */
  frame: { error: bigint; rip: bigint; rsp: bigint };
  cr2: bigint;
  /** The 8-byte words at linear 0xffff_ffe0 .. 0x1_0000_0010 (through their physical pages). */
  words: bigint[];
}

/** A lead-in on the code page, `NOP; JMP CODE`: a run's first instruction is never a block, the JMP's target is. */
const LEAD = CODE + 0x800;
const LEAD_IN = [0x90, 0xe9, ...new Uint8Array(new Int32Array([CODE - (LEAD + 6)]).buffer)];

/**
 * Runs `code` at CODE from `rsp` until a HLT: in the interpreter, or from a block of `tier` compiled over all of
 * it (precompile.ts), entered from the lead-in. JavaScript blocks are built by hand only.
 */
function run(code: number[], rsp: bigint, tier: Tier): Outcome {
  const old = setBlockThreshold(-1);
  // The WebAssembly tier on (the VM gets its WebAssembly memory), at a threshold no instruction reaches.
  const oldWasm = setWasmThreshold(tier === 'wasm' ? 60000 : -1);
  try {
    const bytes = new Uint8Array(0x800 + LEAD_IN.length);
    bytes.set(code);
    bytes.set(LEAD_IN, 0x800);
    using m = machineFor(kvm, 'long', { bytes, origin: CODE, labels: {} });
    const view = new DataView(m.ram.buffer, m.ram.byteOffset);
    const sregs = m.vcpu.getSregs();
    // Linear [0xffff_f000, 0x1_0000_1000) through the PDPT the machine made (its entries 3 and 4 are ours).
    const pdpt = Number(view.getBigUint64(Number(sregs.cr3), true) & ~0xfffn);
    view.setBigUint64(pdpt + 3 * 8, BigInt(PD_LOW) | 3n, true);
    view.setBigUint64(PD_LOW + 511 * 8, BigInt(PT_LOW) | 3n, true);
    view.setBigUint64(PT_LOW + 511 * 8, BigInt(BELOW_4G) | 3n, true);
    view.setBigUint64(pdpt + 4 * 8, BigInt(PD_HIGH) | 3n, true);
    view.setBigUint64(PD_HIGH, BigInt(PT_HIGH) | 3n, true);
    view.setBigUint64(PT_HIGH, BigInt(ABOVE_4G) | 3n, true);
    installFaultHandlers(m, VECTORS);
    m.vcpu.setRegs({
      ...m.vcpu.getRegs(),
      rip: BigInt(tier === 'interpreter' ? CODE : LEAD),
      rsp,
      rax: 0x1111_2222_3333_4444n,
      rbx: 0x5555_6666_7777_8888n,
      rcx: 0xc1c1n,
      rdx: 0xd1d1n,
      rsi: 0x5151n,
      rflags: 2n,
    });
    if (tier !== 'interpreter') precompile(m.vcpu, CODE, code.length, tier);
    let exit = m.vcpu.run();
    for (let k = 0; k < 100 && exit.reason === 'intr'; k++) exit = m.vcpu.run();
    expect(exit.reason).toBe('hlt');
    const r = m.vcpu.getRegs();
    const fault = faultFrame(m, VECTORS);
    const vector = fault.vector === 12 ? 'SS' : fault.vector === 14 ? 'PF' : 'none';
    const words: bigint[] = [];
    for (let k = 0; k < 4; k++) words.push(view.getBigUint64(BELOW_4G + 4096 - 32 + 8 * k, true));
    for (let k = 0; k < 2; k++) words.push(view.getBigUint64(ABOVE_4G + 8 * k, true));
    return {
      vector,
      regs: { rax: r.rax, rbx: r.rbx, rcx: r.rcx, rdx: r.rdx, rsi: r.rsi, rsp: r.rsp, rip: r.rip },
      frame: { error: fault.error, rip: fault.rip, rsp: fault.rsp },
      cr2: m.vcpu.getSregs().cr2,
      words,
    };
  } finally {
    setBlockThreshold(old);
    setWasmThreshold(oldWasm);
  }
}

/**
 * Runs `code` in the interpreter, then in a JavaScript block and in a WebAssembly block over all of it: all
 * three must end the same.
 */
function runBoth(code: number[], rsp: bigint): Outcome {
  const plain = run(code, rsp, 'interpreter');
  for (const tier of ['js', 'wasm'] as const) expect(run(code, rsp, tier), `${tier} block`).toEqual(plain);
  return plain;
}

// PUSH RAX; PUSH RBX; CALL f; POP RCX; POP RDX; HLT; f: MOV RSI, RSP; RET
const ROUND_TRIP = [0x50, 0x53, 0xe8, 0x03, 0, 0, 0, 0x59, 0x5a, 0xf4, 0x48, 0x89, 0xe6, 0xc3];
const RETURN_ADDRESS = BigInt(CODE + 7);

describe('the 64-bit stack', () => {
  it('PUSH, CALL, RET and POP borrow and carry across 4 GiB', () => {
    const o = runBoth(ROUND_TRIP, 0x1_0000_0008n);
    expect(o.vector).toBe('none');
    expect(o.regs.rsi, 'RSP inside the call').toBe(0xffff_fff0n);
    expect(o.regs.rcx, 'the second push').toBe(0x5555_6666_7777_8888n);
    expect(o.regs.rdx, 'the first push').toBe(0x1111_2222_3333_4444n);
    expect(o.regs.rsp, 'RSP back where it started').toBe(0x1_0000_0008n);
    // 0xffff_fff0: the return address, 0xffff_fff8: RBX (below 4 GiB); 0x1_0000_0000: RAX (above).
    expect(o.words.slice(2)).toEqual([RETURN_ADDRESS, 0x5555_6666_7777_8888n, 0x1111_2222_3333_4444n, 0n]);
  });

  it('pushes from exactly 4 GiB into the page below it, and pops back above it', () => {
    const o = runBoth([0x50, 0x59, 0xf4], 0x1_0000_0000n);
    expect(o.vector).toBe('none');
    expect(o.regs.rcx).toBe(0x1111_2222_3333_4444n);
    expect(o.regs.rsp).toBe(0x1_0000_0000n);
    expect(o.words[3]).toBe(0x1111_2222_3333_4444n);
  });

  it('PUSH to a non-canonical stack address is #SS(0), RSP unchanged', () => {
    const o = runBoth([0x50, 0xf4], 0x8000_0000_0008n);
    expect(o.vector).toBe('SS');
    expect(o.frame).toEqual({ error: 0n, rip: BigInt(CODE), rsp: 0x8000_0000_0008n });
  });

  it('POP whose 8 bytes end past the canonical lower half is #SS(0), RSP and the register unchanged', () => {
    const o = runBoth([0x90, 0x59, 0xf4], 0x7fff_ffff_fffcn);
    expect(o.vector).toBe('SS');
    expect(o.frame).toEqual({ error: 0n, rip: BigInt(CODE + 1), rsp: 0x7fff_ffff_fffcn });
    expect(o.regs.rcx).toBe(0xc1c1n);
  });

  it('PUSH into an unmapped page is #PF (write, not present), RSP unchanged', () => {
    const o = runBoth([0x50, 0xf4], 0x1_0000_2000n);
    expect(o.vector).toBe('PF');
    expect(o.frame).toEqual({ error: 2n, rip: BigInt(CODE), rsp: 0x1_0000_2000n });
    expect(o.cr2).toBe(0x1_0000_1ff8n);
  });

  it('CALL and POP from an unmapped page are #PF, RSP and the register unchanged', () => {
    const call = runBoth([0xe8, 0, 0, 0, 0, 0xf4], 0x1_0000_2000n);
    expect(call.vector).toBe('PF');
    expect(call.frame).toEqual({ error: 2n, rip: BigInt(CODE), rsp: 0x1_0000_2000n });
    const pop = runBoth([0x59, 0xf4], 0x1_0000_1000n);
    expect(pop.vector).toBe('PF');
    expect(pop.frame).toEqual({ error: 0n, rip: BigInt(CODE), rsp: 0x1_0000_1000n });
    expect(pop.cr2).toBe(0x1_0000_1000n);
    expect(pop.regs.rcx).toBe(0xc1c1n);
  });
});
