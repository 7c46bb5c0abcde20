/**
 * The vCPU level of the API (KVM_RUN and the vCPU ioctls) over one emulated CPU. Exits are built the way
 * KVM's `kvm_run` page is: one reusable object per exit kind, the IO data a view of the vCPU's PIO page, the
 * MMIO data a view of its 8-byte buffer, completed by the VMM before the next `run()`.
 */
import {
  type DebugExit,
  ExitReason,
  GuestDebugFlag,
  type HltExit,
  type InternalErrorExit,
  InternalErrorSuberror,
  InterruptShadow,
  type IntrExit,
  type IoExit,
  type IrqWindowOpenExit,
  KVM_APIC_REG_SIZE,
  KVM_MAX_XCRS,
  type KvmCpuidEntry2,
  type KvmDebugregs,
  type KvmEnableCap,
  type KvmExit,
  type KvmFpu,
  type KvmGuestDebug,
  type KvmLapicState,
  type KvmMpState,
  type KvmMsrEntry,
  type KvmRegs,
  type KvmSregs,
  type KvmTranslation,
  type KvmVcpuEvents,
  type KvmXcrs,
  type KvmXsave,
  kvmFail,
  type MmioExit,
  MpState,
  type ShutdownExit,
  type Vcpu,
  VcpuEventsFlag,
} from '@kvm-ts/core';
import { Cpu } from '../cpu/cpu.js';
import { deliver, Source } from '../cpu/exceptions.js';
import { hostNow } from '../cpu/host-clock.js';
import type { CodeCache } from '../cpu/insn-cache.js';
import { Access, CpuExit } from '../cpu/mmu.js';
import { readMsr, writeMsr } from '../cpu/msr.js';
import { Flag } from '../cpu/state.js';
import { CpuArea } from '../cpu/wasm/layout.js';
import type { Lapic } from '../devices/lapic.js';
import type { SlotTable } from '../memory/slots.js';
import type { WasmArena } from '../memory/wasm-arena.js';
import { VcpuDevices, type VmDevices } from './in-kernel-devices.js';
import {
  checkXsave,
  initClearedComponents,
  readFpu,
  readRegs,
  readSregs,
  resetXsave,
  SUPPORTED_XCR0,
  toNumber,
  toU64,
  writeFpu,
  writeRegs,
  writeSregs,
} from './registers.js';

/** CPUID.1:ECX bit 24: the local APIC timer's TSC-deadline mode. */
const CPUID_TSC_DEADLINE = 1 << 24;
/** KVM_MAX_CPUID_ENTRIES. */
const MAX_CPUID_ENTRIES = 256;
/** The offset of the PIO data in the `kvm_run` mapping (KVM_PIO_PAGE_OFFSET pages). */
export const PIO_DATA_OFFSET = 4096;
/** Instructions one `run()` executes at most before returning an INTR exit, so the host's event loop lives. */
export const DEFAULT_INSTRUCTION_BUDGET = 20_000_000;
/** Instructions one `runAsync()` executes at most: a few milliseconds, one turn among several vCPUs. */
export const ASYNC_SLICE_INSTRUCTIONS = 200_000;
/** Device accesses one instruction chain may make within one `run()` (a REP string instruction's elements). */
const MAX_DEVICE_EXITS = 65536;
/** Steps of virtual time one `run()` of a halted vCPU takes at most before it returns an INTR exit. */
const MAX_IDLE_STEPS = 10_000;

const GUEST_DEBUG_VALID =
  GuestDebugFlag.ENABLE |
  GuestDebugFlag.SINGLESTEP |
  GuestDebugFlag.USE_SW_BP |
  GuestDebugFlag.USE_HW_BP |
  GuestDebugFlag.INJECT_DB |
  GuestDebugFlag.INJECT_BP |
  GuestDebugFlag.BLOCKIRQ;

/** What the VM shares with its vCPUs. */
export interface VcpuHost {
  readonly slots: SlotTable;
  readonly code: CodeCache;
  /** The VM's WebAssembly memory, where the vCPU's state for WebAssembly blocks goes (null: none). */
  readonly arena: WasmArena | null;
  readonly devices: VmDevices;
  readonly hasIrqchip: () => boolean;
  readonly isClosed: () => boolean;
  readonly forget: (vcpu: EmulatorVcpu) => void;
}

