/**
 * RIP made non-canonical in 64-bit mode by anything but IRETQ: a near branch (JMP, CALL, RET, Jcc, JMP/CALL
 * r/m) to a non-canonical target faults on the branch itself with #GP(0), RIP still at the branch and nothing
 * pushed (SDM Vol. 1 3.3.7.1, Vol. 2 JMP/CALL/RET; Intel reports it on the branch, and the emulator reports
 * GenuineIntel), and an instruction fetch at a non-canonical address (running off the end of the lower half)
 * is #GP(0) too, never #PF (SDM Vol. 3A 6.15, interrupt 13).
 */
import type { Kvm } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setBlockThreshold } from '../src/cpu/blocks.js';
import { setWasmThreshold } from '../src/cpu/wasm/tier.js';
import { setBackgroundCompile, wasmStats } from '../src/cpu/wasm/wasm-block.js';
import { backend } from '../src/index.js';
import { machineFor } from './support/listing.js';

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('non-canonical tests');
});
afterEach(() => kvm.close());

const GDT = 0x500;
const IDT = 0x600;
const GP_HANDLER = 0x3000;
const PF_HANDLER = 0x3010;
/** The last page of the canonical lower half, mapped (4 KiB page) to physical CODE_PAGE. */
const TOP_PAGE = 0x7fff_ffff_f000n;
const CODE_PAGE = 0x5000;
const NON_CANONICAL = 0x8000_0000_0000n;

interface Fault {
  vector: 'GP' | 'PF' | 'none';
  error: bigint;
  rip: bigint;
  rsp: bigint;
}

/**
 * A long-mode machine with a GDT and an IDT in memory whose #GP and #PF handlers halt, the top page of the lower
 * half mapped, `low` at 0x1000 and `top` at the end of the top page; runs from `start` until the HLT and reads
 * the fault's frame.
 */
function runToFault(low: number[], top: number[], start: bigint, rflags = 0x2n, rcx = 0n): Fault {
  using m = machineFor(kvm, 'long', {
    bytes: Uint8Array.from(low.length ? low : [0xf4]),
    origin: 0x1000,
    labels: {},
  });
  const view = new DataView(m.ram.buffer, m.ram.byteOffset);
  // GDT: null, 64-bit code at 08h, data at 10h.
  view.setBigUint64(GDT + 8, 0x00209a0000000000n, true);
  view.setBigUint64(GDT + 16, 0x0000920000000000n, true);
  for (const [vector, handler] of [
    [13, GP_HANDLER],
    [14, PF_HANDLER],
  ]) {
    const gate = IDT + vector * 16;
    view.setUint16(gate, handler & 0xffff, true);
    view.setUint16(gate + 2, 0x08, true);
    view.setUint8(gate + 5, 0x8e);
    view.setUint16(gate + 6, handler >>> 16, true);
    m.ram[handler] = 0xf4; // hlt
  }
  // PML4[255] -> PDPT, PDPT[511] -> PD, PD[511] -> PT, PT[511] -> CODE_PAGE.
  const tables = [0x20000, 0x21000, 0x22000];
  const sregs = m.vcpu.getSregs();
  view.setBigUint64(Number(sregs.cr3) + 255 * 8, BigInt(tables[0]) | 3n, true);
  view.setBigUint64(tables[0] + 511 * 8, BigInt(tables[1]) | 3n, true);
  view.setBigUint64(tables[1] + 511 * 8, BigInt(tables[2]) | 3n, true);
  view.setBigUint64(tables[2] + 511 * 8, BigInt(CODE_PAGE) | 3n, true);
  m.ram.set(top, CODE_PAGE + 4096 - top.length);
  m.vcpu.setSregs({
    ...sregs,
    gdt: { base: BigInt(GDT), limit: 23 },
    idt: { base: BigInt(IDT), limit: 0xfff },
  });
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: start, rflags, rcx });
  const exit = m.vcpu.run();
  expect(exit.reason).toBe('hlt');
  const regs = m.vcpu.getRegs();
  const vector =
    regs.rip === BigInt(GP_HANDLER + 1) ? 'GP' : regs.rip === BigInt(PF_HANDLER + 1) ? 'PF' : 'none';
  const frame = Number(regs.rsp);
  return {
    vector,
    error: view.getBigUint64(frame, true),
    rip: view.getBigUint64(frame + 8, true),
    rsp: view.getBigUint64(frame + 32, true),
  };
}

/** MOV RAX, imm64 (48 B8 imm64). */
function movRax(v: bigint): number[] {
  const b: number[] = [0x48, 0xb8];
  for (let k = 0n; k < 8n; k++) b.push(Number((v >> (8n * k)) & 0xffn));
  return b;
}

/** The address of the last `length` bytes of the top page. */
const topAt = (length: number) => TOP_PAGE + 4096n - BigInt(length);

