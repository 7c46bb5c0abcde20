/**
 * The one virtual time base of an emulated VM. The TSC, the PIT and every local APIC timer derive from it, so a
 * guest that calibrates one against another (Linux measures the TSC against PIT channel 2) finds consistent
 * values. Time moves only when the run loop says so: by instructions retired (`retire`) or explicitly
 * (`advance`, e.g. to skip a halted vCPU ahead to `nextDeadline()`). Nothing here reads a host clock.
 */
import { holdDoubles, holdMutable } from '../hidden-classes.js';

/** Nanoseconds in a second. */
const NS_PER_SEC = 1_000_000_000;

/** A timer on the virtual clock: armed at an absolute deadline, fired once when time reaches it. */
export interface ClockTimer {
  /** The armed deadline in virtual nanoseconds, or `Infinity` when disarmed. */
  readonly deadline: number;
  /** Arms (or re-arms) the timer at an absolute virtual time. */
  arm(deadlineNs: number): void;
  /** Disarms the timer. */
  cancel(): void;
}

class Timer implements ClockTimer {
  deadline = Number.POSITIVE_INFINITY;
  constructor(readonly fire: (deadlineNs: number) => void) {
    holdMutable(this);
  }
  arm(deadlineNs: number): void {
    this.deadline = deadlineNs;
  }
  cancel(): void {
    this.deadline = Number.POSITIVE_INFINITY;
  }
}

/**
 * `value * numerator / denominator`, floored, exact for integer `value` up to 2^53 as long as
 * `numerator * denominator` stays below 2^53 (splitting `value` keeps every product in range).
 */
export function scaleFloor(value: number, numerator: number, denominator: number): number {
  const whole = Math.floor(value / denominator);
  const rest = value - whole * denominator;
  return whole * numerator + Math.floor((rest * numerator) / denominator);
}

/** Options of {@link VirtualClock}. */
export interface VirtualClockOptions {
  /** Virtual nanoseconds that one retired instruction takes (default 1: a 1 GHz, one-instruction-a-cycle CPU). */
  nsPerInstruction?: number;
  /** The TSC's frequency in Hz (default 1 GHz, so the TSC counts nanoseconds). */
  tscHz?: number;
}

/** The VM's virtual clock; see the file comment. */
export class VirtualClock {
  /** Virtual nanoseconds since the VM was created (may be fractional when `nsPerInstruction` is). */
  private nowNs = 0;
  private readonly timers: Timer[] = [];
  readonly nsPerInstruction: number;
  readonly tscHz: number;

  constructor(options: VirtualClockOptions = {}) {
    this.nsPerInstruction = options.nsPerInstruction ?? 1;
    this.tscHz = options.tscHz ?? NS_PER_SEC;
    if (!(this.nsPerInstruction > 0)) throw new RangeError('nsPerInstruction must be positive');
    if (!(this.tscHz > 0 && Number.isInteger(this.tscHz)))
      throw new RangeError('tscHz must be a positive integer');
    // Nanoseconds outgrow small integers a second into a boot: a double from the start.
    holdDoubles(this as unknown as { nowNs: number }, ['nowNs']);
    holdMutable(this);
  }

  /** The current virtual time in nanoseconds. */
  get now(): number {
    return this.nowNs;
  }

  /** Creates a timer whose callback runs with the clock set to the timer's deadline. */
  createTimer(fire: (deadlineNs: number) => void): ClockTimer {
    const t = new Timer(fire);
    this.timers.push(t);
    return t;
  }

  /** The earliest armed deadline (virtual ns), or `Infinity`: where a halted vCPU may skip to. */
  nextDeadline(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const t of this.timers) if (t.deadline < next) next = t.deadline;
    return next;
  }

  /** Moves time on by `ns`, firing every timer that falls due on the way, in deadline order. */
  advance(ns: number): void {
    if (!(ns >= 0)) throw new RangeError(`cannot advance the clock by ${ns} ns`);
    this.advanceTo(this.nowNs + ns);
  }

  /** Moves time on to the absolute virtual time `targetNs` (no-op if it is in the past). */
  advanceTo(targetNs: number): void {
    for (;;) {
      let first: Timer | null = null;
      for (const t of this.timers)
        if (t.deadline <= targetNs && (!first || t.deadline < first.deadline)) first = t;
      if (!first) break;
      const when = first.deadline;
      if (when > this.nowNs) this.nowNs = when;
      first.deadline = Number.POSITIVE_INFINITY;
      first.fire(when);
    }
    if (targetNs > this.nowNs) this.nowNs = targetNs;
  }

  /** Accounts for `count` retired instructions. */
  retire(count: number): void {
    this.advance(count * this.nsPerInstruction);
  }

  /** The TSC value (before any guest offset) at virtual time `ns`. */
  tscAt(ns: number): number {
    const whole = Math.floor(ns);
    if (this.tscHz === NS_PER_SEC) return whole;
    return Number((BigInt(whole) * BigInt(this.tscHz)) / BigInt(NS_PER_SEC));
  }

  /** The TSC value now. */
  tsc(): number {
    return this.tscAt(this.nowNs);
  }

  /** The first virtual time (whole ns) at which the TSC reads at least `tsc`: for TSC-deadline timers. */
  nsAtTsc(tsc: number): number {
    if (this.tscHz === NS_PER_SEC) return Math.ceil(tsc);
    const hz = BigInt(this.tscHz);
    return Number((BigInt(Math.ceil(tsc)) * BigInt(NS_PER_SEC) + hz - 1n) / hz);
  }
}