/** A vCPU of the emulator backend. */
export class EmulatorVcpu implements Vcpu {
  /** @internal The CPU (exposed for the emulator's own tests and tools; not part of the core API). */
  readonly cpu: Cpu;
  /**
   * Instructions one `run()` may execute before it returns an INTR exit; each fault delivered counts as one too,
   * so a guest looping on faults also returns.
   */
  instructionBudget = DEFAULT_INSTRUCTION_BUDGET;
  /**
   * Milliseconds one `run()` may take before it returns an INTR exit (checked every few thousand
   * instructions); 0, the default, bounds runs by `instructionBudget` alone, which keeps runs deterministic.
   */
  timeSliceMs = 0;
  /**
   * A kick from another thread: when element 0 of this Int32Array (over a SharedArrayBuffer) is non-zero, a
   * running `run()` returns an INTR exit within a few thousand instructions, as a signal interrupts KVM_RUN.
   * The VMM clears it (Atomics.store) before running again.
   */
  kickSignal: Int32Array | null = null;

  requestInterruptWindow = false;
  immediateExit = false;
  readyForInterruptInjection = false;
  ifFlag = false;
  cr8 = 0n;
  apicBase = 0xfee00900n;

  private closed = false;
  private hasRun = false;
  /** The in-kernel local APIC (KVM_CREATE_IRQCHIP), null without one. */
  private readonly lapic: Lapic | null = null;
  /** This vCPU's view of the in-kernel devices, which its CPU calls. */
  private readonly devices: VcpuDevices;
  /** An INIT (IPI or LINT) arrived and is handled at the next run (KVM's `kvm_apic_accept_events`). */
  private pendingInit = false;
  /** A start-up IPI's vector waiting for the INIT_RECEIVED state, or -1. */
  private pendingSipi = -1;
  private mpState: number = MpState.RUNNABLE;
  private pendingException = -1;
  private lastExit: number = CpuExit.NONE;
  private readonly exits = {
    io: {
      reason: 'io',
      code: ExitReason.IO,
      direction: 0,
      size: 0,
      port: 0,
      count: 0,
      data: new Uint8Array(0),
    } as IoExit,
    mmio: {
      reason: 'mmio',
      code: ExitReason.MMIO,
      physAddr: 0n,
      data: new Uint8Array(0),
      len: 0,
      isWrite: false,
    } as MmioExit,
    hlt: { reason: 'hlt', code: ExitReason.HLT } as HltExit,
    shutdown: { reason: 'shutdown', code: ExitReason.SHUTDOWN } as ShutdownExit,
    intr: { reason: 'intr', code: ExitReason.INTR } as IntrExit,
    window: { reason: 'irq_window_open', code: ExitReason.IRQ_WINDOW_OPEN } as IrqWindowOpenExit,
    debug: { reason: 'debug', code: ExitReason.DEBUG, exception: 0, pc: 0n, dr6: 0n, dr7: 0n } as DebugExit,
    internal: {
      reason: 'internal_error',
      code: ExitReason.INTERNAL_ERROR,
      suberror: InternalErrorSuberror.EMULATION,
      data: [],
    } as InternalErrorExit,
  };

  /** @internal Created by `EmulatorVm.createVcpu` (KVM_CREATE_VCPU). */
  constructor(
    readonly id: number,
    private readonly host: VcpuHost,
  ) {
    this.cpu = new Cpu(host.slots, host.code, CpuArea.create(host.arena));
    this.cpu.apicBase = id === 0 ? 0xfee00900n : 0xfee00800n;
    this.apicBase = this.cpu.apicBase;
    this.cpu.r[4] = 0x600; // EDX at reset: the processor signature (KVM: 0x600 until CPUID is set).
    this.cpu.irqchip = host.hasIrqchip();
    resetXsave(this.cpu.xsave);
    resetSegments(this.cpu);
    this.exits.mmio.data = this.cpu.mmioData;
    const chip = host.devices.irqchip;
    if (chip) {
      this.lapic = chip.createLapic(id, {
        onNmi: () => {
          this.cpu.nmiPending = true;
        },
        onInit: () => {
          this.pendingInit = true;
        },
        onSipi: (vector) => {
          this.pendingSipi = vector;
        },
      });
      // No CPUID yet, so no TSC-deadline mode until KVM_SET_CPUID2 offers it.
      this.lapic.setTscDeadlineSupported(false);
      // With the in-kernel irqchip only the BSP starts running; APs wait for INIT/SIPI (kvm_arch_vcpu_create).
      if (id !== 0) this.mpState = MpState.UNINITIALIZED;
    }
    this.devices = new VcpuDevices(host.devices, this.cpu, this.lapic);
    this.cpu.devices = this.devices;
    // A vCPU the VMM runs and that is not waiting (halted, or an AP before INIT/SIPI) keeps the others' idle
    // time from moving the clock: it moves with the instructions this one retires.
    host.devices.addVcpu(this, () => this.hasRun && !this.closed && this.mpState === MpState.RUNNABLE);
    this.syncControls();
  }

  private check(op: string): void {
    if (this.closed || this.host.isClosed()) kvmFail(op, 'EBADF', 'the vCPU (or its VM) is closed');
  }

