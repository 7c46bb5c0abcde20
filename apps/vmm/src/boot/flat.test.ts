import { describe, expect, it } from 'vitest';
import { recordingVcpu } from '../../test/support/fake-vcpu.js';
import { Layout } from '../layout.js';
import { applyBootPlan } from './apply.js';
import { sregsFor } from './cpu-modes.js';
import { BootImageError } from './errors.js';
import { loadFlat } from './flat.js';

const ctx = { file: 'guest.bin', ramSize: 16 << 20 };
const image = Uint8Array.from([0xf4, 0x90, 0x90]);

function qword(bytes: Uint8Array, at: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(at, true);
}

describe('loadFlat', () => {
  it('enters a boot sector as a BIOS does: CS:IP 0000:7C00, DL = 0x80, no tables', () => {
    const plan = loadFlat(image, ctx);
    expect(plan.cpu).toEqual({ mode: 'real', entry: 0x7c00, regs: { rsp: 0x7c00n, rdx: 0x80n } });
    expect(plan.writes).toEqual([{ addr: 0x7c00, bytes: image, what: 'the image' }]);
    const vcpu = recordingVcpu();
    const ram = new Uint8Array(ctx.ramSize);
    applyBootPlan(plan, ram, vcpu, ctx.file);
    expect(vcpu.sregs?.cs).toMatchObject({ selector: 0, base: 0n, limit: 0xffff, type: 11 });
    expect(vcpu.sregs?.cr0 && vcpu.sregs.cr0 & 1n).toBe(0n);
    expect(vcpu.regs?.rip).toBe(0x7c00n);
    expect(vcpu.regs?.rflags).toBe(2n);
    expect(vcpu.regs?.rdx).toBe(0x80n);
    expect([...ram.subarray(0x7c00, 0x7c03)]).toEqual([0xf4, 0x90, 0x90]);
  });

  it('builds a flat 32-bit GDT for protected mode and loads at 1 MiB by default', () => {
    const plan = loadFlat(image, ctx, { mode: 'protected' });
    expect(plan.cpu.entry).toBe(0x100000);
    const gdt = plan.writes.find((w) => w.what === 'GDT');
    expect(gdt?.addr).toBe(Layout.BOOT_GDT);
    expect(qword(gdt!.bytes, 0x10)).toBe(0x00cf9b000000ffffn); // 32-bit code, 4 GiB, present
    expect(qword(gdt!.bytes, 0x18)).toBe(0x00cf93000000ffffn); // data, 4 GiB, read/write
    expect(plan.writes.some((w) => w.what === 'PML4')).toBe(false);
  });

  it('builds a 64-bit code segment and an identity map of the first 4 GiB for long mode', () => {
    const plan = loadFlat(image, ctx, { mode: 'long', loadAddr: 0x200000, entry: 0x200001 });
    expect(plan.cpu.entry).toBe(0x200001);
    const gdt = plan.writes.find((w) => w.what === 'GDT')!;
    expect(qword(gdt.bytes, 0x10)).toBe(0x00af9b000000ffffn); // L=1
    const pml4 = plan.writes.find((w) => w.what === 'PML4')!;
    expect(pml4.addr).toBe(Layout.PML4);
    expect(qword(pml4.bytes, 0)).toBe(BigInt(Layout.PDPT) | 3n);
    const pdpt = plan.writes.find((w) => w.what === 'PDPT')!;
    expect(qword(pdpt.bytes, 3 * 8)).toBe(BigInt(Layout.PD + 3 * 4096) | 3n);
    const pd = plan.writes.find((w) => w.what === 'page directories')!;
    expect(qword(pd.bytes, 0)).toBe(0x83n);
    expect(qword(pd.bytes, 5 * 8)).toBe((5n << 21n) | 0x83n);
    expect(qword(pd.bytes, 2047 * 8)).toBe((2047n << 21n) | 0x83n);
  });

  it('gives each mode the control registers it needs', () => {
    const base = recordingVcpu().getSregs();
    const prot = sregsFor('protected', base);
    expect(prot.cr0 & 0x80000001n).toBe(1n);
    expect(prot.cs).toMatchObject({ selector: 0x10, db: 1, l: 0, g: 1, limit: 0xffffffff });
    expect(prot.gdt).toEqual({ base: BigInt(Layout.BOOT_GDT), limit: 31 });
    const long = sregsFor('long', base);
    expect(long.cr0 & 0x80000001n).toBe(0x80000001n);
    expect(long.cr4 & 0x20n).toBe(0x20n);
    expect(long.efer).toBe(0x500n);
    expect(long.cr3).toBe(BigInt(Layout.PML4));
    expect(long.cs).toMatchObject({ selector: 0x10, l: 1, db: 0 });
    expect(long.ss).toMatchObject({ selector: 0x18, l: 0, db: 1 });
  });

  it('refuses an empty image, one past the end of RAM, and a real-mode entry above 64 KiB', () => {
    expect(() => loadFlat(new Uint8Array(0), ctx)).toThrow(/guest.bin: the image is empty/);
    const big = () => loadFlat(new Uint8Array(4096), ctx, { mode: 'long', loadAddr: ctx.ramSize - 100 });
    expect(big).toThrow(BootImageError);
    expect(big).toThrow(/guest.bin: the image at 0xffff9c-0x1000f9c lies outside guest RAM \(0-0x1000000\)/);
    try {
      loadFlat(image, ctx, { loadAddr: 0x20000 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BootImageError);
      expect((error as BootImageError).code).toBe('bad-option');
      expect((error as BootImageError).message).toMatch(/beyond CS:IP 0000:FFFF/);
    }
  });

  it('refuses a hand-built plan that writes outside RAM when applied', () => {
    const plan = {
      ...loadFlat(image, ctx),
      writes: [{ addr: 0x1ff0, bytes: new Uint8Array(32), what: 'overhang' }],
    };
    expect(() => applyBootPlan(plan, new Uint8Array(0x2000), recordingVcpu(), 'x.bin')).toThrow(
      /x.bin: overhang/,
    );
  });
});
