import { describe, expect, it } from 'vitest';
import { ArrayGuestMemory } from './guest-memory.js';
import { WasmArena } from './wasm-arena.js';

describe('WasmArena (guest RAM in one shared WebAssembly memory)', () => {
  it('keeps earlier blocks live and zeroed when later ones grow the memory', () => {
    const arena = new WasmArena();
    expect(arena.memory, 'this host has shared WebAssembly memory').not.toBeNull();
    const first = new ArrayGuestMemory(0x10000, arena);
    expect(first.arena).toBe(arena);
    first.bytes.fill(0xab);
    // 64 MiB more: the memory grows, and the first block's view must still be the same live bytes.
    const second = new ArrayGuestMemory(64 << 20, arena);
    expect(second.bytes.byteOffset).toBeGreaterThanOrEqual(first.bytes.byteOffset + first.size);
    expect(second.bytes.every((b) => b === 0)).toBe(true);
    expect(first.bytes.length).toBe(0x10000);
    expect(first.bytes[0x1234]).toBe(0xab);
    // Both are windows on the one memory: a write through the whole buffer shows in the block.
    new Uint8Array(arena.buffer)[first.bytes.byteOffset + 0x10] = 0x5a;
    expect(first.bytes[0x10]).toBe(0x5a);
    expect(first.view.getUint8(0x10)).toBe(0x5a);
  });

  it('never hands out offset 0 (it means "none" in the block directories)', () => {
    const arena = new WasmArena();
    expect(arena.alloc(16)).toBeGreaterThan(0);
  });

  it('refuses what does not fit in 4 GiB without using up room; guest RAM then gets an ArrayBuffer of its own', () => {
    const arena = new WasmArena();
    expect(arena.alloc(2 ** 32)).toBe(-1);
    // The refused request took nothing: a small block still goes in the arena.
    const inside = new ArrayGuestMemory(0x2000, arena);
    expect(inside.arena).toBe(arena);
    // An arena with no room left: the block falls back to a buffer of its own, at offset 0.
    const full = { alloc: () => -1 } as unknown as WasmArena;
    const outside = new ArrayGuestMemory(0x2000, full);
    expect(outside.arena).toBeNull();
    expect(outside.bytes.byteOffset).toBe(0);
    expect(outside.bytes.buffer).not.toBe(arena.buffer);
  });
});
