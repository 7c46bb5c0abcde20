/**
 * Runs an oracle kernel in QEMU TCG and in the emulator and returns what each printed on COM1. The emulator
 * is loaded as the benchmark's multiboot loader does it (bench/guest.mjs's `elfSegments`, then 32-bit
 * protected mode with flat segments, EAX = 0x2BADB002); COM1 is the VMM's job here, as with real KVM:
 * LSR reads say the transmitter is empty and THR writes are collected.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KvmSregs } from '@kvm-ts/core';
import { backend, type EmulatorVcpu } from '../../src/index.js';

interface BenchGuest {
  nasmMissing(): string | null;
  elfSegments(bytes: Uint8Array): { entry: number; segments: { paddr: number; data: Uint8Array }[] };
  enterMultibootState(sregs: KvmSregs): KvmSregs;
}
interface BenchQemu {
  qemuMissing(arch: string): string | null;
}

// The bench's helpers are plain ES modules without type declarations: imported by URL, typed here.
const guestUrl = new URL('../../bench/guest.mjs', import.meta.url).href;
const qemuUrl = new URL('../../bench/peers/qemu.mjs', import.meta.url).href;
const bench = (await import(guestUrl)) as BenchGuest;
const benchQemu = (await import(qemuUrl)) as BenchQemu;

/** Why the oracle cannot run here (no nasm or no qemu-system-x86_64), or null. */
export function oracleMissing(): string | null {
  return bench.nasmMissing() ?? benchQemu.qemuMissing('x86_64');
}

const RAM = 64 << 20;
const COM1 = 0x3f8;
const EXIT_PORT = 0xf4;

/** COM1 output of `image` under QEMU TCG (`qemu-system-x86_64`, multiboot through -kernel). */
export async function runQemu(image: Uint8Array, timeoutMs = 60_000): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kvm-ts-oracle-'));
  const kernel = join(dir, 'kernel.elf');
  writeFileSync(kernel, image);
  const args = ['-accel', 'tcg', '-nodefaults', '-display', 'none', '-no-reboot', '-m', '64'];
  args.push('-serial', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-kernel', kernel);
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk;
      });
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        const text = Buffer.concat(out).toString('latin1');
        // isa-debug-exit ends QEMU with (value << 1) | 1; the kernel writes 0. A triple fault ends it with 0.
        if (code !== 1 && code !== 0) reject(new Error(`qemu exited ${code}: ${stderr.trim()}\n${text}`));
        else resolve(text);
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** COM1 output of `image` on the emulator; a SHUTDOWN exit (triple fault) ends it as it ends QEMU. */
export function runEmulator(image: Uint8Array, maxExits = 5_000_000): string {
  const kvm = backend.open('qemu-oracle');
  try {
    const vm = kvm.createVm();
    const mem = vm.createMemory(RAM);
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(RAM), memory: mem });
    const { entry, segments } = bench.elfSegments(image);
    for (const s of segments) mem.bytes.set(s.data, s.paddr);
    const vcpu = vm.createVcpu(0) as EmulatorVcpu;
    vcpu.setCpuid2(kvm.getSupportedCpuid());
    const sregs = vcpu.getSregs();
    vcpu.setSregs(bench.enterMultibootState(sregs));
    const regs = vcpu.getRegs();
    regs.rip = BigInt(entry);
    regs.rax = 0x2badb002n;
    regs.rbx = 0x9000n;
    regs.rflags = 2n;
    vcpu.setRegs(regs);
    let text = '';
    for (let k = 0; k < maxExits; k++) {
      const exit = vcpu.run();
      if (vcpu.lastInternalError !== undefined) throw vcpu.lastInternalError;
      if (exit.reason === 'intr') continue;
      if (exit.reason === 'shutdown') return `${text}[shutdown]`;
      if (exit.reason !== 'io') return `${text}[${exit.reason} exit]`;
      if (exit.direction === 1) {
        if (exit.port === COM1) text += String.fromCharCode(exit.data[0]);
        else if (exit.port === EXIT_PORT) return text;
      } else {
        // LSR: transmitter empty. Other ports read as QEMU 7.2's unassigned ports do (measured here): all
        // ones for byte and word reads, zero for dword reads.
        exit.data.fill(exit.port === COM1 + 5 ? 0x60 : exit.size === 4 ? 0 : 0xff);
      }
    }
    return `${text}[no end after ${maxExits} exits]`;
  } finally {
    kvm.close();
  }
}