  /** The JavaScript exception behind the last INTERNAL_ERROR exit, if one came from a bug in the emulator. */
  lastInternalError: unknown = undefined;

  run(): KvmExit {
    this.check('KVM_RUN');
    try {
      return this.runGuest();
    } catch (error) {
      // An exception escaping the CPU is an emulator bug. The host carries on and the guest stops, as when
      // KVM's instruction emulator gives up: KVM_EXIT_INTERNAL_ERROR, suberror EMULATION.
      this.lastInternalError = error;
      this.cpu.stop = 0;
      return this.finish(CpuExit.INTERNAL);
    }
  }

  /**
   * KVM_RUN as one short slice: at most 200,000 instructions (`ASYNC_SLICE_INSTRUCTIONS`) (or the instruction
   * budget, if smaller) before an INTR exit, so that a VMM awaiting several vCPUs from one thread gives each
   * its turn often, as their own threads would run them side by side on KVM.
   */
  runAsync(): Promise<KvmExit> {
    const budget = this.instructionBudget;
    this.instructionBudget = Math.min(budget, ASYNC_SLICE_INSTRUCTIONS);
    try {
      return Promise.resolve(this.run());
    } catch (error) {
      return Promise.reject(error);
    } finally {
      this.instructionBudget = budget;
    }
  }

  private runGuest(): KvmExit {
    const c = this.cpu;
    const dev = this.devices;
    this.hasRun = true;
    c.irqchip = this.host.hasIrqchip();
    c.requestWindow = this.requestInterruptWindow;
    if (!c.irqchip) c.cr8 = Number(BigInt.asUintN(64, this.cr8) & 0xfn);
    dev.vm.startClock();
    dev.sync();
    c.recheckCode();
    // Complete the exit the VMM has handled: the instruction that made it runs again and takes the data.
    if (this.lastExit === CpuExit.IO) c.ioResume = true;
    else if (this.lastExit === CpuExit.MMIO && !c.mmioIsWrite) c.mmioReadReady = true;
    const completing = c.ioResume || c.mmioReadReady;
    this.lastExit = CpuExit.NONE;
    let kind: number = c.mmioWrites.length > 0 && c.takeMmioWrite() ? CpuExit.MMIO : CpuExit.NONE;
    if (kind === CpuExit.NONE && completing) kind = this.complete();
    kind = this.handleInKernel(kind);
    if (kind !== CpuExit.NONE) return this.finish(kind);
    if (this.immediateExit) return this.finish(CpuExit.INTR);
    if (this.pendingException >= 0) {
      const v = this.pendingException;
      this.pendingException = -1;
      if (!deliver(c, v, -1, c.rip, Source.EXCEPTION)) return this.finish(CpuExit.SHUTDOWN);
    }
    return this.finish(this.loop());
  }

  /**
   * Runs the guest until an exit the VMM must see, the instruction budget, the time slice or a kick. Slices end
   * at the clock's next timer deadline, so timers fire on time; exits the in-kernel devices decode are handled
   * here; a halted vCPU with an irqchip waits here (see `idle`).
   */
  private loop(): number {
    const c = this.cpu;
    const dev = this.devices;
    const kick = this.kickSignal;
    const wall = this.timeSliceMs > 0 ? hostNow() + this.timeSliceMs : 0;
    // Steps: instructions retired and faults delivered (see `Cpu.faultsDelivered`).
    const end = c.retired + c.faultsDelivered + this.instructionBudget;
    let idleSteps = 0;
    for (;;) {
      if (kick !== null && Atomics.load(kick, 0) !== 0) return CpuExit.INTR;
      if (wall !== 0 && hostNow() > wall) return CpuExit.INTR;
      if (this.pendingInit || this.pendingSipi >= 0) this.acceptEvents();
      if (this.lapic !== null && this.mpState !== MpState.RUNNABLE) {
        if (!this.idle() || ++idleSteps > MAX_IDLE_STEPS) return CpuExit.INTR;
        continue;
      }
      const left = end - c.retired - c.faultsDelivered;
      if (left <= 0) return CpuExit.INTR;
      c.execute(dev.instructionsToDeadline(left), wall, kick);
      dev.sync();
      let kind = c.exitKind;
      if (kind === CpuExit.NONE && c.mmioWrites.length > 0 && c.takeMmioWrite()) kind = CpuExit.MMIO;
      kind = this.handleInKernel(kind);
      if (kind !== CpuExit.NONE) return kind;
    }
  }

