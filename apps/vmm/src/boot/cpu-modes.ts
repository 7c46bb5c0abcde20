import type { KvmSegment, KvmSregs } from '@kvm-ts/core';
import { Layout } from '../layout.js';
import type { CpuMode, MemoryWrite } from './plan.js';

/** Selectors in the VMM's GDT; 0x10 and 0x18 are the ones the Linux boot protocol names __BOOT_CS/__BOOT_DS. */
export const Selector = {
  CODE: 0x10,
  DATA: 0x18,
} as const;

/** Control-register and EFER bits the VMM sets (Intel SDM Vol. 3A 2.5, 2.2.1). */
const CR0_PE = 0x1n;
const CR0_ET = 0x10n;
const CR0_PG = 0x8000_0000n;
const CR4_PAE = 0x20n;
const EFER_LME = 0x100n;
const EFER_LMA = 0x400n;

/** Page-table entry bits: present, writable, page size (2 MiB in a PD). */
const PTE_PRESENT = 0x1n;
const PTE_WRITE = 0x2n;
const PTE_HUGE = 0x80n;

/** How many page directories the identity map has: each maps 1 GiB. */
const IDENTITY_MAP_GIB = 4;

/** Descriptor access bytes: present, DPL 0, code/data, and the type (execute/read accessed, read/write accessed). */
const CODE_TYPE = 0xb;
const DATA_TYPE = 0x3;

/** Encodes one flat 8-byte GDT descriptor (SDM Vol. 3A 3.4.5). */
function descriptor(type: number, long: boolean): bigint {
  const limit = 0xfffffn;
  const access = BigInt(0x90 | type); // P=1, DPL=0, S=1
  const flags = long ? 0xan : 0xcn; // G=1 and L=1 (64-bit code) or D/B=1 (32-bit)
  return (limit & 0xffffn) | (access << 40n) | (((limit >> 16n) & 0xfn) << 48n) | (flags << 52n);
}

/** The GDT for `mode`: null, unused, code, data. */
export function gdtFor(mode: 'protected' | 'long'): MemoryWrite {
  const table = [0n, 0n, descriptor(CODE_TYPE, mode === 'long'), descriptor(DATA_TYPE, false)];
  const bytes = new Uint8Array(table.length * 8);
  const view = new DataView(bytes.buffer);
  table.forEach((entry, i) => {
    view.setBigUint64(i * 8, entry, true);
  });
  return { addr: Layout.BOOT_GDT, bytes, what: 'GDT' };
}

/** Identity page tables for the first 4 GiB with 2 MiB pages: PML4, PDPT and four page directories. */
export function identityPageTables(): MemoryWrite[] {
  const pml4 = new Uint8Array(4096);
  const pdpt = new Uint8Array(4096);
  const pd = new Uint8Array(4096 * IDENTITY_MAP_GIB);
  new DataView(pml4.buffer).setBigUint64(0, BigInt(Layout.PDPT) | PTE_PRESENT | PTE_WRITE, true);
  const pdptView = new DataView(pdpt.buffer);
  const pdView = new DataView(pd.buffer);
  for (let gib = 0; gib < IDENTITY_MAP_GIB; gib++) {
    pdptView.setBigUint64(gib * 8, BigInt(Layout.PD + gib * 4096) | PTE_PRESENT | PTE_WRITE, true);
  }
  for (let i = 0; i < 512 * IDENTITY_MAP_GIB; i++) {
    pdView.setBigUint64(i * 8, (BigInt(i) << 21n) | PTE_PRESENT | PTE_WRITE | PTE_HUGE, true);
  }
  return [
    { addr: Layout.PML4, bytes: pml4, what: 'PML4' },
    { addr: Layout.PDPT, bytes: pdpt, what: 'PDPT' },
    { addr: Layout.PD, bytes: pd, what: 'page directories' },
  ];
}

/** The tables a mode needs in guest memory before the vCPU starts in it. */
export function modeTables(mode: CpuMode): MemoryWrite[] {
  if (mode === 'real') return [];
  if (mode === 'protected') return [gdtFor('protected')];
  return [gdtFor('long'), ...identityPageTables()];
}

function segment(selector: number, type: number, mode: CpuMode, code: boolean): KvmSegment {
  if (mode === 'real') {
    return {
      base: 0n,
      limit: 0xffff,
      selector: 0,
      type,
      present: 1,
      dpl: 0,
      db: 0,
      s: 1,
      l: 0,
      g: 0,
      avl: 0,
      unusable: 0,
    };
  }
  const long = mode === 'long' && code;
  return {
    base: 0n,
    limit: 0xffff_ffff,
    selector,
    type,
    present: 1,
    dpl: 0,
    db: long ? 0 : 1,
    s: 1,
    l: long ? 1 : 0,
    g: 1,
    avl: 0,
    unusable: 0,
  };
}

/**
 * The special registers for entering `mode`, starting from the vCPU's reset state `base` (which keeps TR, LDT,
 * the APIC base and the reset CR0 cache bits). Real mode is CS:IP = 0000:entry as a BIOS leaves a boot sector;
 * protected mode is flat with paging off (multiboot, PVH); long mode uses the identity map (Linux 64-bit boot).
 */
export function sregsFor(mode: CpuMode, base: KvmSregs): KvmSregs {
  const code = segment(Selector.CODE, CODE_TYPE, mode, true);
  const data = segment(Selector.DATA, DATA_TYPE, mode, false);
  const sregs: KvmSregs = {
    ...base,
    cs: code,
    ds: { ...data },
    es: { ...data },
    fs: { ...data },
    gs: { ...data },
    ss: { ...data },
  };
  if (mode === 'real') {
    sregs.cr0 = base.cr0 & ~(CR0_PE | CR0_PG);
    return sregs;
  }
  sregs.gdt = { base: BigInt(Layout.BOOT_GDT), limit: 4 * 8 - 1 };
  sregs.idt = { base: 0n, limit: 0 };
  // Caching left as at reset would be slow on some hosts; Linux and multiboot expect CD/NW clear.
  sregs.cr0 = CR0_PE | CR0_ET;
  if (mode === 'long') {
    sregs.cr0 |= CR0_PG;
    sregs.cr3 = BigInt(Layout.PML4);
    sregs.cr4 = CR4_PAE;
    sregs.efer = EFER_LME | EFER_LMA;
  } else {
    sregs.cr3 = 0n;
    sregs.cr4 = 0n;
    sregs.efer = 0n;
  }
  return sregs;
}
