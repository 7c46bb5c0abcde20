/**
 * Code pages' state in the WebAssembly memory (src/cpu/wasm/directories.ts): the snapshot comparison that runs
 * at a code page's first use in each run must see a change at any byte of the page, and nothing else.
 */
import { describe, expect, it } from 'vitest';
import { BlockDirectories } from '../src/cpu/wasm/directories.js';
import { WasmArena } from '../src/memory/wasm-arena.js';

describe('block directories and snapshots', () => {
  it('a snapshot matches the page it was taken of, and not once any one of its 4096 bytes differs', () => {
    const arena = new WasmArena();
    const dirs = new BlockDirectories(arena);
    const page = arena.alloc(4096);
    const memory = new Uint8Array(arena.buffer, page, 4096);
    for (let k = 0; k < 4096; k++) memory[k] = (k * 7 + 3) & 0xff;
    const dir = dirs.take();
    dirs.snapshot(dir).set(memory);
    expect(dirs.matches(dir, page)).toBe(true);
    const missed: number[] = [];
    for (let k = 0; k < 4096; k++) {
      memory[k] ^= 0x80;
      if (dirs.matches(dir, page)) missed.push(k);
      memory[k] ^= 0x80;
    }
    expect(missed).toEqual([]);
    expect(dirs.matches(dir, page)).toBe(true);
    // The directory before the snapshot is not part of it.
    dirs.view(dir).fill(-1);
    expect(dirs.matches(dir, page)).toBe(true);
  });
});