  /**
   * Handles the exits KVM handles in the kernel once an irqchip or PIT exists (their ports, the local APIC and
   * IOAPIC pages, HLT with an irqchip) and returns the first one the VMM must see, or NONE.
   */
  private handleInKernel(first: number): number {
    const c = this.cpu;
    const dev = this.devices;
    let kind = first;
    for (let handled = 0; kind !== CpuExit.NONE; ) {
      // Each re-executed access counts against the budget: an instruction whose device accesses re-execution
      // cannot all complete (two MMIO reads) then ends the run with INTR instead of holding the host. The
      // instruction has not retired, so the next run starts it again.
      if (
        (kind === CpuExit.IO || (kind === CpuExit.MMIO && !c.mmioIsWrite)) &&
        ++handled > Math.min(this.instructionBudget, MAX_DEVICE_EXITS)
      )
        return CpuExit.INTR;
      if (kind === CpuExit.IO && dev.vm.handlesPort(c.ioPort)) {
        const size = c.ioSize;
        const d = c.ioData;
        for (let k = 0, o = 0; k < c.ioCount; k++, o += size) {
          if (c.ioDir === 0) {
            const v = dev.vm.portRead(c.ioPort, size);
            for (let b = 0; b < size; b++) d[o + b] = b < 4 ? v >>> (8 * b) : 0;
          } else {
            dev.vm.portWrite(c.ioPort, size, d[o] | (d[o + 1] << 8) | (d[o + 2] << 16) | (d[o + 3] << 24));
          }
        }
        c.ioResume = true;
        kind = this.complete();
      } else if (kind === CpuExit.MMIO && !c.mmioIsWrite) {
        const v = dev.mmioRead(c.mmioGpa, c.mmioLen);
        if (v < 0) return kind;
        const d = c.mmioData;
        d.fill(0);
        for (let b = 0; b < c.mmioLen && b < 4; b++) d[b] = v >>> (8 * b);
        c.mmioReadReady = true;
        kind = this.complete();
      } else if (kind === CpuExit.MMIO) {
        const d = c.mmioData;
        if (!dev.mmioWrite(c.mmioGpa, c.mmioLen, (d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24)) >>> 0)) {
          return kind;
        }
        kind = c.mmioWrites.length > 0 && c.takeMmioWrite() ? CpuExit.MMIO : CpuExit.NONE;
      } else if (kind === CpuExit.HLT && this.lapic !== null) {
        // With an in-kernel irqchip HLT waits inside KVM_RUN (KVM_MP_STATE_HALTED) instead of exiting.
        this.mpState = MpState.HALTED;
        kind = CpuExit.NONE;
      } else {
        return kind;
      }
    }
    return CpuExit.NONE;
  }

  /**
   * Re-executes the instruction that made an IO or MMIO exit, which now takes its data and retires. Nothing
   * is delivered before it (KVM completes the access before it injects an event): a one-instruction shadow
   * holds interrupts and NMIs back. Returns the exit that instruction made, if any.
   */
  private complete(): number {
    const c = this.cpu;
    const at = c.retired;
    const shadow = c.shadowUntil;
    if (shadow < at + 1) c.shadowUntil = at + 1;
    c.execute(1);
    c.ioResume = false;
    c.mmioReadReady = false;
    if (c.retired === at) c.shadowUntil = shadow;
    this.devices.sync();
    if (c.exitKind === CpuExit.NONE && c.mmioWrites.length > 0 && c.takeMmioWrite()) return CpuExit.MMIO;
    return c.exitKind;
  }

  /**
   * Takes the INIT and start-up IPIs that arrived, in KVM's order (`kvm_apic_accept_events`): INIT resets the
   * vCPU (the BSP runs on, an AP waits in INIT_RECEIVED), then a SIPI starts a vCPU in INIT_RECEIVED in real
   * mode at vector * 4096 (SDM Vol. 3A 9.4.4.1) and is dropped in any other state.
   */
  private acceptEvents(): void {
    const c = this.cpu;
    if (this.pendingInit && this.lapic !== null) {
      this.lapic.reset();
      resetAfterInit(c);
      this.mpState = this.id === 0 ? MpState.RUNNABLE : MpState.INIT_RECEIVED;
    }
    this.pendingInit = false;
    if (this.pendingSipi >= 0 && this.mpState === MpState.INIT_RECEIVED) {
      c.segSel[1] = this.pendingSipi << 8;
      c.segBase[1] = this.pendingSipi << 12;
      c.rip = 0;
      this.mpState = MpState.RUNNABLE;
      c.flushCode();
    }
    this.pendingSipi = -1;
  }

  /**
   * One step of a vCPU that cannot run (halted, or an AP before INIT/SIPI): wakes on an interrupt or NMI, else
   * lets virtual time pass to the next timer deadline as far as the VM's idle time allows. Returns false when
   * nothing can change before the host's clock moves on.
   */
  private idle(): boolean {
    const c = this.cpu;
    if (this.mpState !== MpState.HALTED) return false;
    if (this.wakes()) {
      this.mpState = MpState.RUNNABLE;
      c.halted = false;
      return true;
    }
    if (this.devices.vm.othersCanRun(this)) return false;
    const clock = this.devices.vm.clock;
    const next = clock.nextDeadline();
    const target = Math.min(next, this.devices.vm.idleLimit());
    if (!(target > clock.now) || target === Number.POSITIVE_INFINITY) return false;
    clock.advanceTo(target);
    return true;
  }

  /** Whether a halted vCPU wakes (KVM's `kvm_vcpu_has_events`): an NMI, or an interrupt while IF is set. */
  private wakes(): boolean {
    const c = this.cpu;
    if (c.nmiPending && !c.nmiMasked) return true;
    return (c.flags & Flag.IF) !== 0 && (this.lapic as Lapic).hasInterrupt();
  }

  private finish(kind: number): KvmExit {
    const c = this.cpu;
    this.lastExit = kind;
    this.syncControls();
    switch (kind) {
      case CpuExit.IO: {
        const e = this.exits.io;
        e.direction = c.ioDir;
        e.size = c.ioSize;
        e.port = c.ioPort;
        e.count = c.ioCount;
        e.data = c.ioData.subarray(0, c.ioSize * c.ioCount);
        return e;
      }
      case CpuExit.MMIO: {
        const e = this.exits.mmio;
        e.physAddr = BigInt(c.mmioGpa);
        e.len = c.mmioLen;
        e.isWrite = c.mmioIsWrite;
        return e;
      }
      case CpuExit.HLT:
        return this.exits.hlt;
      case CpuExit.SHUTDOWN:
        return this.exits.shutdown;
      case CpuExit.IRQ_WINDOW:
        return this.exits.window;
      case CpuExit.DEBUG: {
        const e = this.exits.debug;
        e.exception = c.debugVector;
        e.pc = toU64(c.debugPc);
        e.dr6 = BigInt(c.debugDr6 >>> 0);
        e.dr7 = BigInt(c.dr[5] >>> 0);
        return e;
      }
      case CpuExit.INTERNAL:
        return this.exits.internal;
      default:
        return this.exits.intr;
    }
  }

  private syncControls(): void {
    const c = this.cpu;
    this.ifFlag = (c.flags & Flag.IF) !== 0;
    this.readyForInterruptInjection = c.interruptsAllowed() && c.pendingIrq < 0;
    // kvm_run.cr8 is the TPR's class with the in-kernel APIC (KVM's `post_kvm_run_save`).
    this.cr8 = BigInt(this.lapic !== null ? this.lapic.getCr8() : c.cr8);
    this.apicBase = c.apicBase;
  }

  getRegs(): KvmRegs {
    this.check('KVM_GET_REGS');
    return readRegs(this.cpu);
  }

  setRegs(regs: KvmRegs): void {
    this.check('KVM_SET_REGS');
    writeRegs(this.cpu, regs);
    this.syncControls();
  }

  getSregs(): KvmSregs {
    this.check('KVM_GET_SREGS');
    const sregs = readSregs(this.cpu, this.host.hasIrqchip());
    if (this.lapic !== null) sregs.cr8 = BigInt(this.lapic.getCr8());
    return sregs;
  }

  setSregs(sregs: KvmSregs): void {
    this.check('KVM_SET_SREGS');
    writeSregs(this.cpu, sregs, this.host.hasIrqchip());
    if (this.lapic !== null) {
      // KVM_SET_SREGS sets the APIC base and CR8 (the TPR) of the in-kernel APIC too.
      this.lapic.setApicBase(this.cpu.apicBase);
      this.lapic.setCr8(this.cpu.cr8);
    }
    this.syncControls();
  }

  translate(linearAddress: bigint): KvmTranslation {
    this.check('KVM_TRANSLATE');
    const c = this.cpu;
    const lin = toNumber(linearAddress);
    const page = c.walk(c.efer & 0x400 ? lin : lin >>> 0, Access.READ, false, true);
    // KVM reports every valid translation as writeable and supervisor (kvm_arch_vcpu_ioctl_translate).
    return {
      linearAddress: BigInt.asUintN(64, linearAddress),
      physicalAddress: page < 0 ? 0xffffffffffffffffn : BigInt(page + (lin & 4095)),
      valid: page < 0 ? 0 : 1,
      writeable: 1,
      usermode: 0,
    };
  }

  interrupt(irq: number): void {
    this.check('KVM_INTERRUPT');
    if (this.host.hasIrqchip())
      kvmFail('KVM_INTERRUPT', 'ENXIO', 'the irqchip is in the kernel: use irqLine');
    if (!Number.isInteger(irq) || irq < 0 || irq >= 256)
      kvmFail('KVM_INTERRUPT', 'EINVAL', `vector ${irq} is not 0-255`);
    this.cpu.pendingIrq = irq;
    this.syncControls();
  }

  getMsrs(indices: readonly number[]): KvmMsrEntry[] {
    this.check('KVM_GET_MSRS');
    const out: KvmMsrEntry[] = [];
    for (const index of indices) {
      const v = readMsr(this.cpu, index, true);
      if (v === undefined) break;
      out.push({ index, data: v });
    }
    return out;
  }

  setMsrs(entries: readonly KvmMsrEntry[]): number {
    this.check('KVM_SET_MSRS');
    let n = 0;
    for (const e of entries) {
      if (!writeMsr(this.cpu, e.index, e.data, true)) break;
      n++;
    }
    this.syncControls();
    return n;
  }

  /** The signal mask set with KVM_SET_SIGNAL_MASK (no signal reaches an emulated vCPU). */
  signalMask: readonly bigint[] | null = null;
  setSignalMask(mask: readonly bigint[] | null): void {
    this.check('KVM_SET_SIGNAL_MASK');
    // The kernel's sigset_t is 8 bytes: one 64-bit word (kvm_vcpu_ioctl: len != sizeof(sigset_t)).
    if (mask && mask.length !== 1)
      kvmFail('KVM_SET_SIGNAL_MASK', 'EINVAL', 'a signal mask is one 64-bit word');
    // No signals reach an emulated vCPU; the mask is kept for symmetry with KVM.
    this.signalMask = mask ? [...mask] : null;
  }

  getFpu(): KvmFpu {
    this.check('KVM_GET_FPU');
    return readFpu(this.cpu);
  }

  setFpu(fpu: KvmFpu): void {
    this.check('KVM_SET_FPU');
    writeFpu(this.cpu, fpu);
  }

  getXsave(): KvmXsave {
    this.check('KVM_GET_XSAVE');
    return { region: this.cpu.xsave.slice() };
  }

  setXsave(xsave: KvmXsave): void {
    this.check('KVM_SET_XSAVE');
    checkXsave(xsave.region);
    this.cpu.xsave.set(xsave.region);
    initClearedComponents(this.cpu.xsave);
  }

  getXcrs(): KvmXcrs {
    this.check('KVM_GET_XCRS');
    return { flags: 0, xcrs: [{ xcr: 0, value: BigInt(this.cpu.xcr0) }] };
  }

  setXcrs(xcrs: KvmXcrs): void {
    this.check('KVM_SET_XCRS');
    if (xcrs.flags !== 0 || xcrs.xcrs.length > KVM_MAX_XCRS) {
      kvmFail('KVM_SET_XCRS', 'EINVAL', `flags must be 0 and at most ${KVM_MAX_XCRS} XCRs given`);
    }
    const xcr0 = xcrs.xcrs.find((x) => x.xcr === 0);
    if (!xcr0) return;
    const v = BigInt.asUintN(64, xcr0.value);
    // XCR0 may enable x87 and what the guest's CPUID leaf 0xD offers (SDM Vol. 1 13.3).
    const leafD = this.cpu.cpuid.find((e) => e.function === 0xd && e.index === 0);
    const allowed = 1n | (leafD ? BigInt(leafD.eax >>> 0) & SUPPORTED_XCR0 : 0n);
    if (!(v & 1n) || v & ~allowed)
      kvmFail('KVM_SET_XCRS', 'EINVAL', `XCR0 0x${v.toString(16)} is not allowed`);
    this.cpu.xcr0 = Number(v);
  }

  getDebugregs(): KvmDebugregs {
    this.check('KVM_GET_DEBUGREGS');
    const dr = this.cpu.dr;
    return {
      db: [0, 1, 2, 3].map((k) => toU64(dr[k])),
      dr6: BigInt(dr[4] >>> 0),
      dr7: BigInt(dr[5] >>> 0),
      flags: 0n,
    };
  }

  setDebugregs(regs: KvmDebugregs): void {
    this.check('KVM_SET_DEBUGREGS');
    if (regs.flags !== 0n) kvmFail('KVM_SET_DEBUGREGS', 'EINVAL', 'flags must be 0');
    if (regs.db.length !== 4) kvmFail('KVM_SET_DEBUGREGS', 'EINVAL', 'db holds DR0-DR3');
    const dr6 = BigInt.asUintN(64, regs.dr6);
    const dr7 = BigInt.asUintN(64, regs.dr7);
    if (dr6 >> 32n || dr7 >> 32n)
      kvmFail('KVM_SET_DEBUGREGS', 'EINVAL', 'DR6 and DR7 bits 63:32 are reserved');
    for (let k = 0; k < 4; k++) this.cpu.dr[k] = toNumber(regs.db[k]);
    this.cpu.dr[4] = Number(dr6);
    this.cpu.dr[5] = Number(dr7);
  }

  getVcpuEvents(): KvmVcpuEvents {
    this.check('KVM_GET_VCPU_EVENTS');
    const c = this.cpu;
    const irq = this.host.hasIrqchip() ? -1 : c.pendingIrq;
    return {
      exception: {
        injected: 0,
        nr: Math.max(this.pendingException, 0),
        hasErrorCode: 0,
        pending: this.pendingException >= 0 ? 1 : 0,
        errorCode: 0,
      },
      interrupt: {
        injected: irq >= 0 ? 1 : 0,
        nr: Math.max(irq, 0),
        soft: 0,
        shadow: c.inShadow() ? (c.shadowKind === 2 ? InterruptShadow.STI : InterruptShadow.MOV_SS) : 0,
      },
      nmi: { injected: 0, pending: c.nmiPending ? 1 : 0, masked: c.nmiMasked ? 1 : 0 },
      sipiVector: 0,
      flags: VcpuEventsFlag.VALID_NMI_PENDING | VcpuEventsFlag.VALID_SHADOW | VcpuEventsFlag.VALID_SMM,
      smi: { smm: 0, pending: 0, smmInsideNmi: 0, latchedInit: 0 },
      tripleFault: { pending: 0 },
      exceptionHasPayload: 0,
      exceptionPayload: 0n,
    };
  }

  setVcpuEvents(events: KvmVcpuEvents): void {
    const op = 'KVM_SET_VCPU_EVENTS';
    this.check(op);
    const valid =
      VcpuEventsFlag.VALID_NMI_PENDING |
      VcpuEventsFlag.VALID_SIPI_VECTOR |
      VcpuEventsFlag.VALID_SHADOW |
      VcpuEventsFlag.VALID_SMM;
    if (events.flags & ~valid)
      kvmFail(op, 'EINVAL', `flags 0x${events.flags.toString(16)} include unsupported bits`);
    const ex = events.exception;
    if ((ex.injected || ex.pending) && (ex.nr > 31 || ex.nr === 2)) {
      kvmFail(op, 'EINVAL', `exception ${ex.nr} cannot be queued`);
    }
    if (events.flags & VcpuEventsFlag.VALID_SMM && events.smi.smm)
      kvmFail(op, 'EINVAL', 'this CPU has no SMM');
    const c = this.cpu;
    this.pendingException = ex.injected || ex.pending ? ex.nr : -1;
    if (!this.host.hasIrqchip()) c.pendingIrq = events.interrupt.injected ? events.interrupt.nr & 0xff : -1;
    if (events.flags & VcpuEventsFlag.VALID_SHADOW) {
      const sh = events.interrupt.shadow;
      if (sh) c.startShadow(sh & InterruptShadow.STI ? 2 : 1);
      else c.shadowUntil = -1;
      if (sh) c.shadowUntil = c.retired + 1;
    }
    if (events.flags & VcpuEventsFlag.VALID_NMI_PENDING) c.nmiPending = events.nmi.pending !== 0;
    c.nmiMasked = events.nmi.masked !== 0;
    this.syncControls();
  }

  setCpuid2(entries: readonly KvmCpuidEntry2[]): void {
    const op = 'KVM_SET_CPUID2';
    this.check(op);
    if (entries.length > MAX_CPUID_ENTRIES) kvmFail(op, 'E2BIG', `at most ${MAX_CPUID_ENTRIES} entries`);
    const copy = entries.map((e) => ({ ...e }));
    if (this.hasRun) {
      // After KVM_RUN only the same table may be set again (KVM 5.16+ `kvm_cpuid_check_equal`).
      const same =
        copy.length === this.cpu.cpuid.length &&
        copy.every((e, k) => {
          const o = this.cpu.cpuid[k];
          return (
            e.function === o.function &&
            e.index === o.index &&
            e.flags === o.flags &&
            e.eax === o.eax &&
            e.ebx === o.ebx &&
            e.ecx === o.ecx &&
            e.edx === o.edx
          );
        });
      if (!same) kvmFail(op, 'EINVAL', 'the CPUID table cannot change after the vCPU has run');
    }
    this.cpu.cpuid = copy;
    // KVM offers the TSC-deadline LVT mode only to a guest whose CPUID has it (`kvm_vcpu_after_set_cpuid`).
    const leaf1 = copy.find((e) => e.function === 1 && e.index === 0);
    this.lapic?.setTscDeadlineSupported(leaf1 !== undefined && (leaf1.ecx & CPUID_TSC_DEADLINE) !== 0);
  }

  getCpuid2(): KvmCpuidEntry2[] {
    this.check('KVM_GET_CPUID2');
    return this.cpu.cpuid.map((e) => ({ ...e }));
  }

  setGuestDebug(debug: KvmGuestDebug): void {
    const op = 'KVM_SET_GUEST_DEBUG';
    this.check(op);
    if (debug.debugreg.length !== 8) kvmFail(op, 'EINVAL', 'debugreg holds 8 values');
    const ctl = debug.control & GUEST_DEBUG_VALID;
    if (ctl & (GuestDebugFlag.INJECT_DB | GuestDebugFlag.INJECT_BP)) {
      if (this.pendingException >= 0) kvmFail(op, 'EBUSY', 'an exception is already pending');
      this.pendingException = ctl & GuestDebugFlag.INJECT_DB ? 1 : 3;
    }
    const c = this.cpu;
    const on = (ctl & GuestDebugFlag.ENABLE) !== 0;
    c.swBreakpoints = on && (ctl & GuestDebugFlag.USE_SW_BP) !== 0;
    c.debug.singleStep = on && (ctl & GuestDebugFlag.SINGLESTEP) !== 0;
    c.debug.hwBreakpoints = on && (ctl & GuestDebugFlag.USE_HW_BP) !== 0;
    for (let k = 0; k < 4; k++) c.debug.addr[k] = toNumber(debug.debugreg[k]);
    c.debug.dr7 = Number(BigInt.asUintN(32, debug.debugreg[7]));
  }

  getLapic(): KvmLapicState {
    this.check('KVM_GET_LAPIC');
    if (!this.lapic) kvmFail('KVM_GET_LAPIC', 'EINVAL', 'there is no in-kernel local APIC (createIrqchip)');
    this.devices.sync();
    return this.lapic.getState();
  }

  setLapic(state: KvmLapicState): void {
    this.check('KVM_SET_LAPIC');
    if (!this.lapic) kvmFail('KVM_SET_LAPIC', 'EINVAL', 'there is no in-kernel local APIC (createIrqchip)');
    if (state.regs.length !== KVM_APIC_REG_SIZE)
      kvmFail('KVM_SET_LAPIC', 'EINVAL', 'the register page is 1024 bytes');
    this.devices.sync();
    this.lapic.setState(state);
  }

  getMpState(): KvmMpState {
    this.check('KVM_GET_MP_STATE');
    return { mpState: this.mpState };
  }

  setMpState(state: KvmMpState): void {
    const op = 'KVM_SET_MP_STATE';
    this.check(op);
    const s = state.mpState;
    if (!this.host.hasIrqchip() && s !== MpState.RUNNABLE) {
      kvmFail(op, 'EINVAL', 'without an in-kernel irqchip a vCPU can only be RUNNABLE');
    }
    if (!Number.isInteger(s) || s < 0 || s > MpState.SIPI_RECEIVED)
      kvmFail(op, 'EINVAL', `unknown state ${s}`);
    this.mpState = s;
    this.cpu.halted = s === MpState.HALTED;
  }

  nmi(): void {
    this.check('KVM_NMI');
    this.cpu.nmiPending = true;
  }

  enableCap(cap: KvmEnableCap): void {
    this.check('KVM_ENABLE_CAP');
    kvmFail('KVM_ENABLE_CAP', 'EINVAL', `capability ${cap.cap} cannot be enabled on an emulated vCPU`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.host.devices.removeVcpu(this);
    this.host.forget(this);
  }

  /** `using` support: the same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * What INIT does to a vCPU (SDM Vol. 3A Table 10-1, KVM `kvm_vcpu_reset(vcpu, true)`): the reset state of the
 * registers, except that x87/SSE state, MSRs and the caches are kept.
 */
function resetAfterInit(c: Cpu): void {
  for (let k = 0; k < c.r.length; k++) c.r[k] = 0;
  c.r[4] = 0x600;
  c.cr0 = 0x60000010;
  c.cr2 = 0;
  c.cr3 = 0;
  c.cr4 = 0;
  c.efer = 0;
  c.gdtBase = 0;
  c.gdtLimit = 0xffff;
  c.idtBase = 0;
  c.idtLimit = 0xffff;
  c.halted = false;
  c.nmiPending = false;
  c.nmiMasked = false;
  c.shadowUntil = -1;
  resetSegments(c);
  c.flushTlb();
  c.flushCode();
}

/** The segment state right after KVM_CREATE_VCPU (checked on a real KVM). */
function resetSegments(c: Cpu): void {
  for (let s = 0; s < 6; s++) {
    c.segSel[s] = 0;
    c.segBase[s] = 0;
    c.segLimit[s] = 0xffff;
    c.segAttr[s] = 0x93;
  }
  c.segSel[1] = 0xf000;
  c.segBase[1] = 0xffff0000;
  c.segAttr[1] = 0x9b;
  c.segLimit[6] = 0xffff;
  c.segAttr[6] = 0x82;
  c.segLimit[7] = 0xffff;
  c.segAttr[7] = 0x8b;
  c.rip = 0xfff0;
  c.setRflags(2);
}
