import { describe, expect, it } from 'vitest';
import { SerialRegister as R, Serial16550 } from './serial.js';

function uart() {
  const out: number[] = [];
  let edges = 0;
  const device = new Serial16550(
    () => {
      edges++;
    },
    (byte) => out.push(byte),
  );
  return { device, out, edges: () => edges };
}

describe('Serial16550', () => {
  it('passes the Linux 8250 probe: IER reads back 0 then 0x0F, IIR bits 7:6 = 11 with FIFOs on', () => {
    const { device } = uart();
    device.write(R.IER, 1, 0);
    expect(device.read(R.IER)).toBe(0);
    device.write(R.IER, 1, 0xff);
    expect(device.read(R.IER)).toBe(0x0f);
    device.write(R.IER, 1, 0);
    device.write(R.IIR_FCR, 1, 0x01);
    expect(device.read(R.IIR_FCR) >> 6).toBe(3);
    expect(device.read(R.IIR_FCR) & 0x0f).toBe(0x01); // no interrupt pending
    device.write(R.IIR_FCR, 1, 0x00);
    expect(device.read(R.IIR_FCR) >> 6).toBe(0);
    // The Xscale check: IER bit 6 must not stick.
    device.write(R.IER, 1, 0x40);
    expect(device.read(R.IER) & 0x40).toBe(0);
  });

  it('loops back in loopback mode with the modem lines crossed (MCR 0x1A gives MSR 0x90)', () => {
    const { device, out } = uart();
    device.write(R.MCR, 1, 0x1a);
    expect(device.read(R.MSR) & 0xf0).toBe(0x90);
    device.write(R.DATA, 1, 0x5a);
    expect(out).toEqual([]);
    expect(device.read(R.LSR) & 0x01).toBe(1);
    expect(device.read(R.DATA)).toBe(0x5a);
    device.write(R.MCR, 1, 0x0b);
    expect(device.read(R.MSR)).toBe(0xb0);
  });

  it('transmits at once: LSR always says THRE|TEMT and bytes reach the sink', () => {
    const { device, out } = uart();
    expect(device.read(R.LSR) & 0x60).toBe(0x60);
    device.write(R.DATA, 1, 0x48);
    device.write(R.DATA, 1, 0x69);
    expect(out).toEqual([0x48, 0x69]);
  });

  it('keeps the divisor latch behind DLAB, and LCR and SCR as written', () => {
    const { device, out } = uart();
    device.write(R.LCR, 1, 0x83);
    device.write(R.DATA, 1, 0x01);
    device.write(R.IER, 1, 0x00);
    expect(device.read(R.DATA)).toBe(0x01);
    expect(device.read(R.IER)).toBe(0x00);
    device.write(R.LCR, 1, 0x03);
    expect(out).toEqual([]);
    expect(device.read(R.LCR)).toBe(0x03);
    device.write(R.SCR, 1, 0xa5);
    expect(device.read(R.SCR)).toBe(0xa5);
  });

  it('raises the receive interrupt on input and clears it when the data is read', () => {
    const { device, edges } = uart();
    device.write(R.IER, 1, 0x01);
    expect(edges()).toBe(0);
    expect(device.receive(Uint8Array.from([0x61, 0x62]))).toBe(2);
    expect(edges()).toBe(1);
    expect(device.read(R.IIR_FCR) & 0x0f).toBe(0x04);
    expect(device.read(R.LSR) & 0x01).toBe(1);
    expect(device.read(R.DATA)).toBe(0x61);
    expect(device.read(R.DATA)).toBe(0x62);
    expect(device.read(R.LSR) & 0x01).toBe(0);
    expect(device.read(R.IIR_FCR) & 0x0f).toBe(0x01);
    device.receive(Uint8Array.from([0x63]));
    expect(edges()).toBe(2); // a new edge once the line had dropped
  });

  it('raises THRE when the interrupt is enabled with the register empty, and after each byte', () => {
    const { device, edges } = uart();
    device.write(R.IER, 1, 0x02);
    expect(edges()).toBe(1);
    expect(device.read(R.IIR_FCR) & 0x0f).toBe(0x02);
    // Reading IIR acknowledged it.
    expect(device.read(R.IIR_FCR) & 0x0f).toBe(0x01);
    device.write(R.DATA, 1, 0x41);
    expect(edges()).toBe(2);
    device.write(R.IER, 1, 0x00);
    expect(device.read(R.IIR_FCR) & 0x0f).toBe(0x01);
  });

  it('reports the highest-priority source first: received data before THRE', () => {
    const { device } = uart();
    device.write(R.IER, 1, 0x03);
    device.receive(Uint8Array.from([1]));
    expect(device.read(R.IIR_FCR) & 0x0f).toBe(0x04);
    device.read(R.DATA);
    expect(device.read(R.IIR_FCR) & 0x0f).toBe(0x02);
  });

  it('clears the receive FIFO through FCR and saves and restores its state', () => {
    const { device } = uart();
    device.receive(Uint8Array.from([1, 2, 3]));
    const saved = device.saveState();
    device.write(R.IIR_FCR, 1, 0x03);
    expect(device.pendingInput).toBe(0);
    device.restoreState(saved);
    expect(device.pendingInput).toBe(3);
    expect(device.read(R.DATA)).toBe(1);
  });
});
