import { describe, expect, it } from 'vitest';
import { buildElf, multibootHeader } from '../../test/support/elf-builder.js';
import { Layout } from '../layout.js';
import { BootImageError } from './errors.js';
import { loadMultiboot, MULTIBOOT_BOOTLOADER_MAGIC } from './multiboot.js';

const ctx = { file: 'kernel.mb', ramSize: 32 << 20 };

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function u32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);
}

describe('loadMultiboot', () => {
  const text = concat(multibootHeader(0x3), Uint8Array.from([0xfa, 0xf4]));
  const elf = buildElf({
    bits: 32,
    entry: 0x10000c,
    segments: [{ paddr: 0x100000, bytes: text, memsz: 0x3000 }],
  });

  it('enters in 32-bit protected mode with EAX = 0x2BADB002 and EBX = the information structure', () => {
    const plan = loadMultiboot(elf, ctx);
    expect(plan.cpu.mode).toBe('protected');
    expect(plan.cpu.entry).toBe(0x10000c);
    expect(plan.cpu.regs.rax).toBe(BigInt(MULTIBOOT_BOOTLOADER_MAGIC));
    expect(plan.cpu.regs.rbx).toBe(BigInt(Layout.MULTIBOOT_INFO));
  });

  it('fills memory sizes, the memory map, the command line, modules and the loader name', () => {
    const module = Uint8Array.from([1, 2, 3]);
    const plan = loadMultiboot(elf, ctx, {
      cmdline: 'verbose=1',
      modules: [{ name: 'initrd.img', bytes: module }],
    });
    const info = plan.writes.find((w) => w.what === 'multiboot information')!.bytes;
    const flags = u32(info, 0);
    expect(flags).toBe((1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
    expect(u32(info, 4)).toBe(639);
    expect(u32(info, 8)).toBe(31 * 1024);
    expect(u32(info, 16)).toBe(Layout.CMDLINE);
    expect(new TextDecoder().decode(plan.writes.find((w) => w.what === 'command line')!.bytes)).toBe(
      'verbose=1\0',
    );
    // Memory map: three 24-byte entries whose size fields are 20.
    expect(u32(info, 44)).toBe(72);
    const mmap = u32(info, 48) - Layout.MULTIBOOT_INFO;
    expect(u32(info, mmap)).toBe(20);
    expect(u32(info, mmap + 4 + 8)).toBe(0x9fc00);
    expect(u32(info, mmap + 24 + 20)).toBe(2);
    expect(u32(info, mmap + 48 + 4)).toBe(0x100000);
    expect(u32(info, mmap + 48 + 12)).toBe((32 << 20) - 0x100000);
    // Modules, page-aligned after the kernel's bss (flag bit 0).
    expect(u32(info, 20)).toBe(1);
    const mods = u32(info, 24) - Layout.MULTIBOOT_INFO;
    expect(u32(info, mods)).toBe(0x103000);
    expect(u32(info, mods + 4)).toBe(0x103003);
    const written = plan.writes.find((w) => w.what === 'module initrd.img')!;
    expect(written.addr).toBe(0x103000);
    const strings = plan.writes.find((w) => w.what === 'boot strings')!;
    const name = (addr: number) => {
      const start = addr - strings.addr;
      return new TextDecoder().decode(strings.bytes.subarray(start, strings.bytes.indexOf(0, start)));
    };
    expect(name(u32(info, 64))).toBe('kvm-ts');
    expect(name(u32(info, mods + 8))).toBe('initrd.img');
  });

  it('loads an a.out-kludge kernel from the header addresses, with its bss', () => {
    const header = multibootHeader(0x10003, [0x100000, 0x100000, 0, 0x105000, 0x100020]);
    const image = concat(header, new Uint8Array(0x40).fill(0x90));
    const plan = loadMultiboot(image, ctx);
    const kernel = plan.writes.find((w) => w.what === 'the kernel')!;
    expect(kernel.addr).toBe(0x100000);
    expect(kernel.bytes.length).toBe(image.length);
    expect(plan.zeros).toEqual([{ addr: 0x100000 + image.length, size: 0x5000 - image.length, what: 'bss' }]);
    expect(plan.cpu.entry).toBe(0x100020);
  });

  it('names the file and the problem for malformed kernels', () => {
    const expectProblem = (image: Uint8Array, code: string, message: RegExp) => {
      try {
        loadMultiboot(image, ctx);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(BootImageError);
        expect((error as BootImageError).code).toBe(code);
        expect((error as BootImageError).message).toMatch(message);
      }
    };
    expectProblem(new Uint8Array(64), 'bad-magic', /^kernel.mb: no multiboot header/);
    const badSum = multibootHeader(0x3);
    badSum[8] ^= 1;
    expectProblem(concat(badSum, new Uint8Array(16)), 'bad-magic', /no multiboot header/);
    expectProblem(concat(multibootHeader(0x8), new Uint8Array(16)), 'unsupported', /requires features 0x8/);
    expectProblem(
      concat(multibootHeader(0x3), new Uint8Array(16)),
      'unsupported',
      /neither ELF nor flagged a.out kludge/,
    );
    const beyond = multibootHeader(0x10000, [0x3000000, 0x3000000, 0, 0, 0x3000000]);
    expectProblem(concat(beyond, new Uint8Array(16)), 'outside-ram', /the multiboot kernel at 0x3000000/);
    const short = multibootHeader(0x10000, [0x100000, 0x100000, 0x200000, 0, 0x100000]);
    expectProblem(concat(short, new Uint8Array(16)), 'truncated', /the multiboot text and data/);
  });
});
