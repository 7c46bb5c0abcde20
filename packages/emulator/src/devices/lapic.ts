/**
 * A vCPU's local APIC as KVM keeps it in the kernel (`arch/x86/kvm/lapic.c`; SDM Vol. 3A chapter 11): the xAPIC
 * MMIO page at the APIC base and the x2APIC MSRs 0x800-0x8ff; ID, version 0x50014, TPR/PPR, EOI, ISR/IRR/TMR,
 * SVR, LDR/DFR, ICR IPIs (fixed, lowest priority, NMI, INIT, SIPI; shorthands), the LVT (timer one-shot,
 * periodic and TSC-deadline; LINT0 ExtINT from the PIC in virtual-wire mode; LINT1 NMI; error) and the timer's
 * divide/initial/current count. Registers live in the 1024-byte page of KVM_GET_LAPIC/KVM_SET_LAPIC; the timer
 * runs on the VM's {@link VirtualClock} with KVM's 1 ns APIC bus cycle.
 */
import { KVM_APIC_REG_SIZE, type KvmLapicState, kvmFail } from '@kvm-ts/core';
import { holdMutable } from '../hidden-classes.js';
import { type ApicBus, type ApicMessage, DeliveryMode, DestMode, Shorthand } from './apic-bus.js';
import type { ClockTimer, VirtualClock } from './virtual-clock.js';

/** Register offsets in the APIC page (SDM Vol. 3A Table 11-1); the x2APIC MSR is 0x800 + offset / 16. */
export const ApicReg = {
  /** Local APIC ID (xAPIC: bits 31-24). */
  ID: 0x20,
  /** Version, max LVT entry, directed-EOI support. */
  VERSION: 0x30,
  /** Task priority. */
  TPR: 0x80,
  /** Arbitration priority (reads 0 on KVM). */
  APR: 0x90,
  /** Processor priority (read-only, derived). */
  PPR: 0xa0,
  /** End of interrupt (write-only). */
  EOI: 0xb0,
  /** Remote read (unsupported, reads 0). */
  RRD: 0xc0,
  /** Logical destination. */
  LDR: 0xd0,
  /** Destination format (xAPIC only). */
  DFR: 0xe0,
  /** Spurious-interrupt vector and software enable. */
  SVR: 0xf0,
  /** In-service register, 8 x 32 bits at 16-byte stride. */
  ISR: 0x100,
  /** Trigger-mode register (1: the vector was accepted level-triggered). */
  TMR: 0x180,
  /** Interrupt request register. */
  IRR: 0x200,
  /** Error status. */
  ESR: 0x280,
  /** Interrupt command, low half. */
  ICR: 0x300,
  /** Interrupt command, high half (xAPIC destination in bits 31-24). */
  ICR2: 0x310,
  /** LVT timer. */
  LVT_TIMER: 0x320,
  /** LVT thermal sensor. */
  LVT_THERMAL: 0x330,
  /** LVT performance counter. */
  LVT_PMC: 0x340,
  /** LVT LINT0. */
  LVT_LINT0: 0x350,
  /** LVT LINT1. */
  LVT_LINT1: 0x360,
  /** LVT error. */
  LVT_ERROR: 0x370,
  /** Timer initial count. */
  TMICT: 0x380,
  /** Timer current count (read-only). */
  TMCCT: 0x390,
  /** Timer divide configuration. */
  TDCR: 0x3e0,
  /** Self IPI (x2APIC only, write-only). */
  SELF_IPI: 0x3f0,
} as const;

/** IA32_APIC_BASE bit 8: this is the bootstrap processor. */
export const APIC_BASE_BSP = 0x100n;
/** IA32_APIC_BASE bit 10: x2APIC mode. */
export const APIC_BASE_X2APIC = 0x400n;
/** IA32_APIC_BASE bit 11: the APIC is enabled (globally). */
export const APIC_BASE_ENABLE = 0x800n;
/** The default xAPIC MMIO base (IA32_APIC_BASE bits 35-12 at reset). */
export const APIC_DEFAULT_BASE = 0xfee00000n;
/** The first x2APIC MSR (MSR 0x800 + register offset / 16). */
export const X2APIC_MSR_BASE = 0x800;
/** The last x2APIC MSR. */
export const X2APIC_MSR_LAST = 0x8ff;
/** IA32_TSC_DEADLINE. */
export const MSR_TSC_DEADLINE = 0x6e0;

