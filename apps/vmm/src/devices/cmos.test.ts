import { describe, expect, it } from 'vitest';
import { CmosRtc, CmosRegister as R } from './cmos.js';

const at = new Date(Date.UTC(2026, 10, 26, 13, 45, 7)); // Thursday 26 November 2026

function reader(rtc: CmosRtc) {
  return (index: number) => {
    rtc.write(0, 1, index | 0x80); // NMI mask bit must not matter
    return rtc.read(1);
  };
}

describe('CmosRtc', () => {
  it('reads the time in BCD, 24-hour mode, with a valid battery and no update in progress', () => {
    const rtc = new CmosRtc(256 << 20, () => at);
    const read = reader(rtc);
    expect(read(R.SECONDS)).toBe(0x07);
    expect(read(R.MINUTES)).toBe(0x45);
    expect(read(R.HOURS)).toBe(0x13);
    expect(read(R.DAY_OF_WEEK)).toBe(0x05);
    expect(read(R.DAY_OF_MONTH)).toBe(0x26);
    expect(read(R.MONTH)).toBe(0x11);
    expect(read(R.YEAR)).toBe(0x26);
    expect(read(R.CENTURY)).toBe(0x20);
    expect(read(R.STATUS_A) & 0x80).toBe(0);
    expect(read(R.STATUS_B) & 0x02).toBe(0x02);
    expect(read(R.STATUS_D)).toBe(0x80);
    expect(read(R.STATUS_C)).toBe(0);
  });

  it('switches to binary when status B asks, and keeps RAM bytes', () => {
    const rtc = new CmosRtc(256 << 20, () => at);
    const read = reader(rtc);
    rtc.write(0, 1, R.STATUS_B);
    rtc.write(1, 1, 0x06);
    expect(read(R.MINUTES)).toBe(45);
    expect(read(R.YEAR)).toBe(26);
    rtc.write(0, 1, 0x40);
    rtc.write(1, 1, 0x99);
    expect(read(0x40)).toBe(0x99);
    rtc.write(0, 1, R.STATUS_D);
    rtc.write(1, 1, 0);
    expect(read(R.STATUS_D)).toBe(0x80);
  });

  it('stores the memory size as a firmware would', () => {
    const read = reader(new CmosRtc(256 << 20, () => at));
    expect(read(R.EXT_MEM_LOW) | (read(R.EXT_MEM_HIGH) << 8)).toBe(0xffff);
    expect(read(R.MEM_ABOVE_16M_LOW) | (read(R.MEM_ABOVE_16M_HIGH) << 8)).toBe(240 * 16);
    const small = reader(new CmosRtc(8 << 20, () => at));
    expect(small(R.EXT_MEM_LOW) | (small(R.EXT_MEM_HIGH) << 8)).toBe(7 * 1024);
  });
});
