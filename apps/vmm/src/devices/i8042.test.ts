import { describe, expect, it } from 'vitest';
import { I8042, I8042Command } from './i8042.js';

function controller() {
  let resets = 0;
  let irqs = 0;
  const device = new I8042(
    () => {
      resets++;
    },
    () => {
      irqs++;
    },
  );
  const cmd = (value: number) => device.command.write(0, 1, value);
  const data = (value: number) => device.data.write(0, 1, value);
  const status = () => device.command.read(0, 1);
  const read = () => device.data.read(0, 1);
  return { cmd, data, status, read, resets: () => resets, irqs: () => irqs };
}

describe('I8042', () => {
  it('answers the Linux probe: status is not 0xff, self-test 0x55, interface test 0, configuration byte', () => {
    const kbc = controller();
    expect(kbc.status()).not.toBe(0xff);
    expect(kbc.status() & 0x01).toBe(0);
    kbc.cmd(I8042Command.SELF_TEST);
    expect(kbc.status() & 0x01).toBe(1);
    expect(kbc.read()).toBe(0x55);
    expect(kbc.status() & 0x01).toBe(0);
    kbc.cmd(I8042Command.TEST_KBD);
    expect(kbc.read()).toBe(0x00);
    kbc.cmd(I8042Command.WRITE_CTR);
    kbc.data(0x47);
    kbc.cmd(I8042Command.READ_CTR);
    expect(kbc.read()).toBe(0x47);
  });

  it('resets on command 0xFE and on clearing output-port bit 0, not on other pulses', () => {
    const kbc = controller();
    kbc.cmd(0xff);
    expect(kbc.resets()).toBe(0);
    kbc.cmd(I8042Command.PULSE_RESET);
    expect(kbc.resets()).toBe(1);
    kbc.cmd(I8042Command.WRITE_OUTPUT);
    kbc.data(0x02); // output port with the reset line (bit 0) low
    expect(kbc.resets()).toBe(2);
  });

  it('has a keyboard that ACKs, resets to 0xAA and identifies as MF2, with IRQ 1 while enabled', () => {
    const kbc = controller();
    kbc.data(0xff);
    expect([kbc.read(), kbc.read()]).toEqual([0xfa, 0xaa]);
    expect(kbc.irqs()).toBe(2);
    kbc.data(0xf2);
    expect([kbc.read(), kbc.read(), kbc.read()]).toEqual([0xfa, 0xab, 0x83]);
    kbc.cmd(I8042Command.WRITE_CTR);
    kbc.data(0x00); // interrupts off
    const before = kbc.irqs();
    kbc.data(0xf4);
    expect(kbc.read()).toBe(0xfa);
    expect(kbc.irqs()).toBe(before);
  });
});
