import type { KvmRegs, KvmSegment, KvmSregs } from '@kvm-ts/core';
import { Layout } from '../layout.js';

/** Control-register and EFER bits the mode set-ups use (Intel SDM Vol. 3A 2.5, AMD APM Vol. 2 3.1.7). */
export const CpuBit = {
  CR0_PE: 1n,
  CR0_ET: 0x10n,
  CR0_PG: 0x8000_0000n,
  CR4_PAE: 0x20n,
  EFER_LME: 0x100n,
  EFER_LMA: 0x400n,
  /** RFLAGS bit 1 is always 1. */
  RFLAGS_FIXED: 0x2n,
  RFLAGS_IF: 0x200n,
} as const;

/** The CPU modes the conformance guests run in. */
export type CpuMode = 'real' | 'protected' | 'long';

/** Segment type field values (SDM Vol. 3A 3.4.5.1). */
const CODE_EXECUTE_READ_ACCESSED = 0xb;
const DATA_READ_WRITE_ACCESSED = 0x3;

function segment(base: bigint, limit: number, selector: number, type: number, flags: Partial<KvmSegment>) {
  return {
    base,
    limit,
    selector,
    type,
    present: 1,
    dpl: 0,
    db: 0,
    s: 1,
    l: 0,
    g: 0,
    avl: 0,
    unusable: 0,
    ...flags,
  } satisfies KvmSegment;
}

/** CS from `code`, and every data segment (DS, ES, FS, GS, SS) from `data`: the layout each mode here uses. */
function flatSegments(
  code: KvmSegment,
  data: KvmSegment,
): Pick<KvmSregs, 'cs' | 'ds' | 'es' | 'fs' | 'gs' | 'ss'> {
  return { cs: code, ds: data, es: data, fs: data, gs: data, ss: data };
}

/**
 * Real mode with every segment at base 0 and a 64 KiB limit, so code assembled with `org LOAD_ADDR` runs
 * at CS:IP = 0:LOAD_ADDR. Keeps CR0 as KVM's reset left it apart from PE and PG.
 */
export function realModeSregs(sregs: KvmSregs): KvmSregs {
  const code = segment(0n, 0xffff, 0, CODE_EXECUTE_READ_ACCESSED, {});
  const data = segment(0n, 0xffff, 0, DATA_READ_WRITE_ACCESSED, {});
  return {
    ...sregs,
    ...flatSegments(code, data),
    cr0: sregs.cr0 & ~(CpuBit.CR0_PE | CpuBit.CR0_PG),
  };
}

/**
 * 32-bit protected mode with flat 4 GiB segments loaded straight into the segment caches (KVM_SET_SREGS
 * does not read a GDT; SDM Vol. 3A 3.4.3), paging off. Selectors 0x08 (code) and 0x10 (data) are nominal.
 */
export function protectedModeSregs(sregs: KvmSregs): KvmSregs {
  const code = segment(0n, 0xffff_ffff, 0x08, CODE_EXECUTE_READ_ACCESSED, { db: 1, g: 1 });
  const data = segment(0n, 0xffff_ffff, 0x10, DATA_READ_WRITE_ACCESSED, { db: 1, g: 1 });
  return {
    ...sregs,
    ...flatSegments(code, data),
    cr0: (sregs.cr0 | CpuBit.CR0_PE | CpuBit.CR0_ET) & ~CpuBit.CR0_PG,
  };
}

/**
 * 64-bit long mode (AMD APM Vol. 2 14.6, SDM Vol. 3A 9.8.5): CR0.PE|PG, CR4.PAE, EFER.LME|LMA, CR3 at the
 * tables `writeIdentityPageTables` wrote, a 64-bit code segment (L=1, D=0). KVM accepts EFER.LME only when
 * the vCPU's CPUID has long mode: call `setCpuid2(kvm.getSupportedCpuid())` before `setSregs`.
 */
export function longModeSregs(sregs: KvmSregs, cr3: number): KvmSregs {
  const code = segment(0n, 0xffff_ffff, 0x08, CODE_EXECUTE_READ_ACCESSED, { l: 1, g: 1 });
  const data = segment(0n, 0xffff_ffff, 0x10, DATA_READ_WRITE_ACCESSED, { db: 1, g: 1 });
  return {
    ...sregs,
    ...flatSegments(code, data),
    cr0: sregs.cr0 | CpuBit.CR0_PE | CpuBit.CR0_ET | CpuBit.CR0_PG,
    cr3: BigInt(cr3),
    cr4: sregs.cr4 | CpuBit.CR4_PAE,
    efer: sregs.efer | CpuBit.EFER_LME | CpuBit.EFER_LMA,
  };
}

/** General-purpose registers to start a guest: everything zero, RIP at `entry`, the stack at STACK_TOP. */
export function entryRegs(entry: number): KvmRegs {
  return {
    rax: 0n,
    rbx: 0n,
    rcx: 0n,
    rdx: 0n,
    rsi: 0n,
    rdi: 0n,
    rsp: BigInt(Layout.STACK_TOP),
    rbp: 0n,
    r8: 0n,
    r9: 0n,
    r10: 0n,
    r11: 0n,
    r12: 0n,
    r13: 0n,
    r14: 0n,
    r15: 0n,
    rip: BigInt(entry),
    rflags: CpuBit.RFLAGS_FIXED,
  };
}
