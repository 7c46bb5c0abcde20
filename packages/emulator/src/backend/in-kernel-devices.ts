/**
 * The devices KVM keeps in the kernel, as the emulator's run loop reaches them: one virtual clock per VM that
 * the TSC, the PIT and every local APIC timer derive from, the irqchip (KVM_CREATE_IRQCHIP) and the PIT
 * (KVM_CREATE_PIT2), and the ports and MMIO ranges they decode, so that guest accesses there never exit to the
 * VMM. `VcpuDevices` is one vCPU's view (its local APIC, its share of the clock) that the CPU calls.
 */
import type { CpuDevices } from '../cpu/cpu.js';
import { hostNow } from '../cpu/host-clock.js';
import type { InKernelIrqchip } from '../devices/irqchip.js';
import type { Lapic } from '../devices/lapic.js';
import { MSR_TSC_DEADLINE } from '../devices/lapic.js';
import type { Pit } from '../devices/pit.js';
import { VirtualClock } from '../devices/virtual-clock.js';

/** The xAPIC register page's size. */
const LAPIC_MMIO_SIZE = 0x1000;
/** KVM's IOAPIC MMIO window (IOAPIC_MEM_LENGTH). */
const IOAPIC_MMIO_SIZE = 0x100;

/**
 * How time passes while every vCPU that could run is halted: `realtime` (the default, as on KVM) lets virtual
 * time catch up with the host's clock, never beyond it, so a 10 ms guest timer takes at least 10 ms; `skip`
 * jumps straight to the next timer deadline, which makes idle guests fast and runs deterministic.
 */
export type IdleTime = 'realtime' | 'skip';

/** A VM's in-kernel devices (see the file comment). */
export class VmDevices {
  /** The VM's one time base. */
  readonly clock = new VirtualClock();
  /** KVM_CREATE_IRQCHIP's PICs, IOAPIC and APIC bus, once created. */
  irqchip: InKernelIrqchip | null = null;
  /** KVM_CREATE_PIT2's i8254, once created. */
  pit: Pit | null = null;
  /** See {@link IdleTime}. */
  idleTime: IdleTime = 'realtime';
  /** Host nanoseconds at which virtual time 0 would have been (set at the first KVM_RUN). */
  private hostOriginNs = Number.NaN;
  /** Each vCPU's "could run now" test, by vCPU: see {@link othersCanRun}. */
  private readonly runnable = new Map<object, () => boolean>();

  /** Registers a vCPU's "could run now" test (KVM_CREATE_VCPU); `removeVcpu` when it closes. */
  addVcpu(vcpu: object, canRun: () => boolean): void {
    this.runnable.set(vcpu, canRun);
  }

  /** Forgets a closed vCPU. */
  removeVcpu(vcpu: object): void {
    this.runnable.delete(vcpu);
  }

  /**
   * Whether a vCPU other than `self` could run now. Virtual time is the instructions the vCPUs retire, so
   * while one runs, a halted one must not move the clock on to the next deadline: the running one would see
   * its timers fire ahead of its own instructions (N vCPUs taking turns would run time N-fold too fast).
   */
  othersCanRun(self: object): boolean {
    for (const [vcpu, canRun] of this.runnable) if (vcpu !== self && canRun()) return true;
    return false;
  }

  /** Relates virtual time to the host's clock from the first KVM_RUN on. */
  startClock(): void {
    if (Number.isNaN(this.hostOriginNs)) this.hostOriginNs = hostNow() * 1e6 - this.clock.now;
  }

  /** The virtual time a halted VM may reach now: the host's clock, or without bound when idle time skips. */
  idleLimit(): number {
    if (this.idleTime === 'skip') return Number.POSITIVE_INFINITY;
    return hostNow() * 1e6 - this.hostOriginNs;
  }

  /** Whether an in-kernel device decodes `port` (the PICs and ELCRs, the PIT and, as configured, port 0x61). */
  handlesPort(port: number): boolean {
    return this.irqchip?.pic.handlesPort(port) === true || this.pit?.handlesPort(port) === true;
  }

  /**
   * An IN of `size` bytes. The PICs answer only byte reads (KVM's `picdev_read` returns 0 for others); the
   * PIT answers its byte in the low bits.
   */
  portRead(port: number, size: number): number {
    if (this.pit?.handlesPort(port)) return this.pit.ioRead(port);
    if (this.irqchip !== null && size === 1) return this.irqchip.pic.ioRead(port);
    return 0;
  }

  /** An OUT of `size` bytes (the PICs ignore anything but byte writes, as `picdev_write`). */
  portWrite(port: number, size: number, value: number): void {
    if (this.pit?.handlesPort(port)) this.pit.ioWrite(port, value & 0xff);
    else if (this.irqchip !== null && size === 1) this.irqchip.pic.ioWrite(port, value & 0xff);
  }

  /** The IOAPIC's offset for `gpa`, or -1 when the address is not in its window (or there is no irqchip). */
  ioapicOffset(gpa: number): number {
    if (this.irqchip === null) return -1;
    const off = gpa - Number(this.irqchip.ioapic.mmioBase);
    return off >= 0 && off < IOAPIC_MMIO_SIZE ? off : -1;
  }
}