describe('64-bit mode: a near branch to a non-canonical target is #GP(0) on the branch', () => {
  it('JMP r/m (FF /4)', () => {
    // mov rax, 0x800000000000 ; jmp rax
    const f = runToFault([...movRax(NON_CANONICAL), 0xff, 0xe0], [], 0x1000n);
    expect(f).toEqual({ vector: 'GP', error: 0n, rip: 0x100an, rsp: 0x8000n });
  });

  it('CALL r/m (FF /2) pushes nothing', () => {
    // mov rax, 0x800000000000 ; call rax
    const f = runToFault([...movRax(NON_CANONICAL), 0xff, 0xd0], [], 0x1000n);
    expect(f).toEqual({ vector: 'GP', error: 0n, rip: 0x100an, rsp: 0x8000n });
  });

  it('RET (C3) faults with the return address still on the stack', () => {
    // mov rax, 0x800000000000 ; push rax ; ret
    const f = runToFault([...movRax(NON_CANONICAL), 0x50, 0xc3], [], 0x1000n);
    expect(f).toEqual({ vector: 'GP', error: 0n, rip: 0x100bn, rsp: 0x7ff8n });
  });

  it('JMP rel32 (E9)', () => {
    // At 0x7fff_ffff_fff0: jmp rel32 to 0x800000000000 (next RIP 0x7fff_ffff_fff5 + 0x0b), then padding.
    const top = [0xe9, 0x0b, 0, 0, 0, ...Array(11).fill(0x90)];
    const f = runToFault([], top, topAt(16));
    expect(f).toEqual({ vector: 'GP', error: 0n, rip: topAt(16), rsp: 0x8000n });
  });

  it('CALL rel32 (E8) pushes nothing', () => {
    const top = [0xe8, 0x0b, 0, 0, 0, ...Array(11).fill(0x90)];
    const f = runToFault([], top, topAt(16));
    expect(f).toEqual({ vector: 'GP', error: 0n, rip: topAt(16), rsp: 0x8000n });
  });

  it('Jcc rel8 (74, taken) and Jcc rel32 (0F 84, taken)', () => {
    // je +0x0e at 0x7fff_ffff_fff0 (next RIP ...fff2) with ZF set.
    const short = runToFault([], [0x74, 0x0e, ...Array(14).fill(0x90)], topAt(16), 0x42n);
    expect(short).toEqual({ vector: 'GP', error: 0n, rip: topAt(16), rsp: 0x8000n });
    const near = runToFault([], [0x0f, 0x84, 0x0a, 0, 0, 0, ...Array(10).fill(0x90)], topAt(16), 0x42n);
    expect(near).toEqual({ vector: 'GP', error: 0n, rip: topAt(16), rsp: 0x8000n });
  });

  it('a Jcc in a hot loop (a compiled block) faults the same when it is finally taken', () => {
    // ...fff0: dec ecx ; je 0x800000000000 ; jmp ...fff0 — 5000 passes, so the loop runs as a compiled block.
    const top = [0xff, 0xc9, 0x74, 0x0c, 0xeb, 0xfa, ...Array(10).fill(0x90)];
    // Compiled after a few visits, as blocks.test.ts does, rather than at the default threshold.
    const saved = setBlockThreshold(3);
    try {
      const f = runToFault([], top, topAt(16), 0x2n, 5000n);
      expect(f).toEqual({ vector: 'GP', error: 0n, rip: topAt(14), rsp: 0x8000n });
    } finally {
      setBlockThreshold(saved);
    }
  });

  it('Jcc not taken runs on', () => {
    // je with ZF clear falls through to the NOPs and the HLT at the end of the top page.
    const f = runToFault([], [0x74, 0x0e, ...Array(13).fill(0x90), 0xf4], topAt(16));
    expect(f.vector).toBe('none');
  });
});

describe('64-bit mode: fetching at a non-canonical address is #GP(0), not #PF', () => {
  it('running off the end of the lower half faults at the first non-canonical RIP', () => {
    const f = runToFault([], [0x90, 0x90], topAt(2));
    expect(f).toEqual({ vector: 'GP', error: 0n, rip: NON_CANONICAL, rsp: 0x8000n });
  });

  it('an instruction that crosses into the non-canonical range faults at its start', () => {
    // B8 imm32 (mov eax, imm32) with only its first two bytes below the boundary.
    const f = runToFault([], [0x90, 0xb8, 0x01], topAt(3));
    expect(f).toEqual({ vector: 'GP', error: 0n, rip: topAt(2), rsp: 0x8000n });
  });
});

describe('64-bit mode: a memory operand at a non-canonical address is #GP(0), not #PF', () => {
  it('in a hot loop compiled to a WebAssembly block, at the load, after 300 canonical passes', () => {
    // 1000: mov rdx, [rax]; dec rcx; jnz 1000; mov rax, 0x8000_0000_0000; mov rcx, 1; jmp 1000
    const low = [
      0x48,
      0x8b,
      0x10,
      0x48,
      0xff,
      0xc9,
      0x75,
      0xf8,
      ...movRax(NON_CANONICAL),
      0x48,
      0xc7,
      0xc1,
      1,
      0,
      0,
      0,
      0xeb,
      0xe5,
    ];
    const savedJs = setBlockThreshold(-1);
    const savedWasm = setWasmThreshold(20);
    // The block must exist when the loop gets hot, not when a compiler thread is done.
    const savedBackground = setBackgroundCompile(false);
    try {
      const before = wasmStats.built;
      const f = runToFault(low, [0xf4], 0x1000n, 0x2n, 300n);
      expect(wasmStats.built).toBeGreaterThan(before);
      expect(f).toEqual({ vector: 'GP', error: 0n, rip: 0x1000n, rsp: 0x8000n });
    } finally {
      setBlockThreshold(savedJs);
      setWasmThreshold(savedWasm);
      setBackgroundCompile(savedBackground);
    }
  });
});
