/** placeholder */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../decode.js';
import { raise, Vector } from '../exceptions.js';

export function sse3Byte(c: Cpu, _i: Insn): void {
  raise(c, Vector.UD, -1);
}
