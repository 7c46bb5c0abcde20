/**
 * A code page's visit counters start again when its code changes: the run loop compiles an offset when its
 * count reaches the block threshold exactly, so a count left past it would keep rewritten code (patched kernel
 * text, a reused page) in the interpreter for good.
 */
import { describe, expect, it } from 'vitest';
import { Block } from './blocks.js';
import { BLOCK_HEAT, CodePage } from './insn-cache.js';
import { CodeMode } from './state.js';

function blockAt(entry: number, lo: number, hi: number): Block {
  return new Block(CodeMode.M64, 3, entry, lo, hi, 0, hi - entry, () => {});
}

describe('code page visit counters', () => {
  it('a write into a block drops it and resets its entry count, and leaves other counts alone', () => {
    const page = new CodePage(0x1000);
    page.heat[100] = 8000;
    page.heat[200] = 8000;
    page.heat[300] = 8000;
    page.addBlock(blockAt(100, 100, 120));
    page.addBlock(blockAt(300, 300, 310));
    // Where a block starts, its count is the mark the run loop looks for before it looks the block up.
    expect([page.heat[100], page.heat[300]]).toEqual([BLOCK_HEAT, BLOCK_HEAT]);
    expect(page.invalidate(110, 4)).toBe(true);
    expect(page.blocks[100]).toBeUndefined();
    expect(page.heat[100]).toBe(0);
    expect(page.blocks[300]).toBeDefined();
    expect(page.heat[300]).toBe(BLOCK_HEAT);
    expect(page.heat[200]).toBe(8000);
  });

  it('a page that changed behind the CPU (clearCode) counts every offset from zero', () => {
    const page = new CodePage(0x1000);
    page.heat.fill(9000);
    page.addBlock(blockAt(7, 7, 20));
    page.clearCode();
    expect(page.blocks[7]).toBeUndefined();
    expect(page.heat.every((n) => n === 0)).toBe(true);
  });
});
