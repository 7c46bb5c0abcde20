import { describe, expect, it } from 'vitest';
import { ExitPort } from './exit-port.js';

describe('ExitPort', () => {
  it('turns a write of v into status (v << 1) | 1, as QEMU isa-debug-exit', () => {
    const statuses: number[] = [];
    const port = new ExitPort((s) => statuses.push(s));
    port.write(0, 1, 0);
    port.write(0, 1, 0x10);
    port.write(0, 4, 0x7fffffff);
    expect(statuses).toEqual([1, 0x21, 0xffffffff]);
    expect(port.read()).toBe(0);
  });
});
