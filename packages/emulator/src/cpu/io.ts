/**
 * Port IO: IN, OUT, INS, OUTS (SDM Vol. 2; Vol. 1 19.5 for the IOPL and TSS I/O-bitmap checks). IN and OUT of a
 * port an in-kernel device decodes complete here (`CpuDevices.portIn`/`portOut`); INS and OUTS of one exit to
 * the backend, which completes them. Every other access exits to the VMM as KVM does:
 * - IN, OUT and INS exit with RIP still on the instruction; the next `run()` re-executes it, which then takes
 *   the VMM's data (IN, INS) and retires. This is KVM's "fast PIO" and emulated INS completion.
 * - OUTS writes back RSI and RCX (and, without REP, RIP) before exiting, one element per exit, as KVM's
 *   instruction emulator does; a repeated OUTS keeps RIP on itself until the run after its last element.
 * - INS transfers up to min(RCX, bytes to the end of RDI's page, 1024 / size) elements per exit, as KVM's
 *   read-ahead (`pio_in_emulated`) does.
 */
import type { Cpu } from './cpu.js';
import { type Insn, InsnFlag } from './decode.js';
import { raise, Vector } from './exceptions.js';
import { CpuExit } from './mmu.js';
import { getReg, linearOf, setReg } from './operands.js';
import { isProtected, sysRead } from './segments.js';
import { Flag, Seg, Stop } from './state.js';
import { countIsZero, decCount, indexOf, stepIndex } from './string.js';

/** KVM's `struct read_cache` size: the most bytes one INS exit transfers. */
const PIO_READ_AHEAD = 1024;

/** Whether the current privilege may access `size` ports from `port`; records #GP(0) if not. */
function ioAllowed(c: Cpu, port: number, size: number): boolean {
  if (!isProtected(c) && !(c.flags & Flag.VM)) return true;
  if (!(c.flags & Flag.VM) && c.cpl <= (c.flags & Flag.IOPL) >> 12) return true;
  // The I/O permission bitmap of a 32/64-bit TSS.
  const type = c.segAttr[Seg.TR] & 0xf;
  if ((type === 9 || type === 11) && c.segLimit[Seg.TR] >= 0x67) {
    const base = sysRead(c, c.segBase[Seg.TR] + 0x66, 2);
    if (c.stop & Stop.ABORT) return false;
    const at = base + (port >> 3);
    if (at + 1 <= c.segLimit[Seg.TR]) {
      const bits = sysRead(c, c.segBase[Seg.TR] + at, 2);
      if (c.stop & Stop.ABORT) return false;
      if (((bits >> (port & 7)) & ((1 << size) - 1)) === 0) return true;
    }
  }
  raise(c, Vector.GP, 0);
  return false;
}

function ioExit(c: Cpu, dir: number, size: number, port: number, count: number): void {
  c.exitKind = CpuExit.IO;
  c.ioDir = dir;
  c.ioSize = size;
  c.ioPort = port;
  c.ioCount = count;
  c.stop |= Stop.EXIT;
}

/** Whether this execution completes the exit the VMM has just handled (same direction, port, size, count). */
function resuming(c: Cpu, dir: number, size: number, port: number, count: number): boolean {
  if (!c.ioResume) return false;
  c.ioResume = false;
  return c.ioDir === dir && c.ioSize === size && c.ioPort === port && c.ioCount === count;
}

/** IN AL/eAX, imm8 / DX (E4, E5, EC, ED). */
export function inPort(c: Cpu, i: Insn): void {
  const size = i.osize === 1 ? 1 : i.osize === 2 ? 2 : 4;
  const port = i.op & 8 ? c.r[4] & 0xffff : i.imm & 0xff;
  if (!ioAllowed(c, port, size)) return;
  if (resuming(c, 0, size, port, 1)) {
    const d = c.ioData;
    setReg(c, 0, size, d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24), 0);
    return;
  }
  // A port the in-kernel devices decode: answered here, as KVM answers it without leaving the kernel. An exit
  // and the re-execution cost about 2 us, and Linux's boot reads the PIT and the PICs some 100,000 times.
  if (c.devices !== null) {
    const v = c.devices.portIn(port, size);
    if (v >= 0) {
      setReg(c, 0, size, v | 0, 0);
      return;
    }
  }
  c.ioData.fill(0, 0, 4);
  ioExit(c, 0, size, port, 1);
  c.stop |= Stop.ABORT;
}

