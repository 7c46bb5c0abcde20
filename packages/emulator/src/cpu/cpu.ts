/**
 * One emulated x86-64 CPU and its run loop. The inner loop fetches a decoded instruction (cached by physical
 * address), calls its handler from the dispatch table and commits RIP; it runs a fixed slice of instructions
 * and leaves only when a handler sets `stop`. Faults, interrupts, single-stepping and breakpoints are handled
 * outside it, on the cold path, so the common instruction costs one fetch, one call and one check.
 */
import type { KvmCpuidEntry2 } from '@kvm-ts/core';
import { holdMutable } from '../hidden-classes.js';
import type { SlotTable } from '../memory/slots.js';
import { type Block, buildBlock, HOT } from './blocks.js';
import type { Insn } from './decode.js';
import { dispatch } from './dispatch.js';
import { deliver, deliverFault, Source, Vector } from './exceptions.js';
import { getFlags, setFlags } from './flags.js';
import { hostNow } from './host-clock.js';
import { BLOCK_HEAT, type CodeCache, type CodePage } from './insn-cache.js';
import { CpuExit, MmuState, tlbIndex } from './mmu.js';
import { syncMode } from './segments.js';
import { CodeMode, Flag, Seg, Stop } from './state.js';
import type { CpuArea } from './wasm/layout.js';
import { WASM_HOT, WASM_URGENT } from './wasm/tier.js';
import { collectWasmBlocks, hurryWasmBlocks, requestWasmBlock } from './wasm/wasm-block.js';

/** A code page with no instructions: the run loop's "no current page" (the same array shape as a real one). */
const NO_PAGE: (Insn | undefined)[] = new Array(4096).fill(undefined);

/** Instructions the inner loop runs between checks of the run budget. */
const SLICE = 4096;

/**
 * The in-kernel devices as the CPU sees them (KVM_CREATE_IRQCHIP's local APIC, the VM's virtual clock). The
 * backend implements it; a CPU without one keeps CR8 itself and counts the TSC in retired instructions.
 */
export interface CpuDevices {
  /** The TSC before IA32_TSC's offset, from the VM's virtual clock. */
  tsc(): number;
  /** Whether the local APIC (or the PIC through it) has a maskable interrupt for the CPU. */
  hasInterrupt(): boolean;
  /** The interrupt acknowledge cycle: the vector to deliver, or -1. */
  acknowledge(): number;
  /** MOV from CR8: the TPR's priority class (SDM Vol. 3A 11.8.6.1). */
  getCr8(): number;
  /** MOV to CR8. */
  setCr8(value: number): void;
  /** IA32_APIC_BASE was written (the CPU checked its reserved bits). */
  apicBaseWritten(value: bigint): void;
  /** RDMSR of an APIC MSR (x2APIC 0x800-0x8ff, IA32_TSC_DEADLINE); undefined means #GP. */
  readApicMsr(index: number): bigint | undefined;
  /** WRMSR of an APIC MSR; false means #GP. */
  writeApicMsr(index: number, value: bigint): boolean;
  /**
   * IN from a port an in-kernel device decodes (the PICs, the PIT), answered without an exit as KVM answers it
   * in the kernel: the value, or -1 when no in-kernel device decodes `port` (the access exits to the VMM).
   */
  portIn(port: number, size: number): number;
  /**
   * OUT to a port an in-kernel device decodes; false when none does. A write may move a timer's deadline or
   * unmask an interrupt, so the CPU ends `execute` after it (`devicesWritten`).
   */
  portOut(port: number, size: number, value: number): boolean;
}

/** Guest-debug state set with KVM_SET_GUEST_DEBUG. */
export interface GuestDebugState {
  singleStep: boolean;
  hwBreakpoints: boolean;
  /** DR0-DR3 linear addresses and DR7 for the VMM's hardware breakpoints. */
  addr: Float64Array;
  dr7: number;
}

/** An x86-64 CPU: registers (state.ts), MMU (mmu.ts) and the loop that runs instructions. */
export class Cpu extends MmuState {
  /** The CPUID table set with KVM_SET_CPUID2. */
  cpuid: KvmCpuidEntry2[] = [];
  /** The PIO data page (`kvm_run` + `data_offset`). */
  readonly ioData = new Uint8Array(4096);
  ioDir = 0;
  ioSize = 0;
  ioPort = 0;
  ioCount = 0;
  /** Set by `run()` after an IO exit: the re-executed IN/OUT/INS completes it. */
  ioResume = false;

  swBreakpoints = false;
  readonly debug: GuestDebugState = {
    singleStep: false,
    hwBreakpoints: false,
    addr: new Float64Array(4),
    dr7: 0,
  };
  /** A hardware breakpoint just reported at this linear address is skipped once (as RF would). */
  private skipBreakpointAt = Number.NaN;
  debugVector = 0;
  debugPc = 0;
  debugDr6 = 0;

