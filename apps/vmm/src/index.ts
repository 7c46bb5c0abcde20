/**
 * @packageDocumentation
 * The kvm-ts sample VMM, written only against `@kvm-ts/core`: loaders for flat binaries, ELF, multiboot v1,
 * Linux bzImage and PVH ({@link loadImage}), the devices a PC-like guest expects (COM1, i8042, CMOS, the exit
 * port and debug console), a {@link Machine} that wires them to a VM, and the {@link RunLoop} that runs it.
 */
export * from './boot/index.js';
export { Bus, type BusDevice } from './devices/bus.js';
export { CMOS_PORT, CmosRegister, CmosRtc } from './devices/cmos.js';
export { DEBUG_CONSOLE_PORT, DebugConsole } from './devices/debug-console.js';
export { EXIT_PORT, ExitPort } from './devices/exit-port.js';
export { I8042, I8042_COMMAND_PORT, I8042_DATA_PORT, I8042Command } from './devices/i8042.js';
export { COM1_IRQ, COM1_PORT, Serial16550, SerialRegister, type SerialState } from './devices/serial.js';
export { DEMO_GUEST, DEMO_GUEST_SHA256 } from './guests/generated.js';
export { HypervisorSignature, Layout } from './layout.js';
export { Machine, type MachineOptions, withApicId, withHypervisorBit } from './machine.js';
export {
  describeExit,
  describeOutcome,
  ExitStatus,
  exitStatus,
  handleExit,
  RunLoop,
  type RunLoopOptions,
  type RunOutcome,
  type RunResult,
} from './run-loop.js';
export { VcpuKicker } from './vcpu-kicker.js';
