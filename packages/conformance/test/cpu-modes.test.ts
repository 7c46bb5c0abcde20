import type { KvmSegment, KvmSregs } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import {
  CpuBit,
  entryRegs,
  longModeSregs,
  protectedModeSregs,
  realModeSregs,
} from '../src/setup/cpu-modes.js';

const resetSegment: KvmSegment = {
  base: 0xffff_0000n,
  limit: 0xffff,
  selector: 0xf000,
  type: 0xb,
  present: 1,
  dpl: 0,
  db: 0,
  s: 1,
  l: 0,
  g: 0,
  avl: 0,
  unusable: 0,
};
/** KVM's reset state (Intel SDM Vol. 3A table 9-1). */
const reset: KvmSregs = {
  cs: resetSegment,
  ds: { ...resetSegment, base: 0n, selector: 0, type: 3 },
  es: { ...resetSegment, base: 0n, selector: 0, type: 3 },
  fs: { ...resetSegment, base: 0n, selector: 0, type: 3 },
  gs: { ...resetSegment, base: 0n, selector: 0, type: 3 },
  ss: { ...resetSegment, base: 0n, selector: 0, type: 3 },
  tr: { ...resetSegment, base: 0n, selector: 0, type: 0xb, s: 0 },
  ldt: { ...resetSegment, base: 0n, selector: 0, type: 2, s: 0 },
  gdt: { base: 0n, limit: 0xffff },
  idt: { base: 0n, limit: 0xffff },
  cr0: 0x6000_0010n,
  cr2: 0n,
  cr3: 0n,
  cr4: 0n,
  cr8: 0n,
  efer: 0n,
  apicBase: 0xfee0_0900n,
  interruptBitmap: [0n, 0n, 0n, 0n],
};

describe('CPU mode set-ups', () => {
  it('real mode puts CS at base 0 and leaves PE and PG clear', () => {
    const s = realModeSregs({ ...reset, cr0: reset.cr0 | CpuBit.CR0_PE });
    expect(s.cs.base).toBe(0n);
    expect(s.cs.selector).toBe(0);
    expect(s.cs.db).toBe(0);
    expect(s.cr0 & (CpuBit.CR0_PE | CpuBit.CR0_PG)).toBe(0n);
    expect(s.tr).toEqual(reset.tr);
  });

  it('protected mode loads flat 32-bit segments and sets PE only', () => {
    const s = protectedModeSregs(reset);
    for (const seg of [s.cs, s.ds, s.ss]) {
      expect(seg).toMatchObject({ base: 0n, limit: 0xffff_ffff, db: 1, g: 1, present: 1, s: 1, l: 0 });
    }
    expect(s.cs.type & 0x8).toBe(0x8);
    expect(s.ds.type & 0x8).toBe(0);
    expect(s.cr0 & CpuBit.CR0_PE).toBe(CpuBit.CR0_PE);
    expect(s.cr0 & CpuBit.CR0_PG).toBe(0n);
    expect(s.efer).toBe(0n);
  });

  it('long mode sets CR0.PE|PG, CR4.PAE, EFER.LME|LMA, CR3 and a 64-bit CS (L=1, D=0)', () => {
    const s = longModeSregs(reset, 0x10000);
    expect(s.cr0 & (CpuBit.CR0_PE | CpuBit.CR0_PG)).toBe(CpuBit.CR0_PE | CpuBit.CR0_PG);
    expect(s.cr4 & CpuBit.CR4_PAE).toBe(CpuBit.CR4_PAE);
    expect(s.efer).toBe(CpuBit.EFER_LME | CpuBit.EFER_LMA);
    expect(s.cr3).toBe(0x10000n);
    expect(s.cs.l).toBe(1);
    expect(s.cs.db).toBe(0);
    expect(s.ss.db).toBe(1);
  });

  it('entry registers start at the entry point with only the fixed RFLAGS bit', () => {
    const r = entryRegs(0x1000);
    expect(r.rip).toBe(0x1000n);
    expect(r.rflags).toBe(2n);
    expect(r.rsp).toBe(0x8000n);
    expect(r.rax).toBe(0n);
  });
});
