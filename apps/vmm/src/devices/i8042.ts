import type { BusDevice } from './bus.js';

/** The controller's ports: data at 0x60, status/command at 0x64 (two ranges of one port each). */
export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
/** The keyboard's ISA interrupt. */
export const I8042_KEYBOARD_IRQ = 1;

/** Status register bits: output buffer full, system flag (self-test passed), last write was a command, unlocked. */
const STATUS_OBF = 0x01;
const STATUS_SYS = 0x04;
const STATUS_CMD = 0x08;
const STATUS_UNLOCKED = 0x10;
/** Controller commands (written to 0x64). */
export const I8042Command = {
  READ_CTR: 0x20,
  WRITE_CTR: 0x60,
  DISABLE_AUX: 0xa7,
  ENABLE_AUX: 0xa8,
  TEST_AUX: 0xa9,
  SELF_TEST: 0xaa,
  TEST_KBD: 0xab,
  DISABLE_KBD: 0xad,
  ENABLE_KBD: 0xae,
  READ_INPUT: 0xc0,
  READ_OUTPUT: 0xd0,
  WRITE_OUTPUT: 0xd1,
  WRITE_KBD_OUTPUT: 0xd2,
  WRITE_AUX_OUTPUT: 0xd3,
  WRITE_AUX: 0xd4,
  /** Pulse output line 0 (the CPU reset line) low. */
  PULSE_RESET: 0xfe,
} as const;
/** Controller configuration byte bits: keyboard interrupt enable, system flag, keyboard/aux clocks disabled. */
const CTR_KBD_INT = 0x01;
const CTR_SYS = 0x04;
const CTR_AUX_DISABLE = 0x20;
/** Output port bit 0: 0 holds the CPU in reset. */
const OUTPUT_RESET_LINE = 0x01;
/** Replies: self-test passed, interface test passed, keyboard ACK, keyboard self-test passed. */
const SELF_TEST_OK = 0x55;
const INTERFACE_OK = 0x00;
const KBD_ACK = 0xfa;
const KBD_BAT_OK = 0xaa;
/** Keyboard commands the device answers beyond an ACK. */
const KBD_RESET = 0xff;
const KBD_IDENTIFY = 0xf2;

/**
 * An i8042 keyboard controller with no keyboard input: enough for the Linux probe (self-test, interface tests,
 * configuration byte, a keyboard that ACKs) and for resetting the machine (command 0xFE, or output port bit 0
 * cleared), which calls `onReset`. `trigger` is called on each byte the controller queues while the
 * configuration byte enables the keyboard interrupt.
 */
export class I8042 {
  private ctr = CTR_KBD_INT | CTR_SYS | CTR_AUX_DISABLE;
  private outputPort = 0x03 | OUTPUT_RESET_LINE;
  private readonly queue: number[] = [];
  private lastWasCommand = false;
  private pendingCommand: number | null = null;

  /**
   * @param onReset called when the guest pulses the CPU reset line
   * @param trigger the keyboard interrupt (IRQ 1), an edge per byte made available
   */
  constructor(
    private readonly onReset: () => void,
    private readonly trigger: () => void = () => {},
  ) {}

  /** The data port (0x60): replies out, configuration and keyboard bytes in. */
  readonly data: BusDevice = {
    read: () => this.readData(),
    write: (_offset, _size, value) => this.writeData(value & 0xff),
  };

  /** The status (read) and command (write) port, 0x64. */
  readonly command: BusDevice = {
    read: () => this.status(),
    write: (_offset, _size, value) => this.writeCommand(value & 0xff),
  };

  private status(): number {
    return (
      (this.queue.length > 0 ? STATUS_OBF : 0) |
      (this.ctr & CTR_SYS ? STATUS_SYS : 0) |
      (this.lastWasCommand ? STATUS_CMD : 0) |
      STATUS_UNLOCKED
    );
  }

  private readData(): number {
    return this.queue.shift() ?? 0;
  }

  private reply(...bytes: number[]): void {
    for (const byte of bytes) {
      this.queue.push(byte);
      if (this.ctr & CTR_KBD_INT) this.trigger();
    }
  }

  private writeCommand(command: number): void {
    this.lastWasCommand = true;
    this.pendingCommand = null;
    switch (command) {
      case I8042Command.READ_CTR:
        this.reply(this.ctr);
        return;
      case I8042Command.SELF_TEST:
        this.reply(SELF_TEST_OK);
        return;
      case I8042Command.TEST_KBD:
      case I8042Command.TEST_AUX:
        this.reply(INTERFACE_OK);
        return;
      case I8042Command.READ_INPUT:
        this.reply(0x00);
        return;
      case I8042Command.READ_OUTPUT:
        this.reply(this.outputPort);
        return;
      case I8042Command.WRITE_CTR:
      case I8042Command.WRITE_OUTPUT:
      case I8042Command.WRITE_KBD_OUTPUT:
      case I8042Command.WRITE_AUX_OUTPUT:
      case I8042Command.WRITE_AUX:
        this.pendingCommand = command;
        return;
      case I8042Command.DISABLE_KBD:
      case I8042Command.ENABLE_KBD:
      case I8042Command.DISABLE_AUX:
      case I8042Command.ENABLE_AUX:
        return;
      default:
        // 0xF0-0xFF pulse output lines low for 6 us; bit 0 of the command clear means the reset line.
        if (command >= 0xf0 && !(command & 0x01)) this.onReset();
    }
  }

  private writeData(value: number): void {
    this.lastWasCommand = false;
    const command = this.pendingCommand;
    this.pendingCommand = null;
    switch (command) {
      case I8042Command.WRITE_CTR:
        this.ctr = value;
        return;
      case I8042Command.WRITE_OUTPUT:
        this.outputPort = value;
        if (!(value & OUTPUT_RESET_LINE)) this.onReset();
        return;
      case I8042Command.WRITE_KBD_OUTPUT:
      case I8042Command.WRITE_AUX_OUTPUT:
        this.reply(value);
        return;
      case I8042Command.WRITE_AUX:
        // No mouse: nothing answers.
        return;
      default:
        // A byte for the keyboard itself.
        if (value === KBD_RESET) this.reply(KBD_ACK, KBD_BAT_OK);
        else if (value === KBD_IDENTIFY) this.reply(KBD_ACK, 0xab, 0x83);
        else this.reply(KBD_ACK);
    }
  }
}
