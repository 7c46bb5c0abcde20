import { describe, expect, it } from 'vitest';
import { buildBzImage } from '../../test/support/bzimage-builder.js';
import { Layout } from '../layout.js';
import { loadBzImage, SetupHeader, ZeroPage } from './bzimage.js';
import { BootImageError } from './errors.js';

const ctx = { file: 'vmlinuz', ramSize: 128 << 20 };

function zeroPageOf(plan: ReturnType<typeof loadBzImage>): DataView {
  const zp = plan.writes.find((w) => w.what === 'zero page')!;
  expect(zp.addr).toBe(Layout.ZERO_PAGE);
  return new DataView(zp.bytes.buffer, zp.bytes.byteOffset, zp.bytes.byteLength);
}

describe('loadBzImage', () => {
  it('loads the protected-mode kernel at pref_address and enters its 64-bit entry with RSI = zero page', () => {
    const image = buildBzImage();
    const plan = loadBzImage(image, ctx, { cmdline: 'console=ttyS0' });
    const kernel = plan.writes.find((w) => w.what === 'the kernel')!;
    expect(kernel.addr).toBe(0x1000000);
    expect(kernel.bytes.length).toBe(4096);
    expect(kernel.bytes[5]).toBe(5);
    expect(plan.cpu).toEqual({
      mode: 'long',
      entry: 0x1000200,
      regs: { rsi: BigInt(Layout.ZERO_PAGE), rsp: BigInt(Layout.BOOT_STACK_TOP) },
    });
    expect(plan.format).toBe('bzimage (boot protocol 2.15)');
  });

  it('fills the zero page: setup header, loader type, command line, e820 map', () => {
    const image = buildBzImage();
    const plan = loadBzImage(image, ctx, { cmdline: 'console=ttyS0 panic=-1' });
    const zp = zeroPageOf(plan);
    expect(zp.getUint32(SetupHeader.HEADER, true)).toBe(0x53726448);
    expect(zp.getUint16(SetupHeader.VERSION, true)).toBe(0x020f);
    expect(zp.getBigUint64(SetupHeader.PREF_ADDRESS, true)).toBe(0x1000000n);
    expect(zp.getUint8(SetupHeader.TYPE_OF_LOADER)).toBe(0xff);
    expect(zp.getUint32(SetupHeader.CMD_LINE_PTR, true)).toBe(Layout.CMDLINE);
    const cmdline = plan.writes.find((w) => w.what === 'command line')!;
    expect(new TextDecoder().decode(cmdline.bytes)).toBe('console=ttyS0 panic=-1\0');
    expect(zp.getUint8(ZeroPage.E820_ENTRIES)).toBe(3);
    const entry = (i: number) => {
      const at = ZeroPage.E820_TABLE + i * 20;
      return [zp.getBigUint64(at, true), zp.getBigUint64(at + 8, true), zp.getUint32(at + 16, true)];
    };
    expect(entry(0)).toEqual([0n, 0x9fc00n, 1]);
    expect(entry(1)).toEqual([0x9fc00n, 0x100000n - 0x9fc00n, 2]);
    expect(entry(2)).toEqual([0x100000n, BigInt((128 << 20) - 0x100000), 1]);
    expect(zp.getUint32(SetupHeader.RAMDISK_IMAGE, true)).toBe(0);
  });

  it('places the initramfs page-aligned at the top of RAM below initrd_addr_max', () => {
    const initrd = new Uint8Array(10000).fill(7);
    const plan = loadBzImage(buildBzImage(), ctx, { initrd });
    const zp = zeroPageOf(plan);
    const addr = zp.getUint32(SetupHeader.RAMDISK_IMAGE, true);
    expect(addr).toBe((128 << 20) - 12288);
    expect(zp.getUint32(SetupHeader.RAMDISK_SIZE, true)).toBe(10000);
    expect(plan.writes.find((w) => w.what === 'initramfs')?.addr).toBe(addr);
    const capped = loadBzImage(
      buildBzImage({ initrdAddrMax: 0x37ffffff }),
      { ...ctx, ramSize: 2048 * 1024 * 1024 },
      { initrd },
    );
    expect(zeroPageOf(capped).getUint32(SetupHeader.RAMDISK_IMAGE, true)).toBe(0x38000000 - 12288);
  });

  it('falls back to a low aligned address when a relocatable kernel does not fit at pref_address', () => {
    const plan = loadBzImage(buildBzImage({ initSize: 0x1000000 }), { ...ctx, ramSize: 24 << 20 });
    expect(plan.writes.find((w) => w.what === 'the kernel')?.addr).toBe(0x200000);
  });

  it('names the file and the problem for malformed kernels', () => {
    const cases: [Uint8Array, string, RegExp, object?][] = [
      [buildBzImage().subarray(0, 0x220), 'truncated', /^vmlinuz: truncated: the bzImage setup header/],
      [buildBzImage({ bootFlag: 0 }), 'bad-magic', /no boot flag 0xAA55/],
      [buildBzImage({ magic: 0x12345678 }), 'bad-magic', /no "HdrS"/],
      [buildBzImage({ version: 0x020b }), 'unsupported', /boot protocol 2.11 is older than 2.12/],
      [buildBzImage({ xloadflags: 0 }), 'unsupported', /no 64-bit entry/],
      [buildBzImage({ loadflags: 0 }), 'unsupported', /zImage/],
      [buildBzImage().subarray(0, 5 * 512 + 100), 'truncated', /protected-mode kernel/],
      [buildBzImage({ initSize: 0x10000000, relocatable: 0 }), 'outside-ram', /init_size.*--mem/],
      [
        buildBzImage({ cmdlineSize: 8 }),
        'bad-option',
        /command line is 13 bytes; this kernel takes at most 8/,
        { cmdline: 'console=ttyS0' },
      ],
    ];
    for (const [image, code, message, options] of cases) {
      try {
        loadBzImage(image, ctx, options ?? {});
        expect.unreachable(`expected ${code}`);
      } catch (error) {
        expect(error).toBeInstanceOf(BootImageError);
        expect((error as BootImageError).code).toBe(code);
        expect((error as BootImageError).message).toMatch(message);
      }
    }
    try {
      loadBzImage(
        buildBzImage(),
        { ...ctx, ramSize: 32 << 20 },
        { initrd: new Uint8Array(20 << 20), initrdFile: 'big.cpio' },
      );
      expect.unreachable();
    } catch (error) {
      expect((error as BootImageError).message).toMatch(
        /^big.cpio: the initramfs \(20971520 bytes\) does not fit/,
      );
    }
  });
});