/** One vCPU's in-kernel devices: what its CPU calls (TSC, interrupts, CR8, APIC MSRs) and its MMIO page. */
export class VcpuDevices implements CpuDevices {
  /** The CPU's retired count when the clock last heard of it. */
  private synced: number;

  constructor(
    readonly vm: VmDevices,
    private readonly cpu: { retired: number; cr8: number; tscOffset: bigint },
    readonly lapic: Lapic | null,
  ) {
    this.synced = cpu.retired;
  }

  /** Moves the VM's clock on by the instructions retired since the last call, firing the timers due. */
  sync(): void {
    const n = this.cpu.retired - this.synced;
    if (n > 0) {
      this.synced = this.cpu.retired;
      this.vm.clock.retire(n);
    }
  }

  /** Instructions this vCPU may run before the next timer deadline (at least 1, at most `limit`). */
  instructionsToDeadline(limit: number): number {
    const clock = this.vm.clock;
    const next = clock.nextDeadline();
    if (next === Number.POSITIVE_INFINITY) return limit;
    const n = Math.ceil((next - clock.now) / clock.nsPerInstruction);
    return n < 1 ? 1 : Math.min(n, limit);
  }

  tsc(): number {
    const clock = this.vm.clock;
    return clock.tscAt(clock.now + (this.cpu.retired - this.synced) * clock.nsPerInstruction);
  }

  hasInterrupt(): boolean {
    return this.lapic?.hasInterrupt() === true;
  }

  acknowledge(): number {
    return this.lapic !== null ? this.lapic.acknowledge() : -1;
  }

  getCr8(): number {
    return this.lapic !== null ? this.lapic.getCr8() : this.cpu.cr8;
  }

  setCr8(value: number): void {
    if (this.lapic !== null) this.lapic.setCr8(value);
    else this.cpu.cr8 = value;
  }

  apicBaseWritten(value: bigint): void {
    if (this.lapic !== null) this.lapic.setApicBase(value);
  }

  readApicMsr(index: number): bigint | undefined {
    // KVM reads IA32_TSC_DEADLINE as 0 without an in-kernel APIC (`kvm_get_lapic_tscdeadline_msr`).
    if (index === MSR_TSC_DEADLINE) return BigInt(this.lapic !== null ? this.lapic.readTscDeadline() : 0);
    if (this.lapic === null) return undefined;
    this.sync();
    return this.lapic.readMsr(index) ?? undefined;
  }

  writeApicMsr(index: number, value: bigint): boolean {
    if (index === MSR_TSC_DEADLINE) {
      // Ignored without an in-kernel APIC, never a #GP (`kvm_set_lapic_tscdeadline_msr`).
      if (this.lapic !== null) {
        this.sync();
        const guestTsc = Number(BigInt.asUintN(64, this.cpu.tscOffset + BigInt(this.tsc())));
        this.lapic.writeTscDeadline(Number(value), guestTsc);
      }
      return true;
    }
    if (this.lapic === null) return false;
    this.sync();
    return this.lapic.writeMsr(index, value);
  }

  portIn(port: number, size: number): number {
    if (!this.vm.handlesPort(port)) return -1;
    // The PIT counts from the clock: bring it up to the instruction reading it.
    this.sync();
    return this.vm.portRead(port, size) >>> 0;
  }

  portOut(port: number, size: number, value: number): boolean {
    if (!this.vm.handlesPort(port)) return false;
    this.sync();
    this.vm.portWrite(port, size, value);
    return true;
  }

  /** The local APIC's page offset for `gpa`, or -1 (no APIC, disabled, x2APIC mode, or another address). */
  lapicOffset(gpa: number): number {
    if (this.lapic === null) return -1;
    const base = this.lapic.mmioBase;
    if (base === null) return -1;
    const off = gpa - Number(base);
    return off >= 0 && off < LAPIC_MMIO_SIZE ? off : -1;
  }

  /** A guest MMIO read the devices decode, or -1 when no device owns `gpa` (the read exits to the VMM). */
  mmioRead(gpa: number, size: number): number {
    const l = this.lapicOffset(gpa);
    if (l >= 0) return (this.lapic as Lapic).mmioRead(l, size) >>> 0;
    const io = this.vm.ioapicOffset(gpa);
    if (io >= 0) return (this.vm.irqchip as InKernelIrqchip).ioapic.mmioRead(io, size) >>> 0;
    return -1;
  }

  /** A guest MMIO write; false when no device owns `gpa` (the write exits to the VMM). */
  mmioWrite(gpa: number, size: number, value: number): boolean {
    const l = this.lapicOffset(gpa);
    if (l >= 0) {
      (this.lapic as Lapic).mmioWrite(l, size, value);
      return true;
    }
    const io = this.vm.ioapicOffset(gpa);
    if (io >= 0) {
      (this.vm.irqchip as InKernelIrqchip).ioapic.mmioWrite(io, size, value);
      return true;
    }
    return false;
  }
}
