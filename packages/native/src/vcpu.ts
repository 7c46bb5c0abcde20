/**
 * The vCPU level: ioctls on a vCPU descriptor (KVM_CREATE_VCPU's result), one method each, and KVM_RUN over
 * the mmap'd `kvm_run` page. KVM asks that a vCPU's ioctls come from the thread that created it; run it on a
 * Worker of its own when the event loop must keep running (see `worker.ts`).
 */
import { isMainThread } from 'node:worker_threads';
import {
  Errno,
  ExitReason,
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
  type Vcpu,
} from '@kvm-ts/core';
import { STRUCTS, VCPU_IOCTLS, VM_IOCTLS } from './abi/index.js';
import {
  cpuid2Size,
  decodeCpuid2,
  decodeLapic,
  decodeMsrEntries,
  decodeTranslation,
  decodeVcpuEvents,
  encodeCpuid2,
  encodeEnableCap,
  encodeGuestDebug,
  encodeLapic,
  encodeMsrEntries,
  encodeMsrIndices,
  encodeTranslation,
  encodeVcpuEvents,
} from './codec/cpu-state.js';
import { badArgument, dataView } from './codec/fields.js';
import {
  decodeDebugregs,
  decodeFpu,
  decodeRegs,
  decodeSregs,
  decodeXcrs,
  decodeXsave,
  encodeDebugregs,
  encodeFpu,
  encodeRegs,
  encodeSregs,
  encodeXcrs,
  encodeXsave,
} from './codec/registers.js';
import { checkInteger, Descriptor } from './descriptor.js';
import { installKickHandler, type KickTarget, kick } from './kick.js';
import { failure } from './libc.js';
import { RunPage } from './run-page.js';
import { VcpuThread } from './vcpu-thread.js';

const IOCTL = VCPU_IOCTLS;
const S = STRUCTS;
/** Most CPUID entries KVM keeps for a vCPU (KVM_MAX_CPUID_ENTRIES). */
const MAX_CPUID_ENTRIES = 256;

/** A vCPU on `/dev/kvm`. */
export class NativeVcpu extends Descriptor implements Vcpu {
  private readonly page: RunPage;
  private readonly kvmRunFd: number;
  /** The thread that issues this vCPU's ioctls (`pthread_t`), which `kick()` signals. */
  private thread: number | bigint;
  /** A move to a thread of its own in progress (the first `runAsync()` of a vCPU made by `createVcpu`). */
  private moving: Promise<VcpuThread> | null = null;

  /**
   * @param ownThread the Worker issuing this vCPU's ioctls (`NativeVm.createVcpuOnThread`), or none to issue
   *   them on the calling thread
   */
  constructor(
    fd: number,
    readonly id: number,
    mmapSize: number,
    private readonly onClose: (vcpu: NativeVcpu) => void,
    private ownThread?: VcpuThread,
  ) {
    super(fd, 'vCPU', ownThread);
    this.kvmRunFd = fd;
    this.page = new RunPage(fd, mmapSize);
    this.thread = ownThread ? ownThread.osThread : this.lib.pthreadSelf();
  }

  /** The thread that issues this vCPU's ioctls (`pthread_t`), which `kick()` signals. */
  get osThread(): number | bigint {
    return this.thread;
  }

  run(): KvmExit {
    if (this.ownThread) return this.exitFrom(this.ownThread.value(this.fd('KVM_RUN'), IOCTL.KVM_RUN, 0));
    // The hot path: the checked wrapper inlined, so an exit costs one foreign call and no allocation.
    const result = this.lib.ioctlInt(this.isClosed ? this.fd('KVM_RUN') : this.kvmRunFd, IOCTL.KVM_RUN, 0);
    if (result < 0) return this.exitFrom(-this.lib.koffi.errno());
    return this.page.exit();
  }

  /**
   * KVM_RUN without blocking this thread: the guest runs on the vCPU's own thread while the event loop goes
   * on. A vCPU made by `createVcpu` moves to a thread of its own at its first `runAsync()`, and from then on
   * every ioctl of it is issued there (KVM lets a vCPU change threads; api.rst asks only that its ioctls come
   * from one thread at a time, and the first one after the move costs a little). A `kickTarget()` taken
   * before the move names the old thread: take it again after.
   */
  async runAsync(): Promise<KvmExit> {
    const thread = this.ownThread ?? (await this.moveToThread());
    return this.exitFrom(await thread.valueAsync(this.fd('KVM_RUN'), IOCTL.KVM_RUN, 0));
  }

