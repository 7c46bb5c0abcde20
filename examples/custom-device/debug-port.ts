import type { BusDevice } from './bus.js';

/** The port a debug console conventionally sits on (Bochs and QEMU's `isa-debugcon`). */
export const DEBUG_PORT = 0xe9;

/**
 * A one-port console: every byte written is a character of output; a read returns 0xe9, which is how a guest
 * tells the port is there (an empty port reads 0xff).
 */
export class DebugPort implements BusDevice {
  readonly name = 'debug-port';
  output = '';

  read(_offset: number, data: Uint8Array): void {
    data.fill(DEBUG_PORT);
  }

  write(_offset: number, data: Uint8Array): void {
    this.output += String.fromCharCode(...data);
  }
}
