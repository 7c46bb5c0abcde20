import type { BusDevice } from './bus.js';

/** COM1's ports and ISA interrupt on a PC. */
export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;
/** Eight registers. */
export const SERIAL_PORT_COUNT = 8;

/** Register offsets from the base port (PC16550D datasheet, table 2); DLAB is LCR bit 7. */
export const SerialRegister = {
  /** Receive buffer (read) / transmit holding (write); divisor latch low with DLAB. */
  DATA: 0,
  /** Interrupt enable; divisor latch high with DLAB. */
  IER: 1,
  /** Interrupt identification (read) / FIFO control (write). */
  IIR_FCR: 2,
  /** Line control: word length, parity, DLAB. */
  LCR: 3,
  /** Modem control: DTR, RTS, OUT1, OUT2, loopback. */
  MCR: 4,
  /** Line status. */
  LSR: 5,
  /** Modem status. */
  MSR: 6,
  /** Scratch. */
  SCR: 7,
} as const;

/**
 * IER bits: received data, transmitter empty, line status (modem status, bit 3, is stored but never fires: the
 * modem lines never change). Bits 4-7 read as zero on a 16550A.
 */
const IER_RDI = 0x01;
const IER_THRI = 0x02;
const IER_RLSI = 0x04;
const IER_MASK = 0x0f;
/** IIR values: no interrupt pending, and the sources by priority; bits 7:6 = 11 when the FIFOs are on. */
const IIR_NO_INT = 0x01;
const IIR_RLSI = 0x06;
const IIR_RDI = 0x04;
const IIR_THRI = 0x02;
const IIR_FIFO_ENABLED = 0xc0;
/** FCR bits: enable FIFOs, clear receive FIFO, clear transmit FIFO. */
const FCR_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;
/** LCR bit 7: divisor latch access. */
const LCR_DLAB = 0x80;
/** MCR bits: DTR, RTS, OUT1, OUT2, loopback; bits 5-7 read as zero. */
const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;
const MCR_MASK = 0x1f;
/** LSR bits: data ready, overrun, transmit holding empty, transmitter empty. */
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
/** MSR bits: CTS, DSR, RI, DCD and their deltas (bits 0-3). */
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;
/** Depth of the receive FIFO with FIFOs on; one holding register with them off. */
const FIFO_DEPTH = 16;
/** How much host input the device buffers before refusing more (the guest reads at its own pace). */
const INPUT_BUFFER_LIMIT = 64 * 1024;

/** The serial port's state, for saving and restoring. */
export interface SerialState {
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  dll: number;
  dlm: number;
  fifoEnabled: boolean;
  thrEmptyPending: boolean;
  overrun: boolean;
  rx: number[];
}

/**
 * A 16550A UART as the Linux 8250 driver probes it: IER bits 0-3 only, IIR bits 7:6 = 11 with the FIFOs on,
 * loopback reflected in MSR, and a transmitter that is always ready (bytes go to `output` at once). The caller
 * gives the interrupt trigger (called on each rising edge of the interrupt output) and the output sink, and
 * feeds host input with {@link receive}.
 */
export class Serial16550 implements BusDevice {
  private state: SerialState = {
    ier: 0,
    lcr: 0x03,
    mcr: MCR_OUT2,
    scr: 0,
    dll: 0x0c,
    dlm: 0,
    fifoEnabled: false,
    thrEmptyPending: false,
    overrun: false,
    rx: [],
  };
  private interruptLevel = false;

  constructor(
    private readonly trigger: () => void,
    private readonly output: (byte: number) => void,
  ) {}

  /**
   * Host input for the guest (terminal keystrokes). Returns how many bytes were taken; the rest should be
   * offered again later.
   */
  receive(bytes: Uint8Array): number {
    const room = Math.max(0, INPUT_BUFFER_LIMIT - this.state.rx.length);
    const taken = Math.min(room, bytes.length);
    for (let i = 0; i < taken; i++) this.state.rx.push(bytes[i]);
    this.update();
    return taken;
  }

  /** How many received bytes the guest has not read yet. */
  get pendingInput(): number {
    return this.state.rx.length;
  }

