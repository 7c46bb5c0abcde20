import type { BusDevice } from './bus.js';

/** Bochs/QEMU debug console port (`-device isa-debugcon,iobase=0xe9`). */
export const DEBUG_CONSOLE_PORT = 0xe9;

/**
 * The 0xE9 debug console: every byte written goes to `output`; reads return 0xE9, which is how guests
 * (Linux's `earlyprintk=...`, SeaBIOS) detect that the port exists.
 */
export class DebugConsole implements BusDevice {
  constructor(private readonly output: (byte: number) => void) {}

  read(): number {
    return DEBUG_CONSOLE_PORT;
  }

  write(_offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.output((value >>> (i * 8)) & 0xff);
  }
}