/**
 * A fresh APIC page for vCPU `id`, with the reset values of KVM's `kvm_lapic_reset` (checked on a real KVM):
 * version 0x50014 (six LVT entries), DFR all ones, SVR 0xff, every LVT masked except the BSP's LINT0 (ExtINT).
 */
export function resetLapic(id: number): Uint8Array {
  const regs = new Uint8Array(KVM_APIC_REG_SIZE);
  const v = new DataView(regs.buffer);
  v.setUint32(ApicReg.ID, (id & 0xff) << 24, true);
  v.setUint32(ApicReg.VERSION, 0x50014, true);
  v.setUint32(ApicReg.DFR, 0xffffffff, true);
  v.setUint32(ApicReg.SVR, 0xff, true);
  for (const r of [
    ApicReg.LVT_TIMER,
    ApicReg.LVT_THERMAL,
    ApicReg.LVT_PMC,
    ApicReg.LVT_LINT1,
    ApicReg.LVT_ERROR,
  ]) {
    v.setUint32(r, 0x10000, true);
  }
  v.setUint32(ApicReg.LVT_LINT0, id === 0 ? 0x700 : 0x10000, true);
  return regs;
}

/** SVR bit 8: APIC software enable. */
const SVR_ENABLE = 0x100;
/** Writable SVR bits (vector, enable, focus check; no directed EOI in version 0x50014). */
const SVR_MASK = 0x3ff;
/** LVT bit 16: masked. */
const LVT_MASKED = 0x10000;
/** LVT bits 7-0: vector. */
const LVT_VECTOR = 0xff;
/** LVT bits 10-8: delivery mode (LINT0/LINT1, thermal, PMC). */
const LVT_DELIVERY_MODE = 0x700;
/** LVT bit 13: input pin polarity (LINT only). */
const LVT_POLARITY = 0x2000;
/** LVT bit 15: trigger mode (LINT only). */
const LVT_LEVEL = 0x8000;
/** LVT timer bits 18-17: timer mode. */
const LVT_TIMER_MODE = 0x60000;
/** Timer mode: one-shot. */
const TIMER_ONESHOT = 0;
/** Timer mode: periodic. */
const TIMER_PERIODIC = 0x20000;
/** Timer mode: TSC-deadline. */
const TIMER_TSC_DEADLINE = 0x40000;
/** ICR bits 10-8: delivery mode. */
const ICR_DELIVERY_MODE = 0x700;
/** ICR bit 11: logical destination. */
const ICR_LOGICAL = 0x800;
/** ICR bit 12: delivery status (never busy on KVM). */
const ICR_BUSY = 0x1000;
/** ICR bit 14: level assert. */
const ICR_LEVEL_ASSERT = 0x4000;
/** ICR bit 15: level-triggered. */
const ICR_LEVEL_TRIGGER = 0x8000;
/** ICR bits 19-18: destination shorthand. */
const ICR_SHORTHAND_SHIFT = 18;
/** DFR bits 31-28: 0xf flat model, 0x0 cluster model. */
const DFR_FLAT = 0xf;
/** KVM's minimum periodic timer period (`min_timer_period_us`, 200 µs). */
export const LAPIC_MIN_PERIOD_NS = 200_000;

/** LVT registers in order of their entry index (the version register's max LVT entry is 5: six entries). */
const LVT_REGS = [
  ApicReg.LVT_TIMER,
  ApicReg.LVT_THERMAL,
  ApicReg.LVT_PMC,
  ApicReg.LVT_LINT0,
  ApicReg.LVT_LINT1,
  ApicReg.LVT_ERROR,
];

/** Writable bits of each LVT register (KVM's `apic_lvt_mask`; delivery status and remote IRR are read-only). */
function lvtWriteMask(reg: number, timerModes: number): number {
  switch (reg) {
    case ApicReg.LVT_TIMER:
      return LVT_MASKED | LVT_VECTOR | timerModes;
    case ApicReg.LVT_LINT0:
    case ApicReg.LVT_LINT1:
      return LVT_MASKED | LVT_VECTOR | LVT_DELIVERY_MODE | LVT_POLARITY | LVT_LEVEL;
    case ApicReg.LVT_ERROR:
      return LVT_MASKED | LVT_VECTOR;
    default:
      return LVT_MASKED | LVT_VECTOR | LVT_DELIVERY_MODE;
  }
}

