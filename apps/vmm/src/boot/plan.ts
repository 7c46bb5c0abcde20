/**
 * What a loader produces: the bytes to put in guest memory and the vCPU state to start from. Loaders are pure
 * functions of the image; `applyBootPlan` (apply.ts) is the only place that touches a VM.
 */

/** The CPU mode an image is entered in. */
export type CpuMode = 'real' | 'protected' | 'long';

/** One block of bytes for guest-physical address `addr`; `what` names it in error messages and traces. */
export interface MemoryWrite {
  readonly addr: number;
  readonly bytes: Uint8Array;
  readonly what: string;
}

/** A guest-physical range that must read as zero (an ELF segment's bss, an a.out kludge's bss). */
export interface MemoryZero {
  readonly addr: number;
  readonly size: number;
  readonly what: string;
}

/** General-purpose registers an entry convention sets (the rest start at zero). */
export interface EntryRegisters {
  rax?: bigint;
  rbx?: bigint;
  rsi?: bigint;
  rsp?: bigint;
  rdx?: bigint;
}

/** The initial vCPU state: mode, entry point, and the registers the boot protocol defines. */
export interface EntryState {
  readonly mode: CpuMode;
  /** Guest-physical entry address (CS base 0, so also RIP/IP). */
  readonly entry: number;
  readonly regs: EntryRegisters;
}

/** A loader's whole result. */
export interface BootPlan {
  /** The format that was loaded, for messages (`'bzimage'`, `'multiboot'`, ...). */
  readonly format: string;
  readonly writes: readonly MemoryWrite[];
  readonly zeros: readonly MemoryZero[];
  readonly cpu: EntryState;
}

/** The inputs every loader shares. */
export interface LoadContext {
  /** Name of the image, used in every error message. */
  readonly file: string;
  /** Guest RAM size in bytes; RAM is one block from address 0. */
  readonly ramSize: number;
  /** Processors the machine has (1 when absent): Linux loaders describe them in the MP table. */
  readonly cpus?: number;
}
