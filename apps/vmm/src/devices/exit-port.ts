import type { BusDevice } from './bus.js';

/** QEMU's `isa-debug-exit` default in test setups: `-device isa-debug-exit,iobase=0xf4,iosize=0x4`. */
export const EXIT_PORT = 0xf4;
export const EXIT_PORT_COUNT = 4;

/**
 * The QEMU-compatible exit port: a write of `v` ends the VMM with status `(v << 1) | 1` (so a guest can never
 * fake a clean 0). `onExit` receives that status; the process exit code keeps its low 8 bits. Reads return 0.
 */
export class ExitPort implements BusDevice {
  constructor(private readonly onExit: (status: number) => void) {}

  read(): number {
    return 0;
  }

  write(_offset: number, _size: number, value: number): void {
    this.onExit(((value << 1) | 1) >>> 0);
  }
}