  /** Whether the in-kernel irqchip exists (the backend turns a HLT exit into a wait inside KVM_RUN). */
  irqchip = false;
  /** `kvm_run.request_interrupt_window`. */
  requestWindow = false;
  /** The in-kernel devices (set by the backend; null on a bare CPU). */
  devices: CpuDevices | null = null;
  /**
   * An OUT went to an in-kernel device during this `execute` (io.ts): the run loop's budget ended at the next
   * timer deadline, which the write may have moved, so `execute` returns at the end of the slice and the
   * backend asks the devices again.
   */
  devicesWritten = false;

  constructor(mem: SlotTable, code: CodeCache, area: CpuArea | null = null) {
    super(mem, code, area);
    syncMode(this);
    holdMutable(this);
  }

  /** Blocks interrupts until the instruction after the current one has run (STI, MOV SS, POP SS). */
  startShadow(kind: number): void {
    this.shadowUntil = this.retired + 2;
    this.shadowKind = kind;
  }

  /** Whether an interrupt shadow is active at the current instruction boundary. */
  inShadow(): boolean {
    return this.retired < this.shadowUntil;
  }

  /** The linear address of `ip` in the code segment. */
  csBaseLinear(ip: number): number {
    return this.long64 ? ip : (this.segBase[Seg.CS] + ip) >>> 0;
  }

  /** Ends the run with a SHUTDOWN exit (triple fault). */
  shutdown(): void {
    this.exitKind = CpuExit.SHUTDOWN;
    this.stop |= Stop.EXIT | Stop.ABORT;
    this.stop &= ~Stop.FAULT;
  }

  /** Ends the run with a DEBUG exit for the VMM's debugger; the instruction does not retire. */
  debugExit(vector: number, pc: number, dr6 = 0xffff0ff0): void {
    this.debugVector = vector;
    this.debugPc = pc;
    this.debugDr6 = dr6;
    this.exitKind = CpuExit.DEBUG;
    this.stop |= Stop.EXIT | Stop.ABORT;
  }

  /** Whether interrupts can be taken now: IF set and no interrupt shadow. */
  interruptsAllowed(): boolean {
    return (this.flags & Flag.IF) !== 0 && !this.inShadow();
  }

  /** Whether the loop must check events at every boundary (slow, one instruction at a time). */
  private needsSlowPath(): boolean {
    return (
      this.pendingIrq >= 0 ||
      this.requestWindow ||
      this.nmiPending ||
      this.debug.singleStep ||
      this.debug.hwBreakpoints ||
      (this.flags & Flag.TF) !== 0 ||
      this.inShadow() ||
      // An interrupt from the in-kernel devices: checked once a slice; IF rising ends a slice (RESYNC).
      (this.devices !== null && (this.flags & Flag.IF) !== 0 && this.devices.hasInterrupt())
    );
  }

  /**
   * Events at an instruction boundary: NMI, an injected interrupt, the interrupt window. Returns true when the
   * run must end (an exit is set).
   */
  private boundary(): boolean {
    if (this.nmiPending && !this.nmiMasked && !this.inShadow()) {
      this.nmiPending = false;
      this.nmiMasked = true;
      this.halted = false;
      if (!deliver(this, Vector.NMI, -1, this.rip, Source.EXTERNAL)) return this.tripleFault();
    }
    if (this.pendingIrq >= 0 && this.interruptsAllowed()) {
      const v = this.pendingIrq;
      this.pendingIrq = -1;
      this.halted = false;
      if (!deliver(this, v, -1, this.rip, Source.EXTERNAL)) return this.tripleFault();
    }
    if (this.devices !== null && this.interruptsAllowed() && this.devices.hasInterrupt()) {
      const v = this.devices.acknowledge();
      if (v >= 0) {
        this.halted = false;
        if (!deliver(this, v, -1, this.rip, Source.EXTERNAL)) return this.tripleFault();
      }
    }
    if (this.requestWindow && this.pendingIrq < 0 && this.interruptsAllowed()) {
      this.exitKind = CpuExit.IRQ_WINDOW;
      return true;
    }
    if (this.debug.hwBreakpoints) {
      const lin = this.csBaseLinear(this.rip);
      if (lin !== this.skipBreakpointAt) {
        const dr7 = this.debug.dr7;
        for (let k = 0; k < 4; k++) {
          // Enabled (L or G), execution breakpoint (R/W = 00, LEN = 00).
          if (dr7 & (3 << (2 * k)) && ((dr7 >>> (16 + 4 * k)) & 0xf) === 0 && this.debug.addr[k] === lin) {
            this.skipBreakpointAt = lin;
            this.debugExit(Vector.DB, lin, 0xffff0ff0 | (1 << k));
            this.stop &= ~Stop.ABORT;
            this.stop &= ~Stop.EXIT;
            return true;
          }
        }
      }
      this.skipBreakpointAt = Number.NaN;
    }
    return false;
  }