  /** Starts the vCPU's own thread and hands every later ioctl to it. */
  private moveToThread(): Promise<VcpuThread> {
    this.fd('KVM_RUN');
    this.moving ??= VcpuThread.start().then(
      (thread) => {
        if (this.isClosed) {
          void thread.close();
        } else {
          this.ownThread = thread;
          this.executor = thread;
          this.thread = thread.osThread;
        }
        return thread;
      },
      (error: unknown) => {
        this.moving = null;
        throw error;
      },
    );
    return this.moving;
  }

  /** The exit for a KVM_RUN result in the `-errno` convention: EINTR is the `intr` exit, as the core asks. */
  private exitFrom(result: number): KvmExit {
    if (result >= 0) return this.page.exit();
    const errno = -result;
    if (errno === Errno.EINTR) return this.page.intr;
    if (errno === Errno.EFAULT && this.page.exitReason === ExitReason.MEMORY_FAULT) return this.page.exit();
    throw failure(
      'KVM_RUN',
      errno,
      errno === Errno.EBUSY ? 'the vCPU is already running on its thread' : undefined,
    );
  }

  get requestInterruptWindow(): boolean {
    return this.page.requestInterruptWindow;
  }
  set requestInterruptWindow(value: boolean) {
    this.page.requestInterruptWindow = value;
  }
  get immediateExit(): boolean {
    return this.page.immediateExit;
  }
  /**
   * Setting it while a `runAsync()` is in progress on the vCPU's thread also signals that thread, so the run
   * returns an `intr` exit promptly: the kick of api.rst (immediate_exit, then a signal), as the core's
   * `runAsync` asks.
   */
  set immediateExit(value: boolean) {
    this.page.immediateExit = value;
    if (value && this.ownThread?.busy) this.kick();
  }
  get readyForInterruptInjection(): boolean {
    return this.page.readyForInterruptInjection;
  }
  get ifFlag(): boolean {
    return this.page.ifFlag;
  }
  get cr8(): bigint {
    return this.page.cr8;
  }
  set cr8(value: bigint) {
    this.page.cr8 = value;
  }
  get apicBase(): bigint {
    return this.page.apicBase;
  }

  /**
   * What another thread needs to {@link kick} this vCPU: its thread and its `kvm_run` address, as plain data
   * to post to a Worker. Installs the process's SIGUSR2 listener when called on the main thread.
   */
  kickTarget(): KickTarget {
    this.fd('kick');
    if (isMainThread) installKickHandler();
    return { thread: this.osThread, runAddress: this.page.address };
  }

  /**
   * Makes a `run()` in progress, or the next one, return an `intr` exit: `immediate_exit` plus SIGUSR2 to the
   * vCPU's thread. From another thread use `kick(vcpu.kickTarget())`. Clear `immediateExit` before running again.
   */
  kick(): void {
    kick(this.kickTarget());
  }

  private get<T>(operation: string, request: number, size: number, decode: (bytes: Uint8Array) => T): T {
    const bytes = new Uint8Array(size);
    this.ioctl(operation, request, bytes);
    return decode(bytes);
  }

  private set<T>(
    operation: string,
    request: number,
    size: number,
    value: T,
    encode: (operation: string, value: T, bytes: Uint8Array) => void,
  ): void {
    this.fd(operation);
    const bytes = new Uint8Array(size);
    encode(operation, value, bytes);
    this.ioctl(operation, request, bytes);
  }

  getRegs(): KvmRegs {
    return this.get('KVM_GET_REGS', IOCTL.KVM_GET_REGS, S.kvm_regs.size, decodeRegs);
  }
  setRegs(regs: KvmRegs): void {
    this.set('KVM_SET_REGS', IOCTL.KVM_SET_REGS, S.kvm_regs.size, regs, encodeRegs);
  }
  getSregs(): KvmSregs {
    return this.get('KVM_GET_SREGS', IOCTL.KVM_GET_SREGS, S.kvm_sregs.size, decodeSregs);
  }
  setSregs(sregs: KvmSregs): void {
    this.set('KVM_SET_SREGS', IOCTL.KVM_SET_SREGS, S.kvm_sregs.size, sregs, encodeSregs);
  }