/** The highest set bit of a 256-bit register (IRR/ISR/TMR) in the page, or -1. */
function highestVector(v: DataView, base: number): number {
  for (let i = 7; i >= 0; i--) {
    const word = v.getUint32(base + i * 16, true);
    if (word) return i * 32 + 31 - Math.clz32(word);
  }
  return -1;
}

/** Something that can hand the CPU an ExtINT vector: the PIC pair. */
export interface ExtIntSource {
  hasInterrupt(): boolean;
  acknowledge(): number;
}

/** Options of {@link Lapic}. */
export interface LapicOptions {
  /** The vCPU id, which is the initial APIC ID and the x2APIC ID. */
  id: number;
  clock: VirtualClock;
  /** The bus IPIs go out on (and that this APIC is attached to). */
  bus: ApicBus;
  /** The PIC pair, for LINT0 in ExtINT mode (virtual wire) and while the APIC is globally disabled. */
  pic?: ExtIntSource;
  /** EOI of a level-triggered vector: KVM broadcasts it to the IOAPIC (`kvm_ioapic_update_eoi`). */
  onEoi?: (vector: number) => void;
  /** An NMI arrived (IPI or LINT1). */
  onNmi?: () => void;
  /** An INIT arrived. */
  onInit?: () => void;
  /** A start-up IPI arrived with this vector (entry at vector << 12). */
  onSipi?: (vector: number) => void;
  /** Something became pending: a halted vCPU should wake. */
  onWake?: () => void;
  /** Whether CPUID advertises the TSC-deadline timer (KVM masks the mode otherwise); default true. */
  tscDeadline?: boolean;
  /** Nanoseconds per APIC bus cycle (KVM: 1). */
  busCycleNs?: number;
}

/** A local APIC (see the file comment). */
export class Lapic {
  /** The register page, KVM_GET_LAPIC's layout. */
  private regs: Uint8Array;
  private view: DataView;
  /** IA32_APIC_BASE. */
  private base: bigint;
  private readonly id: number;
  private readonly clock: VirtualClock;
  private readonly bus: ApicBus;
  private readonly options: LapicOptions;
  private readonly timer: ClockTimer;
  private timerModes: number;
  private readonly busCycleNs: number;
  /** The timer's divide value (1-128), from TDCR. */
  private divide = 2;
  /** Virtual ns of the next timer expiry (one-shot and periodic), or `Infinity`. */
  private timerTarget = Number.POSITIVE_INFINITY;
  /** Periodic timer period in ns, 0 when not periodic-running. */
  private periodNs = 0;
  /** IA32_TSC_DEADLINE as the guest wrote it. */
  private tscDeadlineValue = 0;
  /** LINT0/LINT1 input levels, for edge detection. */
  private lintLevels = [0, 0];
  /** Processor priority, kept current. */
  ppr = 0;

  constructor(options: LapicOptions) {
    this.options = options;
    this.id = options.id;
    this.clock = options.clock;
    this.bus = options.bus;
    this.busCycleNs = options.busCycleNs ?? 1;
    this.timerModes = options.tscDeadline === false ? TIMER_PERIODIC : LVT_TIMER_MODE;
    this.regs = resetLapic(this.id);
    this.view = new DataView(this.regs.buffer);
    this.base = APIC_DEFAULT_BASE | APIC_BASE_ENABLE | (this.id === 0 ? APIC_BASE_BSP : 0n);
    this.timer = this.clock.createTimer((when) => this.timerFired(when));
    this.bus.attach(this);
    holdMutable(this);
  }

  private reg(offset: number): number {
    return this.view.getUint32(offset, true);
  }

  private setReg(offset: number, value: number): void {
    this.view.setUint32(offset, value >>> 0, true);
  }

  private bit(base: number, vector: number): boolean {
    return ((this.reg(base + (vector >> 5) * 16) >>> (vector & 31)) & 1) !== 0;
  }

  private setBit(base: number, vector: number, on: boolean): void {
    const off = base + (vector >> 5) * 16;
    const m = 1 << (vector & 31);
    this.setReg(off, on ? this.reg(off) | m : this.reg(off) & ~m);
  }

  /** The APIC ID the bus matches physical destinations against. */
  get apicId(): number {
    return this.x2apicMode ? this.id : this.reg(ApicReg.ID) >>> 24;
  }

