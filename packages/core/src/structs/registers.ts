/**
 * The general-purpose registers, as `struct kvm_regs` (KVM_GET_REGS / KVM_SET_REGS). Every field is a 64-bit
 * value and so a `bigint`.
 */
export interface KvmRegs {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
}

/** The names of the fields of {@link KvmRegs}, in the order of `struct kvm_regs`. */
export const KVM_REGS_FIELDS = [
  'rax',
  'rbx',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'rsp',
  'rbp',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
  'rip',
  'rflags',
] as const satisfies readonly (keyof KvmRegs)[];

/**
 * A segment register with its hidden descriptor cache, as `struct kvm_segment`. KVM_SET_SREGS loads the cache
 * directly, so a guest can run with segments no GDT in memory describes (Intel SDM Vol. 3A 3.4.3).
 */
export interface KvmSegment {
  base: bigint;
  limit: number;
  selector: number;
  /** The descriptor's 4-bit type field (SDM Vol. 3A 3.4.5.1). */
  type: number;
  present: number;
  dpl: number;
  /** D/B: default operation size 32-bit. */
  db: number;
  /** S: 1 for code or data, 0 for a system segment. */
  s: number;
  /** L: 64-bit code segment. */
  l: number;
  /** G: limit in 4 KiB units. */
  g: number;
  avl: number;
  unusable: number;
}

/** A descriptor-table register (GDTR or IDTR), as `struct kvm_dtable`. */
export interface KvmDtable {
  base: bigint;
  limit: number;
}

/** Number of 64-bit words in `kvm_sregs.interrupt_bitmap` (256 interrupt vectors). */
export const KVM_NR_INTERRUPTS_WORDS = 4;

/**
 * The special registers, as `struct kvm_sregs` (KVM_GET_SREGS / KVM_SET_SREGS): segments with their caches,
 * descriptor tables, control registers, EFER and the APIC base. `interruptBitmap` has one bit per vector of an
 * external interrupt pending injection (at most one bit is set; only without an in-kernel irqchip).
 */
export interface KvmSregs {
  cs: KvmSegment;
  ds: KvmSegment;
  es: KvmSegment;
  fs: KvmSegment;
  gs: KvmSegment;
  ss: KvmSegment;
  tr: KvmSegment;
  ldt: KvmSegment;
  gdt: KvmDtable;
  idt: KvmDtable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apicBase: bigint;
  /** Four 64-bit words, 256 bits. */
  interruptBitmap: bigint[];
}

/**
 * The x87 and SSE state, as `struct kvm_fpu` (KVM_GET_FPU / KVM_SET_FPU): the legacy FXSAVE layout without
 * its reserved parts.
 */
export interface KvmFpu {
  /** Eight 16-byte slots, each holding an 80-bit x87 or 64-bit MMX register in its low bytes. */
  fpr: Uint8Array[];
  fcw: number;
  fsw: number;
  /** The abridged tag word of FXSAVE: one bit per register, 1 for valid. */
  ftwx: number;
  lastOpcode: number;
  lastIp: bigint;
  lastDp: bigint;
  /** Sixteen 16-byte XMM registers. */
  xmm: Uint8Array[];
  mxcsr: number;
}

/** Size in bytes of `struct kvm_xsave` (the legacy 4 KiB XSAVE area). */
export const KVM_XSAVE_SIZE = 4096;

/**
 * The XSAVE area, as `struct kvm_xsave` (KVM_GET_XSAVE / KVM_SET_XSAVE): the standard (non-compacted) XSAVE
 * layout of SDM Vol. 1 13.4, 4096 bytes.
 */
export interface KvmXsave {
  region: Uint8Array;
}

/** One extended control register, as `struct kvm_xcr`. */
export interface KvmXcr {
  xcr: number;
  value: bigint;
}

/** Most XCRs `struct kvm_xcrs` carries (KVM_MAX_XCRS). */
export const KVM_MAX_XCRS = 16;

/** The extended control registers, as `struct kvm_xcrs` (KVM_GET_XCRS / KVM_SET_XCRS); XCR0 is the one that exists. */
export interface KvmXcrs {
  flags: number;
  xcrs: KvmXcr[];
}

/** The debug registers, as `struct kvm_debugregs` (KVM_GET_DEBUGREGS / KVM_SET_DEBUGREGS). */
export interface KvmDebugregs {
  /** DR0 to DR3. */
  db: bigint[];
  dr6: bigint;
  dr7: bigint;
  flags: bigint;
}
