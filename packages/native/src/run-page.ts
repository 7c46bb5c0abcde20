/**
 * The vCPU's `struct kvm_run`, mmap'd from the vCPU descriptor and read through one zero-copy view. Decoding
 * an exit allocates nothing on the IO and MMIO paths: each exit variant is one object reused across runs (as
 * `kvm_run` is one page reused by KVM), the MMIO data is a fixed 8-byte view, and the IO data is a view at
 * `data_offset` into the mapping, cached by offset and length.
 */
import {
  type DebugExit,
  type ExceptionExit,
  ExitReason,
  type FailEntryExit,
  type HltExit,
  type HypercallExit,
  type InternalErrorExit,
  type IntrExit,
  type IoapicEoiExit,
  type IoExit,
  type IrqWindowOpenExit,
  type KvmExit,
  type KvmRunControls,
  type MemoryFaultExit,
  type MmioExit,
  type MsrExit,
  type OtherExit,
  type ShutdownExit,
  type SystemEventExit,
} from '@kvm-ts/core';
import { STRUCTS } from './abi/index.js';
import { MAP_SHARED, mapOrThrow, PROT_READ, PROT_WRITE, viewOf } from './libc.js';
import { releaseWhenCollected } from './lifetime.js';
import { scrubMapping } from './memory.js';

const RUN = STRUCTS.kvm_run.fields;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The mapped `kvm_run` of one vCPU, with the exit decoder and the run-structure controls. */
export class RunPage implements KvmRunControls {
  readonly address: number;
  readonly length: number;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly ioViews = new Map<number, Uint8Array>();
  private lastPhysLow = -1;
  private lastPhysHigh = -1;
  private lastPhysAddr = 0n;

  private readonly io: Mutable<IoExit>;
  private readonly mmio: Mutable<MmioExit>;
  private readonly hlt: HltExit = { reason: 'hlt', code: ExitReason.HLT };
  private readonly shutdown: ShutdownExit = { reason: 'shutdown', code: ExitReason.SHUTDOWN };
  private readonly irqWindowOpen: IrqWindowOpenExit = {
    reason: 'irq_window_open',
    code: ExitReason.IRQ_WINDOW_OPEN,
  };
  /** The exit `run()` returns when KVM_RUN fails with EINTR. */
  readonly intr: IntrExit = { reason: 'intr', code: ExitReason.INTR };
  private readonly failEntry: Mutable<FailEntryExit> = {
    reason: 'fail_entry',
    code: ExitReason.FAIL_ENTRY,
    hardwareEntryFailureReason: 0n,
    cpu: 0,
  };
  private readonly internalError: Mutable<InternalErrorExit> = {
    reason: 'internal_error',
    code: ExitReason.INTERNAL_ERROR,
    suberror: 0,
    data: [],
  };
  private readonly debug: Mutable<DebugExit> = {
    reason: 'debug',
    code: ExitReason.DEBUG,
    exception: 0,
    pc: 0n,
    dr6: 0n,
    dr7: 0n,
  };
  private readonly systemEvent: Mutable<SystemEventExit> = {
    reason: 'system_event',
    code: ExitReason.SYSTEM_EVENT,
    type: 0,
    data: [],
  };
  private readonly exception: Mutable<ExceptionExit> = {
    reason: 'exception',
    code: ExitReason.EXCEPTION,
    exception: 0,
    errorCode: 0,
  };
  private readonly hypercall: HypercallPage;
  private readonly eoi: Mutable<IoapicEoiExit> = {
    reason: 'ioapic_eoi',
    code: ExitReason.IOAPIC_EOI,
    vector: 0,
  };
  private readonly msr: MsrPage;
  private readonly memoryFault: Mutable<MemoryFaultExit> = {
    reason: 'memory_fault',
    code: ExitReason.MEMORY_FAULT,
    flags: 0n,
    gpa: 0n,
    size: 0n,
  };
  private readonly other: Mutable<OtherExit> = { reason: 'other', code: 0 };