  /** IA32_APIC_BASE bit 11. */
  get hwEnabled(): boolean {
    return (this.base & APIC_BASE_ENABLE) !== 0n;
  }

  /** SVR bit 8. */
  get swEnabled(): boolean {
    return (this.reg(ApicReg.SVR) & SVR_ENABLE) !== 0;
  }

  /** IA32_APIC_BASE bit 10 (with bit 11). */
  get x2apicMode(): boolean {
    return (this.base & (APIC_BASE_X2APIC | APIC_BASE_ENABLE)) === (APIC_BASE_X2APIC | APIC_BASE_ENABLE);
  }

  /** IA32_APIC_BASE, for RDMSR 0x1b. */
  get apicBase(): bigint {
    return this.base;
  }

  /** The xAPIC MMIO base address while the APIC is enabled in xAPIC mode, else null (the page is plain memory). */
  get mmioBase(): bigint | null {
    return this.hwEnabled && !this.x2apicMode ? this.base & 0xffffff000n : null;
  }

  /**
   * WRMSR IA32_APIC_BASE (the CPU checks reserved bits first). Entering x2APIC mode sets the ID to the vCPU id
   * and derives the LDR from it (SDM 11.12.10.2), as KVM's `kvm_apic_set_x2apic_id` does.
   */
  setApicBase(value: bigint): void {
    const was = this.x2apicMode;
    this.base = value;
    if (this.x2apicMode && !was) {
      this.setReg(ApicReg.LDR, ((this.id >> 4) << 16) | (1 << (this.id & 0xf)));
    }
    this.updatePpr();
  }

  /**
   * Whether the guest's CPUID offers the TSC-deadline timer (leaf 1 ECX bit 24): without it the LVT timer's mode
   * field has only the periodic bit, as KVM sets `timer_mode_mask` after KVM_SET_CPUID2.
   */
  setTscDeadlineSupported(on: boolean): void {
    this.timerModes = on ? LVT_TIMER_MODE : TIMER_PERIODIC;
  }

  /** INIT (SDM 10.4.7.3): every register back to its power-up value except the ID and IA32_APIC_BASE. */
  reset(): void {
    const id = this.reg(ApicReg.ID);
    const ldr = this.reg(ApicReg.LDR);
    this.regs.set(resetLapic(this.id));
    this.setReg(ApicReg.ID, id);
    if (this.x2apicMode) this.setReg(ApicReg.LDR, ldr);
    this.divide = 2;
    this.cancelTimer();
    this.tscDeadlineValue = 0;
    this.updatePpr();
  }

  // ---------------------------------------------------------------- priorities and delivery to the CPU

  private updatePpr(): void {
    const tpr = this.reg(ApicReg.TPR) & 0xff;
    const isrv = highestVector(this.view, ApicReg.ISR);
    const ppr = isrv >= 0 && (isrv & 0xf0) > (tpr & 0xf0) ? isrv & 0xf0 : tpr;
    this.ppr = ppr;
    this.setReg(ApicReg.PPR, ppr);
  }

  /** Whether the PIC's output reaches this CPU: APIC globally off, or LINT0 unmasked in ExtINT mode. */
  private acceptsPic(): boolean {
    if (!this.options.pic) return false;
    if (!this.hwEnabled) return true;
    const lvt0 = this.reg(ApicReg.LVT_LINT0);
    return (lvt0 & LVT_MASKED) === 0 && (lvt0 & LVT_DELIVERY_MODE) >> 8 === DeliveryMode.EXTINT;
  }

  /** The APIC's deliverable vector (highest IRR above the processor priority), or -1; none while disabled. */
  private deliverable(): number {
    if (!this.hwEnabled || !this.swEnabled) return -1;
    const irr = highestVector(this.view, ApicReg.IRR);
    return irr >= 0 && (irr & 0xf0) > this.ppr ? irr : -1;
  }

  /** Whether the CPU has a maskable interrupt to take (PIC through ExtINT first, as KVM's `kvm_cpu_has_interrupt`). */
  hasInterrupt(): boolean {
    if (this.acceptsPic() && this.options.pic?.hasInterrupt()) return true;
    return this.deliverable() >= 0;
  }

