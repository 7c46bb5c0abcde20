import { describe, expect, it } from 'vitest';
import { buildElf } from '../../test/support/elf-builder.js';
import { loadElf } from './elf.js';
import { BootImageError } from './errors.js';

const ctx = { file: 'kernel.elf', ramSize: 16 << 20 };
const code = Uint8Array.from([0xb0, 0x01, 0xe6, 0xf4]);

function problem(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof BootImageError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a BootImageError');
}

describe('loadElf', () => {
  it('loads an ELF32 at its physical addresses, zeroes its bss, and enters protected mode', () => {
    const elf = buildElf({
      bits: 32,
      entry: 0x100000,
      segments: [{ paddr: 0x100000, bytes: code, memsz: 0x2000 }],
    });
    const plan = loadElf(elf, ctx);
    expect(plan.format).toBe('elf32');
    expect(plan.cpu.mode).toBe('protected');
    expect(plan.cpu.entry).toBe(0x100000);
    const segment = plan.writes.find((w) => w.what === 'ELF segment 0');
    expect(segment?.addr).toBe(0x100000);
    expect([...segment!.bytes]).toEqual([...code]);
    expect(plan.zeros).toEqual([{ addr: 0x100004, size: 0x2000 - 4, what: 'ELF segment 0 bss' }]);
  });

  it('loads an ELF64 in long mode and translates a high virtual entry through its segment', () => {
    const elf = buildElf({
      bits: 64,
      entry: 0xffffffff81000010n,
      segments: [{ paddr: 0x200000, vaddr: 0xffffffff81000000n, bytes: new Uint8Array(0x40) }],
    });
    const plan = loadElf(elf, ctx);
    expect(plan.format).toBe('elf64');
    expect(plan.cpu.mode).toBe('long');
    expect(plan.cpu.entry).toBe(0x200010);
    expect(plan.writes.some((w) => w.what === 'PML4')).toBe(true);
  });

  it('names the file and the problem for malformed images', () => {
    const good = buildElf({ bits: 32, entry: 0x100000, segments: [{ paddr: 0x100000, bytes: code }] });
    expect(problem(() => loadElf(good.subarray(0, 40), ctx))).toMatchObject({
      code: 'truncated',
      message: expect.stringMatching(/^kernel.elf: truncated: the ELF header/),
    });
    const badMagic = good.slice();
    badMagic[1] = 0x46;
    expect(problem(() => loadElf(badMagic, ctx)).code).toBe('bad-magic');
    expect(problem(() => loadElf(good.subarray(0, good.length - 2), ctx))).toMatchObject({
      code: 'truncated',
      message: expect.stringMatching(/segment 0/),
    });
    const arm = buildElf({ bits: 32, entry: 0, machine: 40, segments: [{ paddr: 0x100000, bytes: code }] });
    expect(problem(() => loadElf(arm, ctx)).message).toMatch(/machine 40 is not i386/);
    const shared = buildElf({ bits: 64, entry: 0, type: 3, segments: [{ paddr: 0x100000, bytes: code }] });
    expect(problem(() => loadElf(shared, ctx)).message).toMatch(/not an executable/);
    const high = buildElf({ bits: 32, entry: 0x2000000, segments: [{ paddr: 0x2000000, bytes: code }] });
    expect(problem(() => loadElf(high, ctx))).toMatchObject({
      code: 'outside-ram',
      message: expect.stringMatching(/ELF segment 0 at 0x2000000/),
    });
    const lost = buildElf({ bits: 32, entry: 0x300000, segments: [{ paddr: 0x100000, bytes: code }] });
    expect(problem(() => loadElf(lost, ctx)).message).toMatch(
      /entry point 0x300000 is in no loadable segment/,
    );
    const notes = buildElf({
      bits: 32,
      entry: 0,
      segments: [{ type: 4, paddr: 0, bytes: new Uint8Array(4) }],
    });
    expect(problem(() => loadElf(notes, ctx)).message).toMatch(/no loadable segment/);
    const grown = buildElf({
      bits: 32,
      entry: 0x100000,
      segments: [{ paddr: 0x100000, bytes: code, memsz: 2 }],
    });
    expect(problem(() => loadElf(grown, ctx)).message).toMatch(/more file bytes than memory bytes/);
  });
});