  private tripleFault(): boolean {
    this.exitKind = CpuExit.SHUTDOWN;
    return true;
  }

  /**
   * Runs up to `budget` steps (instructions retired plus faults delivered). Returns with `exitKind` set when an exit happened, or CpuExit.NONE
   * when the budget ran out.
   */
  execute(budget: number, deadline = 0, kick: Int32Array | null = null): void {
    this.exitKind = CpuExit.NONE;
    this.stop = 0;
    // Fault deliveries count as steps too: a fault retires nothing, and a guest can fault in a loop.
    const end = this.retired + this.faultsDelivered + budget;
    while (this.retired + this.faultsDelivered < end) {
      // A wall-clock bound, checked once per slice: a long run returns INTR and the host's event loop goes on.
      if (deadline !== 0 && hostNow() > deadline) return;
      // Another thread (a Worker sharing the buffer) asked this run to stop: an INTR exit, as KVM's kick.
      if (kick !== null && Atomics.load(kick, 0) !== 0) return;
      if (this.devicesWritten) {
        this.devicesWritten = false;
        return;
      }
      // Blocks compiled on another thread since the last slice (wasm-block.ts's requestWasmBlock).
      collectWasmBlocks();
      // `| 0` keeps the loop counter an integer in V8 (a double counter costs a conversion check per instruction).
      let slice = Math.min(end - this.retired - this.faultsDelivered, SLICE) | 0;
      const slow = this.needsSlowPath();
      if (slow) {
        if (this.boundary()) return;
        slice = 1;
      }
      const tf = (this.flags & Flag.TF) !== 0;
      const mode = this.codeMode;
      const csBase = this.segBase[Seg.CS];
      const tags = this.tlbX;
      const pages = this.tlbCode;
      const generation = this.code.generation;
      // Compiled blocks run only when no instruction boundary needs checking (the slow path runs one at a time).
      const blocksOn = !slow;
      // The RIPs a block may span without wrapping (see Block.back).
      const ipLow = mode === CodeMode.M64 ? Number.NEGATIVE_INFINITY : 0;
      const ipHigh =
        mode === CodeMode.M64 ? Number.POSITIVE_INFINITY : mode === CodeMode.M32 ? 0xffffffff : 0xffff;
      // The last code page: straight-line code stays on one page, so most fetches skip the TLB probe. A slice
      // ends at every instruction that can change a translation it depends on (RESYNC), and a write into the
      // page empties entries of this same page, so it stays valid for the slice.
      // Outside 64-bit mode page numbers stay small integers (`curPage32`), so this path does no floating-point
      // rounding per instruction; 64-bit addresses need `Math.floor` (`curPage64`).
      let curPage32 = -1;
      let curPage64 = Number.NaN;
      let curInsns = NO_PAGE;
      let curPage: CodePage | null = null;
      // An instruction (run alone or as a block's last) set `stop`: it retires unless it aborted.
      let stopped = false;
      while (slice > 0) {
        const ip = this.rip;
        let lin: number;
        if (mode !== CodeMode.M64) {
          lin = (csBase + ip) >>> 0;
          const lpn = lin >>> 12;
          if (lpn !== curPage32) {
            const ix = tlbIndex(lpn);
            if (tags[ix] === lpn) {
              // The TLB probe of `fetch`, inlined: a code page executable here, compared with memory once a run.
              curPage32 = lpn;
              curPage = pages[ix];
              if (curPage.verified !== generation) curPage = this.verifiedCode(ix);
              curInsns = curPage.insns;
            } else {
              curPage32 = -1;
              curPage = null;
              curInsns = NO_PAGE;
            }
          }
        } else {
          lin = ip;
          const lpn = Math.floor(lin / 4096);
          if (lpn !== curPage64) {
            const ix = tlbIndex(lpn);
            if (tags[ix] === lpn) {
              curPage64 = lpn;
              curPage = pages[ix];
              if (curPage.verified !== generation) curPage = this.verifiedCode(ix);
              curInsns = curPage.insns;
            } else {
              curPage64 = Number.NaN;
              curPage = null;
              curInsns = NO_PAGE;
            }
          }
        }
        const o = lin & 4095;
        if (blocksOn && curPage !== null) {
          // Only an offset whose count holds BLOCK_HEAT looks a block up: most instructions the loop runs have
          // none, and the page's array of blocks (32 KiB) was a cache miss for each of them.
          const count = curPage.heat[o];
          const block = count === BLOCK_HEAT ? curPage.blocks[o] : undefined;
          if (block !== undefined) {
            if (block.mode === mode && ip - block.back >= ipLow && ip + block.reach <= ipHigh) {
              if (block.count <= slice) {
                const before = this.retired;
                block.run(this, before + slice);
                slice -= this.retired - before;
                if (this.stop === 0) continue;
                stopped = true;
                break;
              }
              // The block does not fit: end the slice early unless the budget itself ends here (then the
              // last instructions run one by one).
              if (end - this.retired - this.faultsDelivered > slice) break;
            }
          } else {
            // A count that reached BLOCK_HEAT with no block there starts again.
            const heat = count === BLOCK_HEAT ? 0 : count + 1;
            curPage.heat[o] = heat;
            if (heat === HOT || heat === WASM_HOT) {
              // WebAssembly first, for 64-bit code with an area (far fewer visits); JavaScript at HOT.
              let built: Block | null = null;
              if (heat !== WASM_HOT) built = buildBlock(curInsns, o, mode);
              else if (mode === CodeMode.M64 && this.area !== null)
                built = requestWasmBlock(curPage, o, this);
              if (built !== null) {
                curPage.addBlock(built);
                continue;
              }
            } else if (heat === WASM_URGENT) hurryWasmBlocks();
          }
        }
        let insn = curInsns[o];
        if (insn === undefined || insn.mode !== mode) {
          const fetched = this.fetch(lin);
          if (fetched === null) break;
          insn = fetched;
        }
        let next = ip + insn.len;
        if (mode !== CodeMode.M64) next = mode === CodeMode.M16 ? next & 0xffff : next >>> 0;
        this.nextIp = next;
        dispatch(this, insn);
        slice--;
        if (this.stop !== 0) {
          stopped = true;
          break;
        }
        this.rip = this.nextIp;
        this.retired++;
      }
      if (stopped && !(this.stop & Stop.ABORT)) {
        this.rip = this.nextIp;
        this.retired++;
      }
      if (this.stop === 0 && !slow) continue;
      if (this.settle(tf)) return;
    }
  }