  /** The CPU's interrupt acknowledge: the vector to deliver (IRR moved to ISR), or -1 if nothing is pending. */
  acknowledge(): number {
    const pic = this.options.pic;
    if (pic && this.acceptsPic() && pic.hasInterrupt()) return pic.acknowledge();
    const v = this.deliverable();
    if (v < 0) return -1;
    this.setBit(ApicReg.IRR, v, false);
    this.setBit(ApicReg.ISR, v, true);
    this.updatePpr();
    return v;
  }

  /** CR8 reads TPR bits 7-4 (SDM 10.8.6.1). */
  getCr8(): number {
    return (this.reg(ApicReg.TPR) >> 4) & 0xf;
  }

  /** MOV to CR8 writes TPR bits 7-4 and clears 3-0. */
  setCr8(value: number): void {
    this.setReg(ApicReg.TPR, (value & 0xf) << 4);
    this.updatePpr();
  }

  /** Whether the logical destination `dest` selects this APIC (flat or cluster model; x2APIC cluster). */
  matchesLogical(dest: number, broadcast: boolean): boolean {
    if (broadcast) return true;
    const ldr = this.reg(ApicReg.LDR);
    if (this.x2apicMode) return dest >>> 16 === ldr >>> 16 && (dest & ldr & 0xffff) !== 0;
    const logical = ldr >>> 24;
    const d = dest & 0xff;
    if (this.reg(ApicReg.DFR) >>> 28 === DFR_FLAT) return (logical & d) !== 0;
    return logical >> 4 === d >> 4 && (logical & d & 0xf) !== 0;
  }

  /** A message from the bus (SDM 11.6.1 delivery modes); returns whether this APIC accepted it. */
  accept(msg: ApicMessage): boolean {
    if (!this.hwEnabled) return false;
    switch (msg.deliveryMode) {
      case DeliveryMode.FIXED:
      case DeliveryMode.LOWEST_PRIORITY:
        // A software-disabled APIC drops fixed interrupts (KVM `__apic_accept_irq`).
        if (!this.swEnabled) return false;
        this.setIrr(msg.vector, msg.triggerMode === 1);
        return true;
      case DeliveryMode.NMI:
        this.options.onNmi?.();
        this.options.onWake?.();
        return true;
      case DeliveryMode.INIT:
        // An INIT level de-assert only synchronises arbitration IDs.
        if (msg.triggerMode === 1 && !msg.level) return false;
        this.options.onInit?.();
        this.options.onWake?.();
        return true;
      case DeliveryMode.STARTUP:
        this.options.onSipi?.(msg.vector & 0xff);
        this.options.onWake?.();
        return true;
      default:
        // SMI and ExtINT messages are not supported (KVM drops ExtINT messages too).
        return false;
    }
  }

  private setIrr(vector: number, level: boolean): void {
    this.setBit(ApicReg.IRR, vector, true);
    this.setBit(ApicReg.TMR, vector, level);
    this.options.onWake?.();
  }

  /** Delivers through LVT entry `reg` (timer, LINT, error) unless masked. */
  private localDeliver(reg: number): void {
    const lvt = this.reg(reg);
    if (!this.hwEnabled || lvt & LVT_MASKED) return;
    const mode = reg === ApicReg.LVT_TIMER || reg === ApicReg.LVT_ERROR ? 0 : (lvt & LVT_DELIVERY_MODE) >> 8;
    switch (mode) {
      case DeliveryMode.FIXED:
        if (this.swEnabled)
          this.setIrr(lvt & LVT_VECTOR, (lvt & LVT_LEVEL) !== 0 && reg !== ApicReg.LVT_TIMER);
        break;
      case DeliveryMode.NMI:
        this.options.onNmi?.();
        this.options.onWake?.();
        break;
      case DeliveryMode.EXTINT:
        // The PIC path: hasInterrupt() looks at the PIC while LINT0 is in ExtINT mode.
        this.options.onWake?.();
        break;
      default:
        break;
    }
  }

  /** Drives LINT0 (`pin` 0) or LINT1 (`pin` 1); a rising edge delivers through the LVT entry. */
  setLint(pin: number, level: number): void {
    const rising = !this.lintLevels[pin] && level;
    this.lintLevels[pin] = level ? 1 : 0;
    if (rising) this.localDeliver(pin === 0 ? ApicReg.LVT_LINT0 : ApicReg.LVT_LINT1);
  }