  translate(linearAddress: bigint): KvmTranslation {
    const bytes = new Uint8Array(S.kvm_translation.size);
    encodeTranslation('KVM_TRANSLATE', linearAddress, bytes);
    this.ioctl('KVM_TRANSLATE', IOCTL.KVM_TRANSLATE, bytes);
    return decodeTranslation(bytes);
  }

  interrupt(irq: number): void {
    const bytes = new Uint8Array(S.kvm_interrupt.size);
    dataView(bytes).setUint32(S.kvm_interrupt.fields.irq, checkInteger('KVM_INTERRUPT', 'irq', irq), true);
    this.ioctl('KVM_INTERRUPT', IOCTL.KVM_INTERRUPT, bytes);
  }

  getMsrs(indices: readonly number[]): KvmMsrEntry[] {
    this.fd('KVM_GET_MSRS');
    const bytes = encodeMsrIndices('KVM_GET_MSRS', indices);
    const read = this.ioctl('KVM_GET_MSRS', IOCTL.KVM_GET_MSRS, bytes);
    return decodeMsrEntries(bytes, read);
  }

  setMsrs(entries: readonly KvmMsrEntry[]): number {
    this.fd('KVM_SET_MSRS');
    return this.ioctl('KVM_SET_MSRS', IOCTL.KVM_SET_MSRS, encodeMsrEntries('KVM_SET_MSRS', entries));
  }

  setSignalMask(mask: readonly bigint[] | null): void {
    if (mask === null) {
      this.ioctl('KVM_SET_SIGNAL_MASK', IOCTL.KVM_SET_SIGNAL_MASK, null);
      return;
    }
    if (!Array.isArray(mask))
      throw badArgument('KVM_SET_SIGNAL_MASK', 'mask must be an array of bigints or null');
    const { size, fields } = S.kvm_signal_mask;
    const bytes = new Uint8Array(size + mask.length * 8);
    const view = dataView(bytes);
    // The kernel checks len against its sigset size (8 bytes on x86-64) and answers EINVAL otherwise.
    view.setUint32(fields.len, mask.length * 8, true);
    mask.forEach((word, i) => {
      if (typeof word !== 'bigint') throw badArgument('KVM_SET_SIGNAL_MASK', `mask[${i}] must be a bigint`);
      view.setBigUint64(fields.sigset + i * 8, BigInt.asUintN(64, word), true);
    });
    this.ioctl('KVM_SET_SIGNAL_MASK', IOCTL.KVM_SET_SIGNAL_MASK, bytes);
  }

  getFpu(): KvmFpu {
    return this.get('KVM_GET_FPU', IOCTL.KVM_GET_FPU, S.kvm_fpu.size, decodeFpu);
  }
  setFpu(fpu: KvmFpu): void {
    this.set('KVM_SET_FPU', IOCTL.KVM_SET_FPU, S.kvm_fpu.size, fpu, encodeFpu);
  }
  getXsave(): KvmXsave {
    return this.get('KVM_GET_XSAVE', IOCTL.KVM_GET_XSAVE, S.kvm_xsave.size, decodeXsave);
  }
  setXsave(xsave: KvmXsave): void {
    this.set('KVM_SET_XSAVE', IOCTL.KVM_SET_XSAVE, S.kvm_xsave.size, xsave, encodeXsave);
  }
  getXcrs(): KvmXcrs {
    return this.get('KVM_GET_XCRS', IOCTL.KVM_GET_XCRS, S.kvm_xcrs.size, decodeXcrs);
  }
  setXcrs(xcrs: KvmXcrs): void {
    this.set('KVM_SET_XCRS', IOCTL.KVM_SET_XCRS, S.kvm_xcrs.size, xcrs, encodeXcrs);
  }
  getDebugregs(): KvmDebugregs {
    return this.get('KVM_GET_DEBUGREGS', IOCTL.KVM_GET_DEBUGREGS, S.kvm_debugregs.size, decodeDebugregs);
  }
  setDebugregs(regs: KvmDebugregs): void {
    this.set('KVM_SET_DEBUGREGS', IOCTL.KVM_SET_DEBUGREGS, S.kvm_debugregs.size, regs, encodeDebugregs);
  }
  getVcpuEvents(): KvmVcpuEvents {
    return this.get(
      'KVM_GET_VCPU_EVENTS',
      IOCTL.KVM_GET_VCPU_EVENTS,
      S.kvm_vcpu_events.size,
      decodeVcpuEvents,
    );
  }
  setVcpuEvents(events: KvmVcpuEvents): void {
    this.set(
      'KVM_SET_VCPU_EVENTS',
      IOCTL.KVM_SET_VCPU_EVENTS,
      S.kvm_vcpu_events.size,
      events,
      encodeVcpuEvents,
    );
  }

