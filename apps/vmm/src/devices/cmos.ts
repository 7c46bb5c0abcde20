import type { BusDevice } from './bus.js';

/** The CMOS index port (bit 7 masks NMI) and data port, 0x70-0x71. */
export const CMOS_PORT = 0x70;
export const CMOS_PORT_COUNT = 2;

/** CMOS registers (MC146818A datasheet; IBM PC/AT CMOS map). */
export const CmosRegister = {
  SECONDS: 0x00,
  MINUTES: 0x02,
  HOURS: 0x04,
  DAY_OF_WEEK: 0x06,
  DAY_OF_MONTH: 0x07,
  MONTH: 0x08,
  YEAR: 0x09,
  STATUS_A: 0x0a,
  STATUS_B: 0x0b,
  STATUS_C: 0x0c,
  STATUS_D: 0x0d,
  /** Extended memory above 1 MiB in KiB, low and high byte (capped at 0xffff). */
  EXT_MEM_LOW: 0x17,
  EXT_MEM_HIGH: 0x18,
  /** Memory above 16 MiB in 64 KiB blocks, low and high byte (as QEMU and SeaBIOS use it). */
  MEM_ABOVE_16M_LOW: 0x34,
  MEM_ABOVE_16M_HIGH: 0x35,
  CENTURY: 0x32,
} as const;

/** Status A: the divider and rate the BIOS programs (32.768 kHz time base, 1024 Hz). */
const STATUS_A_DEFAULT = 0x26;
/** Status B bits: 24-hour mode, binary (not BCD) mode. */
const STATUS_B_24H = 0x02;
const STATUS_B_BINARY = 0x04;
/** Status D bit 7: the battery is good and the RAM valid. */
const STATUS_D_VALID = 0x80;
/** Index register bits that select the register (bit 7 is the NMI mask). */
const INDEX_MASK = 0x7f;

function bcd(value: number): number {
  return ((Math.floor(value / 10) % 10) << 4) | (value % 10);
}

/**
 * The CMOS real-time clock and its RAM: the time of `now()` (UTC) in BCD or binary as status B selects,
 * 24-hour mode, status registers with a valid battery and no update in progress, and the memory sizes a
 * firmware would store. Writes to time registers are kept in RAM but the clock keeps reading the host's time.
 */
export class CmosRtc implements BusDevice {
  private readonly ram = new Uint8Array(128);
  private index = 0;

  /**
   * @param ramSize guest RAM size, stored in the memory-size registers
   * @param now the clock, `() => new Date()` by default
   */
  constructor(
    ramSize: number,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.ram[CmosRegister.STATUS_A] = STATUS_A_DEFAULT;
    this.ram[CmosRegister.STATUS_B] = STATUS_B_24H;
    this.ram[CmosRegister.STATUS_D] = STATUS_D_VALID;
    const extKib = Math.min(0xffff, Math.max(0, ramSize - 0x100000) / 1024);
    this.ram[CmosRegister.EXT_MEM_LOW] = extKib & 0xff;
    this.ram[CmosRegister.EXT_MEM_HIGH] = extKib >> 8;
    const above16m = Math.min(0xffff, Math.max(0, ramSize - 0x1000000) / 0x10000);
    this.ram[CmosRegister.MEM_ABOVE_16M_LOW] = above16m & 0xff;
    this.ram[CmosRegister.MEM_ABOVE_16M_HIGH] = above16m >> 8;
  }

  read(offset: number): number {
    if (offset === 0) return 0xff; // the index port is write-only
    return this.readRegister(this.index);
  }

  write(offset: number, _size: number, value: number): void {
    if (offset === 0) {
      this.index = value & INDEX_MASK;
      return;
    }
    if (this.index === CmosRegister.STATUS_C || this.index === CmosRegister.STATUS_D) return; // read-only
    this.ram[this.index] = value & 0xff;
  }

  private readRegister(index: number): number {
    const time = this.timeField(index);
    if (time !== null) {
      return this.ram[CmosRegister.STATUS_B] & STATUS_B_BINARY ? time : bcd(time);
    }
    if (index === CmosRegister.STATUS_C) {
      // Reading C acknowledges interrupt flags; no RTC interrupts are generated, so none are set.
      return 0;
    }
    return this.ram[index];
  }

  private timeField(index: number): number | null {
    const now = this.now();
    switch (index) {
      case CmosRegister.SECONDS:
        return now.getUTCSeconds();
      case CmosRegister.MINUTES:
        return now.getUTCMinutes();
      case CmosRegister.HOURS:
        return now.getUTCHours();
      case CmosRegister.DAY_OF_WEEK:
        return now.getUTCDay() + 1;
      case CmosRegister.DAY_OF_MONTH:
        return now.getUTCDate();
      case CmosRegister.MONTH:
        return now.getUTCMonth() + 1;
      case CmosRegister.YEAR:
        return now.getUTCFullYear() % 100;
      case CmosRegister.CENTURY:
        return Math.floor(now.getUTCFullYear() / 100);
      default:
        return null;
    }
  }
}