  /** EOI: the highest in-service vector ends; a level-triggered one is broadcast to the IOAPIC. */
  eoi(): void {
    const v = highestVector(this.view, ApicReg.ISR);
    if (v < 0) return;
    this.setBit(ApicReg.ISR, v, false);
    this.updatePpr();
    if (this.bit(ApicReg.TMR, v)) this.options.onEoi?.(v);
  }

  // ---------------------------------------------------------------- timer

  private get timerMode(): number {
    return this.reg(ApicReg.LVT_TIMER) & this.timerModes;
  }

  private cancelTimer(): void {
    this.timer.cancel();
    this.timerTarget = Number.POSITIVE_INFINITY;
    this.periodNs = 0;
  }

  /** Starts the one-shot or periodic timer with `count` bus cycles to the first expiry (SDM 11.5.4). */
  private startTimer(count: number): void {
    this.cancelTimer();
    const initial = this.reg(ApicReg.TMICT);
    if (initial === 0 || count === 0 || this.timerMode === TIMER_TSC_DEADLINE) return;
    const tick = this.divide * this.busCycleNs;
    if (this.timerMode === TIMER_PERIODIC) this.periodNs = Math.max(initial * tick, LAPIC_MIN_PERIOD_NS);
    this.timerTarget = this.clock.now + count * tick;
    this.timer.arm(this.timerTarget);
  }

  private timerFired(when: number): void {
    this.localDeliver(ApicReg.LVT_TIMER);
    if (this.timerMode === TIMER_TSC_DEADLINE) {
      this.tscDeadlineValue = 0;
      this.timerTarget = Number.POSITIVE_INFINITY;
    } else if (this.timerMode === TIMER_ONESHOT || this.periodNs === 0) {
      this.timerTarget = Number.POSITIVE_INFINITY;
    } else {
      this.timerTarget = when + this.periodNs;
      this.timer.arm(this.timerTarget);
    }
  }

  /** TMCCT: bus cycles (divided) left to the next expiry; 0 once a one-shot has expired. */
  private currentCount(): number {
    if (this.reg(ApicReg.TMICT) === 0 || this.timerMode === TIMER_TSC_DEADLINE) return 0;
    const remaining = this.timerTarget - this.clock.now;
    if (!(remaining > 0) || remaining === Number.POSITIVE_INFINITY) return 0;
    return Math.min(Math.floor(remaining / (this.divide * this.busCycleNs)), 0xffffffff);
  }

  /** WRMSR IA32_TSC_DEADLINE with the guest's TSC now; ignored unless the LVT timer is in TSC-deadline mode. */
  writeTscDeadline(deadline: number, guestTscNow: number): void {
    if (!this.hwEnabled || this.timerMode !== TIMER_TSC_DEADLINE) return;
    this.tscDeadlineValue = deadline;
    this.timer.cancel();
    if (deadline === 0) return;
    const delta = deadline - guestTscNow;
    this.timerTarget = delta <= 0 ? this.clock.now : this.clock.nsAtTsc(this.clock.tsc() + delta);
    this.timer.arm(this.timerTarget);
  }

  /** RDMSR IA32_TSC_DEADLINE (0 outside TSC-deadline mode and after the deadline passed). */
  readTscDeadline(): number {
    return this.timerMode === TIMER_TSC_DEADLINE ? this.tscDeadlineValue : 0;
  }

  // ---------------------------------------------------------------- register access

  /** A register read by offset (32 bits), as both the MMIO page and the MSRs see it. */
  private readReg(offset: number): number {
    switch (offset) {
      case ApicReg.TMCCT:
        return this.currentCount();
      case ApicReg.PPR:
        return this.ppr;
      case ApicReg.ID:
        return this.x2apicMode ? this.id : this.reg(offset);
      case ApicReg.APR:
      case ApicReg.EOI:
      case ApicReg.RRD:
      case ApicReg.SELF_IPI:
        return 0;
      default:
        return offset < KVM_APIC_REG_SIZE ? this.reg(offset) : 0;
    }
  }