  read(offset: number): number {
    const s = this.state;
    const dlab = (s.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case SerialRegister.DATA: {
        if (dlab) return s.dll;
        const byte = s.rx.shift() ?? 0;
        this.update();
        return byte;
      }
      case SerialRegister.IER:
        return dlab ? s.dlm : s.ier;
      case SerialRegister.IIR_FCR: {
        const iir = this.pendingInterrupt();
        // Reading IIR acknowledges a transmitter-empty interrupt when that is what it reports.
        if (iir === IIR_THRI) s.thrEmptyPending = false;
        this.update();
        return iir | (s.fifoEnabled ? IIR_FIFO_ENABLED : 0);
      }
      case SerialRegister.LCR:
        return s.lcr;
      case SerialRegister.MCR:
        return s.mcr;
      case SerialRegister.LSR: {
        const lsr = LSR_THRE | LSR_TEMT | (s.rx.length > 0 ? LSR_DR : 0) | (s.overrun ? LSR_OE : 0);
        s.overrun = false;
        this.update();
        return lsr;
      }
      case SerialRegister.MSR:
        return this.modemStatus();
      case SerialRegister.SCR:
        return s.scr;
      default:
        return 0xff;
    }
  }

  write(offset: number, _size: number, value: number): void {
    const s = this.state;
    const dlab = (s.lcr & LCR_DLAB) !== 0;
    value &= 0xff;
    switch (offset) {
      case SerialRegister.DATA:
        if (dlab) {
          s.dll = value;
          return;
        }
        // Writing the holding register clears its empty interrupt...
        s.thrEmptyPending = false;
        this.update();
        if (s.mcr & MCR_LOOP) {
          this.loopback(value);
        } else {
          this.output(value);
        }
        // ...and the byte leaves at once, so the register is empty again: a new edge when enabled.
        s.thrEmptyPending = true;
        this.update();
        return;
      case SerialRegister.IER:
        if (dlab) {
          s.dlm = value;
          return;
        }
        // Enabling the transmitter interrupt while the holding register is empty raises it at once (16550A).
        if (value & IER_THRI && !(s.ier & IER_THRI)) s.thrEmptyPending = true;
        s.ier = value & IER_MASK;
        this.update();
        return;
      case SerialRegister.IIR_FCR:
        s.fifoEnabled = (value & FCR_ENABLE) !== 0;
        if (value & FCR_CLEAR_RX) s.rx.length = 0;
        this.update();
        return;
      case SerialRegister.LCR:
        s.lcr = value;
        return;
      case SerialRegister.MCR:
        s.mcr = value & MCR_MASK;
        return;
      case SerialRegister.SCR:
        s.scr = value;
        return;
      default:
        // LSR and MSR are read-only.
        return;
    }
  }

  /** A copy of the device state. */
  saveState(): SerialState {
    return { ...this.state, rx: [...this.state.rx] };
  }

  /** Replaces the device state with one from {@link saveState}. */
  restoreState(state: SerialState): void {
    this.state = { ...state, rx: [...state.rx] };
    this.interruptLevel = this.pendingInterrupt() !== IIR_NO_INT;
  }

  private loopback(value: number): void {
    const s = this.state;
    const capacity = s.fifoEnabled ? FIFO_DEPTH : 1;
    if (s.rx.length >= capacity) {
      s.overrun = true;
      return;
    }
    s.rx.push(value);
  }

  private modemStatus(): number {
    const mcr = this.state.mcr;
    if (mcr & MCR_LOOP) {
      // In loopback the modem outputs drive the modem inputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
      return (
        (mcr & MCR_RTS ? MSR_CTS : 0) |
        (mcr & MCR_DTR ? MSR_DSR : 0) |
        (mcr & MCR_OUT1 ? MSR_RI : 0) |
        (mcr & MCR_OUT2 ? MSR_DCD : 0)
      );
    }
    // A terminal is always attached: carrier, data set ready and clear to send.
    return MSR_DCD | MSR_DSR | MSR_CTS;
  }

  /** The highest-priority enabled interrupt source, as an IIR value. */
  private pendingInterrupt(): number {
    const s = this.state;
    if (s.ier & IER_RLSI && s.overrun) return IIR_RLSI;
    if (s.ier & IER_RDI && s.rx.length > 0) return IIR_RDI;
    if (s.ier & IER_THRI && s.thrEmptyPending) return IIR_THRI;
    return IIR_NO_INT;
  }

  /** Calls the trigger when the interrupt output goes from inactive to active (an ISA edge). */
  private update(): void {
    const level = this.pendingInterrupt() !== IIR_NO_INT;
    if (level && !this.interruptLevel) this.trigger();
    this.interruptLevel = level;
  }
}
