import { describe, expect, it } from 'vitest';
import { DebugConsole } from './debug-console.js';

describe('DebugConsole', () => {
  it('prints every byte written, little-endian for wide writes, and reads back 0xE9', () => {
    const out: number[] = [];
    const port = new DebugConsole((b) => out.push(b));
    port.write(0, 1, 0x41);
    port.write(0, 2, 0x4342);
    expect(out).toEqual([0x41, 0x42, 0x43]);
    expect(port.read()).toBe(0xe9);
  });
});