  /** A register write by offset; returns false for a write KVM refuses (an x2APIC #GP). */
  private writeReg(offset: number, value: number): boolean {
    const val = value >>> 0;
    switch (offset) {
      case ApicReg.ID:
        if (this.x2apicMode) return false;
        this.setReg(offset, val & 0xff000000);
        return true;
      case ApicReg.TPR:
        this.setReg(offset, val & 0xff);
        this.updatePpr();
        return true;
      case ApicReg.EOI:
        this.eoi();
        return true;
      case ApicReg.LDR:
        if (this.x2apicMode) return false;
        this.setReg(offset, val & 0xff000000);
        return true;
      case ApicReg.DFR:
        if (this.x2apicMode) return false;
        this.setReg(offset, val | 0x0fffffff);
        return true;
      case ApicReg.SVR: {
        this.setReg(offset, val & SVR_MASK);
        if (!(val & SVR_ENABLE)) {
          // Software disable masks every LVT entry (SDM 11.4.7.2).
          for (const r of LVT_REGS) this.setReg(r, this.reg(r) | LVT_MASKED);
        }
        return true;
      }
      case ApicReg.ESR:
        if (this.x2apicMode && val !== 0) return false;
        this.setReg(offset, 0);
        return true;
      case ApicReg.ICR:
        this.setReg(offset, val & ~ICR_BUSY);
        this.sendIpi(val, this.x2apicMode ? this.reg(ApicReg.ICR2) : this.reg(ApicReg.ICR2) >>> 24);
        return true;
      case ApicReg.ICR2:
        if (this.x2apicMode) return false;
        this.setReg(offset, val & 0xff000000);
        return true;
      case ApicReg.LVT_TIMER:
      case ApicReg.LVT_THERMAL:
      case ApicReg.LVT_PMC:
      case ApicReg.LVT_LINT0:
      case ApicReg.LVT_LINT1:
      case ApicReg.LVT_ERROR: {
        let v = val & lvtWriteMask(offset, this.timerModes);
        if (!this.swEnabled) v |= LVT_MASKED;
        const oldMode = this.timerMode;
        this.setReg(offset, (this.reg(offset) & ~lvtWriteMask(offset, this.timerModes)) | v);
        if (offset === ApicReg.LVT_TIMER && oldMode !== this.timerMode) {
          // Switching into or out of TSC-deadline mode disarms the timer (KVM `apic_update_lvtt`).
          if ((oldMode === TIMER_TSC_DEADLINE) !== (this.timerMode === TIMER_TSC_DEADLINE)) {
            this.setReg(ApicReg.TMICT, 0);
            this.tscDeadlineValue = 0;
            this.cancelTimer();
          } else if (this.timerMode === TIMER_PERIODIC && this.reg(ApicReg.TMICT)) {
            this.startTimer(this.currentCount());
          } else {
            this.periodNs = 0;
          }
        }
        return true;
      }
      case ApicReg.TMICT:
        if (this.timerMode === TIMER_TSC_DEADLINE) return true;
        this.setReg(offset, val);
        this.startTimer(val);
        return true;
      case ApicReg.TDCR: {
        const remaining = this.currentCount();
        this.setReg(offset, val & 0xb);
        this.divide = 1 << ((((val & 3) | ((val & 8) >> 1)) + 1) & 7);
        // The count left carries over to the new rate.
        if (remaining > 0) this.startTimer(remaining);
        return true;
      }
      case ApicReg.SELF_IPI:
        if (!this.x2apicMode) return false;
        this.sendIpi((Shorthand.SELF << ICR_SHORTHAND_SHIFT) | (val & 0xff), 0);
        return true;
      default:
        // Read-only and reserved registers: ignored in xAPIC mode, #GP through the MSRs.
        return false;
    }
  }

  private sendIpi(low: number, dest: number): void {
    const msg: ApicMessage = {
      vector: low & 0xff,
      deliveryMode: (low & ICR_DELIVERY_MODE) >> 8,
      destMode: low & ICR_LOGICAL ? DestMode.LOGICAL : DestMode.PHYSICAL,
      dest,
      x2apicDest: this.x2apicMode,
      shorthand: (low >>> ICR_SHORTHAND_SHIFT) & 3,
      triggerMode: low & ICR_LEVEL_TRIGGER ? 1 : 0,
      level: low & ICR_LEVEL_ASSERT ? 1 : 0,
    };
    if (msg.shorthand === Shorthand.SELF && msg.deliveryMode !== DeliveryMode.FIXED) return;
    this.bus.deliver(msg, this);
  }