/** OUT imm8 / DX, AL/eAX (E6, E7, EE, EF). */
export function outPort(c: Cpu, i: Insn): void {
  const size = i.osize === 1 ? 1 : i.osize === 2 ? 2 : 4;
  const port = i.op & 8 ? c.r[4] & 0xffff : i.imm & 0xff;
  if (!ioAllowed(c, port, size)) return;
  if (resuming(c, 1, size, port, 1)) return;
  const v = getReg(c, 0, size);
  if (c.devices?.portOut(port, size, v)) {
    // The write may have moved a timer's deadline or unmasked an interrupt: the slice ends here (RESYNC
    // re-checks interrupts) and `execute` returns, so the backend takes the devices' new deadline.
    c.devicesWritten = true;
    c.stop |= Stop.RESYNC;
    return;
  }
  const d = c.ioData;
  d[0] = v;
  d[1] = v >>> 8;
  d[2] = v >>> 16;
  d[3] = v >>> 24;
  ioExit(c, 1, size, port, 1);
  c.stop |= Stop.ABORT;
}

/** INS (6C, 6D), with REP. */
export function insPort(c: Cpu, i: Insn): void {
  const size = i.osize === 1 ? 1 : i.osize === 2 ? 2 : 4;
  const asize = i.asize;
  const port = c.r[4] & 0xffff;
  const rep = (i.flags & (InsnFlag.REP | InsnFlag.REPNE)) !== 0;
  if (rep && countIsZero(c, asize)) return;
  if (!ioAllowed(c, port, size)) return;
  const down = (c.flags & Flag.DF) !== 0;
  const rdi = indexOf(c, 7, asize);
  let count = 1;
  if (rep) {
    const rcx = indexOf(c, 1, asize);
    const inPage = down ? rdi & 4095 : 4096 - (rdi & 4095);
    count = Math.max(1, Math.min(inPage, PIO_READ_AHEAD / size, rcx));
  }
  if (resuming(c, 0, size, port, count)) {
    const delta = down ? -size : size;
    for (let k = 0; k < count; k++) {
      const lin = linearOf(c, Seg.ES, indexOf(c, 7, asize), size, true);
      if (c.stop & Stop.ABORT) return;
      const d = c.ioData;
      const o = k * size;
      c.write(lin, size, d[o] | (d[o + 1] << 8) | (d[o + 2] << 16) | (d[o + 3] << 24), 0);
      if (c.stop & Stop.ABORT) return;
      stepIndex(c, 7, asize, delta);
      if (rep) decCount(c, asize);
    }
    if (rep && !countIsZero(c, asize)) c.nextIp = c.rip;
    return;
  }
  // Check the first destination before exiting, as the emulator does when it maps the access.
  linearOf(c, Seg.ES, rdi, size, true);
  if (c.stop & Stop.ABORT) return;
  c.ioData.fill(0, 0, count * size);
  ioExit(c, 0, size, port, count);
  c.stop |= Stop.ABORT;
}

/** OUTS (6E, 6F), with REP: one element per exit. */
export function outsPort(c: Cpu, i: Insn): void {
  const size = i.osize === 1 ? 1 : i.osize === 2 ? 2 : 4;
  const asize = i.asize;
  const port = c.r[4] & 0xffff;
  const rep = (i.flags & (InsnFlag.REP | InsnFlag.REPNE)) !== 0;
  if (rep && countIsZero(c, asize)) return;
  if (!ioAllowed(c, port, size)) return;
  const src = i.segOverride ? i.seg : Seg.DS;
  const lin = linearOf(c, src, indexOf(c, 6, asize), size, false);
  if (c.stop & Stop.ABORT) return;
  const v = c.read(lin, size);
  if (c.stop & Stop.ABORT) return;
  const d = c.ioData;
  d[0] = v;
  d[1] = v >>> 8;
  d[2] = v >>> 16;
  d[3] = v >>> 24;
  stepIndex(c, 6, asize, c.flags & Flag.DF ? -size : size);
  if (rep) {
    decCount(c, asize);
    // RIP stays on a repeated OUTS even after its last element: the next run finds RCX 0 and retires it
    // (as measured on KVM: RSI and RCX move with each exit, RIP only on the run after the last).
    c.nextIp = c.rip;
  }
  ioExit(c, 1, size, port, 1);
}