  setCpuid2(entries: readonly KvmCpuidEntry2[]): void {
    this.fd('KVM_SET_CPUID2');
    this.ioctl('KVM_SET_CPUID2', IOCTL.KVM_SET_CPUID2, encodeCpuid2('KVM_SET_CPUID2', entries));
  }

  getCpuid2(): KvmCpuidEntry2[] {
    // Whether KVM writes `nent` back differs between kernels (6.1 never does on success, nor, through its
    // caller, on E2BIG). So ask with room for the most KVM keeps, entries pre-filled with all-ones bytes, and
    // count the entries KVM overwrote: a real leaf never has every flag bit set.
    const bytes = new Uint8Array(cpuid2Size(MAX_CPUID_ENTRIES));
    bytes.fill(0xff, S.kvm_cpuid2.fields.entries);
    const view = dataView(bytes);
    view.setUint32(S.kvm_cpuid2.fields.nent, MAX_CPUID_ENTRIES, true);
    this.ioctl('KVM_GET_CPUID2', IOCTL.KVM_GET_CPUID2, bytes);
    let count = view.getUint32(S.kvm_cpuid2.fields.nent, true);
    if (count === MAX_CPUID_ENTRIES) {
      const flagsOf = (i: number) =>
        view.getUint32(
          S.kvm_cpuid2.fields.entries + i * S.kvm_cpuid_entry2.size + S.kvm_cpuid_entry2.fields.flags,
          true,
        );
      count = 0;
      while (count < MAX_CPUID_ENTRIES && flagsOf(count) !== 0xffffffff) count++;
    }
    return decodeCpuid2(bytes, count);
  }

  setGuestDebug(debug: KvmGuestDebug): void {
    this.set(
      'KVM_SET_GUEST_DEBUG',
      IOCTL.KVM_SET_GUEST_DEBUG,
      S.kvm_guest_debug.size,
      debug,
      encodeGuestDebug,
    );
  }
  getLapic(): KvmLapicState {
    return this.get('KVM_GET_LAPIC', IOCTL.KVM_GET_LAPIC, S.kvm_lapic_state.size, decodeLapic);
  }
  setLapic(state: KvmLapicState): void {
    this.set('KVM_SET_LAPIC', IOCTL.KVM_SET_LAPIC, S.kvm_lapic_state.size, state, encodeLapic);
  }

  getMpState(): KvmMpState {
    return this.get('KVM_GET_MP_STATE', IOCTL.KVM_GET_MP_STATE, S.kvm_mp_state.size, (bytes) => ({
      mpState: dataView(bytes).getUint32(S.kvm_mp_state.fields.mp_state, true),
    }));
  }
  setMpState(state: KvmMpState): void {
    const bytes = new Uint8Array(S.kvm_mp_state.size);
    const value = checkInteger('KVM_SET_MP_STATE', 'mpState', state?.mpState);
    dataView(bytes).setUint32(S.kvm_mp_state.fields.mp_state, value, true);
    this.ioctl('KVM_SET_MP_STATE', IOCTL.KVM_SET_MP_STATE, bytes);
  }

  nmi(): void {
    this.ioctlValue('KVM_NMI', IOCTL.KVM_NMI, 0);
  }

  enableCap(cap: KvmEnableCap): void {
    this.fd('KVM_ENABLE_CAP');
    this.ioctl('KVM_ENABLE_CAP', VM_IOCTLS.KVM_ENABLE_CAP, encodeEnableCap('KVM_ENABLE_CAP', cap));
  }

  /**
   * Releases the vCPU: drops the `kvm_run` mapping's hold on it and closes its descriptor. The VM frees the
   * vCPU itself when the VM is closed, as KVM does.
   */
  close(): void {
    if (this.isClosed) return;
    this.page.release();
    this.closeDescriptor();
    void this.ownThread?.close();
    this.onClose(this);
  }

  /** `using` support: the same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