  /**
   * The end of a slice that stopped, or that ran one instruction on the slow path (`stop` is 0 only then):
   * delivers a fault, reports an exit, or single-steps. Returns true when `execute` must return. Kept out of
   * `execute`, whose hot loop V8 would otherwise compile again each time one of these cold paths first runs.
   */
  private settle(tf: boolean): boolean {
    const stop = this.stop;
    if (stop === 0) {
      if (tf && !this.stepped()) return true;
      return this.singleStepExit();
    }
    this.stop = 0;
    if (stop & Stop.FAULT) {
      this.faultsDelivered++;
      if (!deliverFault(this)) {
        this.exitKind = CpuExit.SHUTDOWN;
        return true;
      }
      this.stop = 0;
      // A delivery that pushed its frame into MMIO exits with the first write, as KVM does; going on would
      // let a handler that faults again queue writes without end (a fault retires nothing, so no budget ends it).
      if (this.exitKind === CpuExit.NONE && this.mmioWrites.length > 0) this.takeMmioWrite();
      return this.exitKind !== CpuExit.NONE;
    }
    if (stop & Stop.EXIT) {
      if (this.exitKind === CpuExit.NONE && this.mmioWrites.length > 0) this.takeMmioWrite();
      if (!(stop & Stop.ABORT) && tf) this.stepped();
      // With KVM_GUESTDBG_SINGLESTEP, KVM reports this exit first; the DEBUG exit follows on the next run.
      return true;
    }
    // RESYNC only: state the loop caches changed; go round again.
    if (tf && !(stop & Stop.ABORT) && !this.stepped()) return true;
    return this.singleStepExit();
  }

  /** KVM_GUESTDBG_SINGLESTEP: the DEBUG exit after each instruction; true when there is one. */
  private singleStepExit(): boolean {
    if (!this.debug.singleStep) return false;
    this.debugExit(Vector.DB, this.csBaseLinear(this.rip), 0xffff4ff0);
    this.stop = 0;
    return true;
  }

  /** Delivers the single-step #DB trap after an instruction that started with TF set; false on shutdown. */
  private stepped(): boolean {
    this.dr[4] = (this.dr[4] | 0x4000) >>> 0;
    if (!deliver(this, Vector.DB, -1, this.rip, Source.EXCEPTION)) {
      this.exitKind = CpuExit.SHUTDOWN;
      return false;
    }
    return true;
  }

  /** RFLAGS with the lazy flags materialized. */
  getRflags(): number {
    return getFlags(this);
  }

  /** Replaces RFLAGS and re-derives the mode (VM may change). */
  setRflags(value: number): void {
    setFlags(this, value);
    syncMode(this);
  }
}