  /** Maps `length` bytes (KVM_GET_VCPU_MMAP_SIZE) of the vCPU descriptor `fd`. */
  constructor(fd: number, length: number) {
    this.length = length;
    this.address = mapOrThrow('mmap kvm_run', length, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
    const buffer = viewOf(this.address, length);
    // Unmapped only once no view into the page (an exit's data) can reach it.
    releaseWhenCollected(buffer, { mapping: { address: this.address, length } }, this);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.io = {
      reason: 'io',
      code: ExitReason.IO,
      direction: 0,
      size: 0,
      port: 0,
      count: 0,
      data: this.bytes,
    };
    this.mmio = {
      reason: 'mmio',
      code: ExitReason.MMIO,
      physAddr: 0n,
      data: this.bytes.subarray(RUN['mmio.data'], RUN['mmio.data'] + 8),
      len: 0,
      isWrite: false,
    };
    this.hypercall = new HypercallPage(this.view);
    this.msr = new MsrPage(this.view);
  }

  /**
   * Drops the mapping's hold on the vCPU (so the VM can be destroyed) while keeping the range valid for views
   * still held, as {@link scrubMapping} explains.
   */
  release(): void {
    scrubMapping('munmap kvm_run', this.address, this.length);
  }

  get requestInterruptWindow(): boolean {
    return this.view.getUint8(RUN.request_interrupt_window) !== 0;
  }
  set requestInterruptWindow(value: boolean) {
    this.view.setUint8(RUN.request_interrupt_window, value ? 1 : 0);
  }
  get immediateExit(): boolean {
    return this.view.getUint8(RUN.immediate_exit) !== 0;
  }
  set immediateExit(value: boolean) {
    this.view.setUint8(RUN.immediate_exit, value ? 1 : 0);
  }
  get readyForInterruptInjection(): boolean {
    return this.view.getUint8(RUN.ready_for_interrupt_injection) !== 0;
  }
  get ifFlag(): boolean {
    return this.view.getUint8(RUN.if_flag) !== 0;
  }
  get cr8(): bigint {
    return this.view.getBigUint64(RUN.cr8, true);
  }
  set cr8(value: bigint) {
    this.view.setBigUint64(RUN.cr8, BigInt.asUintN(64, value), true);
  }
  get apicBase(): bigint {
    return this.view.getBigUint64(RUN.apic_base, true);
  }

  /** The raw `exit_reason`. */
  get exitReason(): number {
    return this.view.getUint32(RUN.exit_reason, true);
  }

  /** Decodes the exit KVM_RUN just reported into the reused object of its variant. */
  exit(): KvmExit {
    const view = this.view;
    const reason = view.getUint32(RUN.exit_reason, true);
    switch (reason) {
      case ExitReason.IO: {
        const io = this.io;
        io.direction = view.getUint8(RUN['io.direction']);
        io.size = view.getUint8(RUN['io.size']);
        io.port = view.getUint16(RUN['io.port'], true);
        io.count = view.getUint32(RUN['io.count'], true);
        // The offset lies within the mapping, so its low word is all of it: no BigInt to allocate.
        io.data = this.ioData(view.getUint32(RUN['io.data_offset'], true), io.size * io.count);
        return io;
      }
      case ExitReason.MMIO: {
        const mmio = this.mmio;
        mmio.physAddr = this.physAddr();
        mmio.len = view.getUint32(RUN['mmio.len'], true);
        mmio.isWrite = view.getUint8(RUN['mmio.is_write']) !== 0;
        return mmio;
      }
      case ExitReason.HLT:
        return this.hlt;
      case ExitReason.SHUTDOWN:
        return this.shutdown;
      case ExitReason.IRQ_WINDOW_OPEN:
        return this.irqWindowOpen;
      case ExitReason.INTR:
        return this.intr;
      case ExitReason.FAIL_ENTRY:
        this.failEntry.hardwareEntryFailureReason = view.getBigUint64(
          RUN['fail_entry.hardware_entry_failure_reason'],
          true,
        );
        this.failEntry.cpu = view.getUint32(RUN['fail_entry.cpu'], true);
        return this.failEntry;
      case ExitReason.INTERNAL_ERROR: {
        this.internalError.suberror = view.getUint32(RUN['internal.suberror'], true);
        const count = Math.min(view.getUint32(RUN['internal.ndata'], true), 16);
        this.internalError.data = this.words(RUN['internal.data'], count);
        return this.internalError;
      }
      case ExitReason.DEBUG:
        this.debug.exception = view.getUint32(RUN['debug.arch.exception'], true);
        this.debug.pc = view.getBigUint64(RUN['debug.arch.pc'], true);
        this.debug.dr6 = view.getBigUint64(RUN['debug.arch.dr6'], true);
        this.debug.dr7 = view.getBigUint64(RUN['debug.arch.dr7'], true);
        return this.debug;
      case ExitReason.SYSTEM_EVENT: {
        this.systemEvent.type = view.getUint32(RUN['system_event.type'], true);
        const count = Math.min(view.getUint32(RUN['system_event.ndata'], true), 16);
        this.systemEvent.data = this.words(RUN['system_event.data'], count);
        return this.systemEvent;
      }
      case ExitReason.EXCEPTION:
        this.exception.exception = view.getUint32(RUN['ex.exception'], true);
        this.exception.errorCode = view.getUint32(RUN['ex.error_code'], true);
        return this.exception;
      case ExitReason.HYPERCALL:
        return this.hypercall.read();
      case ExitReason.IOAPIC_EOI:
        this.eoi.vector = view.getUint8(RUN['eoi.vector']);
        return this.eoi;
      case ExitReason.X86_RDMSR:
      case ExitReason.X86_WRMSR:
        return this.msr.read(reason);
      case ExitReason.MEMORY_FAULT:
        this.memoryFault.flags = view.getBigUint64(RUN['memory_fault.flags'], true);
        this.memoryFault.gpa = view.getBigUint64(RUN['memory_fault.gpa'], true);
        this.memoryFault.size = view.getBigUint64(RUN['memory_fault.size'], true);
        return this.memoryFault;
      default:
        this.other.code = reason;
        return this.other;
    }
  }

  /**
   * `mmio.phys_addr` as a bigint, reusing the previous one when the address repeats (a device's registers are
   * hit again and again), so that a typical MMIO loop allocates no BigInt per exit.
   */
  private physAddr(): bigint {
    const low = this.view.getUint32(RUN['mmio.phys_addr'], true);
    const high = this.view.getUint32(RUN['mmio.phys_addr'] + 4, true);
    if (low !== this.lastPhysLow || high !== this.lastPhysHigh) {
      this.lastPhysLow = low;
      this.lastPhysHigh = high;
      this.lastPhysAddr = (BigInt(high) << 32n) | BigInt(low);
    }
    return this.lastPhysAddr;
  }

  private ioData(offset: number, length: number): Uint8Array {
    // KVM keeps data_offset fixed (the page after kvm_run), so this map holds one entry per transfer size.
    const key = offset * 0x10000 + length;
    let data = this.ioViews.get(key);
    if (!data) {
      if (offset + length > this.length) {
        throw new RangeError(
          `KVM reported IO data at ${offset}+${length}, outside the ${this.length}-byte kvm_run`,
        );
      }
      data = this.bytes.subarray(offset, offset + length);
      this.ioViews.set(key, data);
    }
    return data;
  }

  private words(offset: number, count: number): bigint[] {
    const words: bigint[] = [];
    for (let i = 0; i < count; i++) words.push(this.view.getBigUint64(offset + i * 8, true));
    return words;
  }
}

/**
 * KVM_EXIT_HYPERCALL: `ret` is written through to `kvm_run.hypercall.ret`, as the guest reads it from there
 * when the VMM calls `run()` again.
 */
class HypercallPage implements HypercallExit {
  readonly reason = 'hypercall';
  readonly code = ExitReason.HYPERCALL;
  nr = 0n;
  args: bigint[] = [];

