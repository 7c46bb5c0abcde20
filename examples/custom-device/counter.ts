import type { BusDevice } from './bus.js';

/** Register offsets of the counter's 8-byte MMIO window. */
export const CounterRegister = {
  /** Read: the current value; write: replace it. 32 bits. */
  VALUE: 0,
  /** Write: add to the value; reads 0. 32 bits. */
  ADD: 4,
} as const;

/** Size of the counter's MMIO window. */
export const COUNTER_WINDOW = 8;

/**
 * A memory-mapped counter with two 32-bit registers. Accesses narrower than a register see or change its low
 * bytes, as on most simple devices; writes that do not start at a register are ignored; the value wraps at
 * 2^32.
 */
export class Counter implements BusDevice {
  readonly name = 'counter';
  value = 0;

  read(offset: number, data: Uint8Array): void {
    const register = offset & ~3;
    const word = register === CounterRegister.VALUE ? this.value : 0;
    for (let i = 0; i < data.length; i++) data[i] = (word >>> (8 * ((offset & 3) + i))) & 0xff;
  }

  write(offset: number, data: Uint8Array): void {
    let word = 0;
    for (let i = data.length - 1; i >= 0; i--) word = (word << 8) | data[i];
    word >>>= 0;
    if (offset === CounterRegister.VALUE) this.value = word;
    else if (offset === CounterRegister.ADD) this.value = (this.value + word) >>> 0;
  }
}
