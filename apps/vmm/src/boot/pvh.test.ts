import { describe, expect, it } from 'vitest';
import { buildElf } from '../../test/support/elf-builder.js';
import { Layout } from '../layout.js';
import { BootImageError } from './errors.js';
import { HVM_START_MAGIC, loadPvh, StartInfo, XEN_ELFNOTE_PHYS32_ENTRY } from './pvh.js';

const ctx = { file: 'vmlinux', ramSize: 64 << 20 };

function entryNote(addr: number, size = 4) {
  const desc = new Uint8Array(size);
  if (size >= 4) new DataView(desc.buffer).setUint32(0, addr, true);
  return { name: 'Xen', type: XEN_ELFNOTE_PHYS32_ENTRY, desc };
}

const vmlinux = buildElf({
  bits: 64,
  entry: 0xffffffff81000000n,
  segments: [{ paddr: 0x1000000, vaddr: 0xffffffff81000000n, bytes: new Uint8Array(0x100), memsz: 0x2000 }],
  notes: [{ name: 'GNU', type: 3, desc: new Uint8Array(20) }, entryNote(0x1000080)],
});

describe('loadPvh', () => {
  it('enters the PVH note address in 32-bit protected mode with EBX = hvm_start_info', () => {
    const plan = loadPvh(vmlinux, ctx, { cmdline: 'console=ttyS0' });
    expect(plan.cpu).toEqual({
      mode: 'protected',
      entry: 0x1000080,
      regs: { rbx: BigInt(Layout.PVH_START_INFO), rsp: BigInt(Layout.BOOT_STACK_TOP) },
    });
    const info = plan.writes.find((w) => w.what === 'PVH start info')!;
    const view = new DataView(info.bytes.buffer);
    expect(view.getUint32(StartInfo.MAGIC, true)).toBe(HVM_START_MAGIC);
    expect(view.getUint32(StartInfo.VERSION, true)).toBe(1);
    expect(view.getBigUint64(StartInfo.CMDLINE_PADDR, true)).toBe(BigInt(Layout.CMDLINE));
    expect(view.getUint32(StartInfo.NR_MODULES, true)).toBe(0);
    expect(view.getUint32(StartInfo.MEMMAP_ENTRIES, true)).toBe(3);
    const memmap = Number(view.getBigUint64(StartInfo.MEMMAP_PADDR, true)) - Layout.PVH_START_INFO;
    expect(view.getBigUint64(memmap + 48, true)).toBe(0x100000n);
    expect(view.getUint32(memmap + 48 + 16, true)).toBe(1);
    expect(plan.zeros).toEqual([{ addr: 0x1000100, size: 0x1f00, what: 'ELF segment 0 bss' }]);
  });

  it('hands the initramfs over as module 0', () => {
    const plan = loadPvh(vmlinux, ctx, { initrd: new Uint8Array(5000) });
    const view = new DataView(plan.writes.find((w) => w.what === 'PVH start info')!.bytes.buffer);
    expect(view.getUint32(StartInfo.NR_MODULES, true)).toBe(1);
    const list = Number(view.getBigUint64(StartInfo.MODLIST_PADDR, true)) - Layout.PVH_START_INFO;
    const addr = Number(view.getBigUint64(list, true));
    expect(addr).toBe((64 << 20) - 8192);
    expect(view.getBigUint64(list + 8, true)).toBe(5000n);
    expect(plan.writes.find((w) => w.what === 'initramfs')?.addr).toBe(addr);
  });

  it('refuses an ELF without a PVH note, and a truncated note', () => {
    const plain = buildElf({
      bits: 64,
      entry: 0x100000,
      segments: [{ paddr: 0x100000, bytes: new Uint8Array(16) }],
    });
    expect(() => loadPvh(plain, ctx)).toThrow(
      /^vmlinux: the ELF file has no PVH entry \(Xen ELF note 0x12\)$/,
    );
    const short = buildElf({
      bits: 64,
      entry: 0x100000,
      segments: [{ paddr: 0x100000, bytes: new Uint8Array(16) }],
      notes: [entryNote(0, 2)],
    });
    expect(() => loadPvh(short, ctx)).toThrow(BootImageError);
    expect(() => loadPvh(short, ctx)).toThrow(/shorter than 4 bytes/);
  });
});