  constructor(private readonly view: DataView) {}

  get ret(): bigint {
    return this.view.getBigUint64(RUN['hypercall.ret'], true);
  }
  set ret(value: bigint) {
    this.view.setBigUint64(RUN['hypercall.ret'], BigInt.asUintN(64, value), true);
  }

  read(): this {
    this.nr = this.view.getBigUint64(RUN['hypercall.nr'], true);
    this.args = [];
    for (let i = 0; i < 6; i++) this.args.push(this.view.getBigUint64(RUN['hypercall.args'] + i * 8, true));
    return this;
  }
}

/**
 * KVM_EXIT_X86_RDMSR / WRMSR: `error` and `data` are written through to `kvm_run.msr`, where KVM reads the
 * VMM's answer on the next `run()`.
 */
class MsrPage implements MsrExit {
  reason: 'x86_rdmsr' | 'x86_wrmsr' = 'x86_rdmsr';
  code: typeof ExitReason.X86_RDMSR | typeof ExitReason.X86_WRMSR = ExitReason.X86_RDMSR;
  msrReason = 0;
  index = 0;

  constructor(private readonly view: DataView) {}

  get error(): number {
    return this.view.getUint8(RUN['msr.error']);
  }
  set error(value: number) {
    this.view.setUint8(RUN['msr.error'], value);
  }
  get data(): bigint {
    return this.view.getBigUint64(RUN['msr.data'], true);
  }
  set data(value: bigint) {
    this.view.setBigUint64(RUN['msr.data'], BigInt.asUintN(64, value), true);
  }

  read(code: typeof ExitReason.X86_RDMSR | typeof ExitReason.X86_WRMSR): this {
    this.code = code;
    this.reason = code === ExitReason.X86_RDMSR ? 'x86_rdmsr' : 'x86_wrmsr';
    this.msrReason = this.view.getUint32(RUN['msr.reason'], true);
    this.index = this.view.getUint32(RUN['msr.index'], true);
    return this;
  }
}