  /**
   * A guest read of the xAPIC page at `offset` (0-0xfff), 1, 2 or 4 bytes within one register, as KVM's
   * `kvm_lapic_reg_read`; other accesses read 0.
   */
  mmioRead(offset: number, size: number): number {
    const align = offset & 0xf;
    if (align + size > 4 || offset >= KVM_APIC_REG_SIZE) return 0;
    const v = this.readReg(offset & ~0xf);
    return size === 4 ? v : (v >>> (align * 8)) & ((1 << (size * 8)) - 1);
  }

  /** A guest write to the xAPIC page; KVM ignores anything but an aligned 4-byte write. */
  mmioWrite(offset: number, size: number, value: number): void {
    if (size !== 4 || offset & 0xf || offset >= KVM_APIC_REG_SIZE) return;
    this.writeReg(offset, value);
  }

  /** RDMSR of an x2APIC register (0x800-0x8ff); null means #GP (not in x2APIC mode, or no such readable MSR). */
  readMsr(msr: number): bigint | null {
    if (!this.x2apicMode || msr < X2APIC_MSR_BASE || msr > X2APIC_MSR_LAST) return null;
    const offset = (msr - X2APIC_MSR_BASE) << 4;
    if (offset === ApicReg.ICR)
      return (BigInt(this.reg(ApicReg.ICR2)) << 32n) | BigInt(this.reg(ApicReg.ICR));
    if (!X2APIC_READABLE.has(offset)) return null;
    return BigInt(this.readReg(offset) >>> 0);
  }

  /** WRMSR of an x2APIC register; false means #GP. The ICR is one 64-bit register whose write sends the IPI. */
  writeMsr(msr: number, value: bigint): boolean {
    if (!this.x2apicMode || msr < X2APIC_MSR_BASE || msr > X2APIC_MSR_LAST) return false;
    const offset = (msr - X2APIC_MSR_BASE) << 4;
    if (offset === ApicReg.ICR) {
      this.setReg(ApicReg.ICR2, Number(value >> 32n) >>> 0);
      return this.writeReg(ApicReg.ICR, Number(value & 0xffffffffn));
    }
    if (value >> 32n) return false;
    if (offset === ApicReg.EOI && value !== 0n) return false;
    return this.writeReg(offset, Number(value));
  }

  // ---------------------------------------------------------------- KVM_GET_LAPIC / KVM_SET_LAPIC

  /** KVM_GET_LAPIC: the page, with TMCCT and PPR current and the ID in xAPIC form (KVM without x2APIC format). */
  getState(): KvmLapicState {
    const regs = this.regs.slice();
    const v = new DataView(regs.buffer);
    v.setUint32(ApicReg.TMCCT, this.currentCount(), true);
    v.setUint32(ApicReg.PPR, this.ppr, true);
    if (this.x2apicMode) v.setUint32(ApicReg.ID, this.id << 24, true);
    return { regs };
  }

  /** KVM_SET_LAPIC: takes the page; the timer restarts from the saved current count (KVM `__start_apic_timer`). */
  setState(state: KvmLapicState): void {
    if (state.regs.length !== KVM_APIC_REG_SIZE) {
      kvmFail(
        'KVM_SET_LAPIC',
        'EINVAL',
        `the APIC page is ${KVM_APIC_REG_SIZE} bytes, not ${state.regs.length}`,
      );
    }
    this.regs = state.regs.slice();
    this.view = new DataView(this.regs.buffer);
    const tdcr = this.reg(ApicReg.TDCR);
    this.divide = 1 << ((((tdcr & 3) | ((tdcr & 8) >> 1)) + 1) & 7);
    this.updatePpr();
    this.cancelTimer();
    if (this.timerMode !== TIMER_TSC_DEADLINE) this.startTimer(this.reg(ApicReg.TMCCT));
  }
}

/** Registers an x2APIC RDMSR may read (SDM Vol. 3A Table 11-6); the rest #GP. */
const X2APIC_READABLE = new Set<number>([
  ApicReg.ID,
  ApicReg.VERSION,
  ApicReg.TPR,
  ApicReg.PPR,
  ApicReg.LDR,
  ApicReg.SVR,
  ...Array.from({ length: 8 }, (_, i) => ApicReg.ISR + i * 16),
  ...Array.from({ length: 8 }, (_, i) => ApicReg.TMR + i * 16),
  ...Array.from({ length: 8 }, (_, i) => ApicReg.IRR + i * 16),
  ApicReg.ESR,
  ...LVT_REGS,
  ApicReg.TMICT,
  ApicReg.TMCCT,
  ApicReg.TDCR,
]);
