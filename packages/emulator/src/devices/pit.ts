/**
 * The Intel 8254 programmable interval timer as KVM keeps it in the kernel (KVM_CREATE_PIT2, `arch/x86/kvm/i8254.c`):
 * three 16-bit down-counters clocked at 1.193182 MHz from the VM's {@link VirtualClock}, modes 0-5, counter latch
 * and read-back, LSB/MSB/word access, BCD, gates; channel 0's OUT drives IRQ 0 and port 0x61 gives channel 2's
 * gate (bit 0), the speaker data bit (bit 1) and channel 2's OUT (bit 5), which Linux polls to calibrate the TSC.
 * Counts are computed from the time the count was loaded, never ticked, so reading them costs nothing when idle.
 */
import { type KvmPitChannelState, type KvmPitState2, kvmFail, PitFlag } from '@kvm-ts/core';
import { holdDoubles, holdMutable } from '../hidden-classes.js';
import { type ClockTimer, scaleFloor, type VirtualClock } from './virtual-clock.js';

/** The PIT's input clock in Hz (Intel 8254 as wired in the PC: 14.31818 MHz / 12). */
export const PIT_HZ = 1_193_182;
/** I/O port of channel `n`'s counter is `PIT_PORT_CHANNEL0 + n`. */
export const PIT_PORT_CHANNEL0 = 0x40;
/** I/O port of the mode/command register (write-only). */
export const PIT_PORT_COMMAND = 0x43;
/** I/O port of the NMI status and control register ("port B"): channel 2's gate, speaker, channel 2's OUT. */
export const PIT_PORT_SPEAKER = 0x61;

/** Port 0x61 bit 0: channel 2's GATE input. */
const P61_GATE2 = 0x01;
/** Port 0x61 bit 1: speaker data enable. */
const P61_SPEAKER_DATA = 0x02;
/** Port 0x61 bit 4: the refresh-request toggle (flips every 2^14 ns in KVM). */
const P61_REFRESH = 0x10;
/** Port 0x61 bit 5: channel 2's OUT. */
const P61_OUT2 = 0x20;

/** Command bits 7-6: the channel selected; 3 means read-back. */
const CMD_READ_BACK = 3;
/** Read-back bit 5 (active low): latch the count of the selected channels. */
const RB_NO_COUNT = 0x20;
/** Read-back bit 4 (active low): latch the status of the selected channels. */
const RB_NO_STATUS = 0x10;
/** Status byte bit 7: the channel's OUT pin. */
const STATUS_OUT = 0x80;

/** Access states (`kvm_pit_channel_state.read_state`/`write_state`, values as KVM's RW_STATE_*). */
const RwState = {
  /** Low byte only. */
  LSB: 1,
  /** High byte only. */
  MSB: 2,
  /** Word, next byte is the low one. */
  WORD0: 3,
  /** Word, next byte is the high one. */
  WORD1: 4,
} as const;

/** Nanoseconds in a second. */
const NS_PER_SEC = 1_000_000_000;
/** KVM refuses periodic PIT timers faster than this (`min_timer_period_us`, 200 µs): a guest cannot flood the host. */
export const PIT_MIN_PERIOD_NS = 200_000;

function toBcd(n: number): number {
  return (
    (n % 10) |
    ((Math.floor(n / 10) % 10) << 4) |
    ((Math.floor(n / 100) % 10) << 8) |
    ((Math.floor(n / 1000) % 10) << 12)
  );
}

function fromBcd(n: number): number {
  return (n & 0xf) + ((n >> 4) & 0xf) * 10 + ((n >> 8) & 0xf) * 100 + ((n >> 12) & 0xf) * 1000;
}

/** Modes 6 and 7 are aliases of 2 and 3 (8254 datasheet, control word format). */
function effectiveMode(mode: number): number {
  return mode >= 6 ? mode - 4 : mode;
}

class Channel {
  /** The loaded count in input clocks (0x10000 for a written 0; 10000 for a written BCD 0). */
  count = 0x10000;
  latchedCount = 0;
  countLatched = 0;
  statusLatched = 0;
  status = 0;
  readState = 0;
  writeState = 0;
  writeLatch = 0;
  rwMode = 0;
  mode = 0xff;
  bcd = 0;
  gate: number;
  /** Virtual ns at which `count` was loaded (or the gate last triggered it). */
  loadTime = 0;

  constructor(index: number) {
    this.gate = index === 2 ? 0 : 1;
    // A virtual-nanosecond time, past small integers a second into a boot.
    holdDoubles(this, ['loadTime']);
    holdMutable(this);
  }

  /** Input clocks elapsed since the count was loaded. */
  ticks(now: number): number {
    return scaleFloor(Math.max(0, Math.floor(now - this.loadTime)), PIT_HZ, NS_PER_SEC);
  }

  /** The counting element's value now (binary; 8254 datasheet, operation of each mode). */
  counter(now: number): number {
    const d = this.ticks(now);
    const n = this.count;
    switch (effectiveMode(this.mode)) {
      case 2:
        return n - (d % n);
      case 3:
        // Square wave: the count decrements by two each clock (the datasheet's even-count behaviour).
        return n - ((2 * d) % n);
      default: {
        // Modes 0, 1, 4, 5 wrap at zero and keep counting down.
        const mod = this.bcd ? 10000 : 0x10000;
        return (((n - d) % mod) + mod) % mod;
      }
    }
  }

  /** The OUT pin now. */
  out(now: number): number {
    const d = this.ticks(now);
    const n = this.count;
    switch (effectiveMode(this.mode)) {
      case 0:
        return d >= n ? 1 : 0;
      case 1:
        return d < n ? 0 : 1;
      case 2:
        // High, low for the one clock while the counter holds 1, then reloaded.
        if (!this.gate) return 1;
        return d % n === n - 1 ? 0 : 1;
      case 3:
        if (!this.gate) return 1;
        return d % n < (n + 1) >> 1 ? 1 : 0;
      case 4:
      case 5:
        return d === n ? 0 : 1;
      default:
        return 0;
    }
  }

  /** Virtual ns of the next rising edge of OUT (the IRQ 0 edge), or `Infinity`. */
  nextRise(now: number): number {
    const n = this.count;
    const d = this.ticks(now);
    let tick: number;
    switch (effectiveMode(this.mode)) {
      case 0:
      case 1:
        if (d >= n) return Number.POSITIVE_INFINITY;
        tick = n;
        break;
      case 4:
      case 5:
        if (d >= n + 1) return Number.POSITIVE_INFINITY;
        tick = n + 1;
        break;
      case 2:
      case 3: {
        if (!this.gate) return Number.POSITIVE_INFINITY;
        tick = (Math.floor(d / n) + 1) * n;
        break;
      }
      default:
        return Number.POSITIVE_INFINITY;
    }
    // The first whole ns at which `tick` clocks have elapsed.
    let t = this.loadTime + Math.ceil((tick * NS_PER_SEC) / PIT_HZ);
    while (scaleFloor(Math.floor(t - this.loadTime), PIT_HZ, NS_PER_SEC) < tick) t++;
    return t;
  }

  /** The count as the guest reads it (BCD-coded in BCD mode). */
  readable(now: number): number {
    const v = this.counter(now) & 0xffff;
    return this.bcd ? toBcd(this.counter(now) % 10000) : v;
  }

  statusByte(now: number): number {
    return (this.out(now) ? STATUS_OUT : 0) | (this.rwMode << 4) | ((this.mode & 7) << 1) | this.bcd;
  }

  save(): KvmPitChannelState {
    return {
      count: this.count,
      latchedCount: this.latchedCount,
      countLatched: this.countLatched,
      statusLatched: this.statusLatched,
      status: this.status,
      readState: this.readState,
      writeState: this.writeState,
      writeLatch: this.writeLatch,
      rwMode: this.rwMode,
      mode: this.mode,
      bcd: this.bcd,
      gate: this.gate,
      countLoadTime: BigInt(Math.floor(this.loadTime)),
    };
  }

  restore(s: KvmPitChannelState): void {
    this.count = s.count === 0 ? 0x10000 : s.count & 0x1ffff;
    this.latchedCount = s.latchedCount & 0xffff;
    this.countLatched = s.countLatched & 0xff;
    this.statusLatched = s.statusLatched & 0xff;
    this.status = s.status & 0xff;
    this.readState = s.readState & 0xff;
    this.writeState = s.writeState & 0xff;
    this.writeLatch = s.writeLatch & 0xff;
    this.rwMode = s.rwMode & 0xff;
    this.mode = s.mode & 0xff;
    this.bcd = s.bcd ? 1 : 0;
    this.gate = s.gate ? 1 : 0;
    this.loadTime = Number(s.countLoadTime);
  }
}

/** Options of {@link Pit}. */
export interface PitOptions {
  /** The VM's clock. */
  clock: VirtualClock;
  /**
   * GSI 0's line. KVM's default routing takes it to the master PIC's input 0 and IOAPIC pin 0; VMMs that
   * advertise the usual IRQ 0 -> pin 2 override reroute it with KVM_SET_GSI_ROUTING.
   */
  setIrq0: (level: number) => void;
  /** `kvm_pit_config.flags` ({@link PitFlag}.SPEAKER_DUMMY: port 0x61 is decoded by the PIT). */
  configFlags?: number;
}

/** The in-kernel i8254 (see the file comment). */
export class Pit {
  private readonly channels = [new Channel(0), new Channel(1), new Channel(2)];
  /** `kvm_pit_state2.flags`: HPET legacy routing (IRQ 0 off) and speaker data. */
  private flags = 0;
  private readonly clock: VirtualClock;
  private readonly setIrq0: (level: number) => void;
  private readonly timer: ClockTimer;
  /** Whether the VMM asked for port 0x61 (KVM_PIT_SPEAKER_DUMMY); the run loop routes it here only then. */
  readonly decodesSpeakerPort: boolean;

  constructor(options: PitOptions) {
    this.clock = options.clock;
    this.setIrq0 = options.setIrq0;
    this.decodesSpeakerPort = ((options.configFlags ?? 0) & PitFlag.SPEAKER_DUMMY) !== 0;
    this.timer = this.clock.createTimer((when) => this.channel0Fired(when));
    holdMutable(this);
  }

  /** Whether `port` is one of the PIT's (0x40-0x43, and 0x61 with KVM_PIT_SPEAKER_DUMMY). */
  handlesPort(port: number): boolean {
    return (
      (port >= PIT_PORT_CHANNEL0 && port <= PIT_PORT_COMMAND) ||
      (this.decodesSpeakerPort && port === PIT_PORT_SPEAKER)
    );
  }

  /** An 8-bit IN from 0x40-0x42 or 0x61 (0x43 reads as 0xff: write-only). */
  ioRead(port: number): number {
    if (port === PIT_PORT_SPEAKER) return this.readSpeaker();
    if (port === PIT_PORT_COMMAND) return 0xff;
    const ch = this.channels[port - PIT_PORT_CHANNEL0];
    const now = this.clock.now;
    if (ch.statusLatched) {
      ch.statusLatched = 0;
      return ch.status;
    }
    if (ch.countLatched) {
      switch (ch.countLatched) {
        case RwState.MSB:
          ch.countLatched = 0;
          return (ch.latchedCount >> 8) & 0xff;
        case RwState.WORD0:
          ch.countLatched = RwState.MSB;
          return ch.latchedCount & 0xff;
        default:
          ch.countLatched = 0;
          return ch.latchedCount & 0xff;
      }
    }
    const v = ch.readable(now);
    switch (ch.readState) {
      case RwState.MSB:
        return (v >> 8) & 0xff;
      case RwState.WORD0:
        ch.readState = RwState.WORD1;
        return v & 0xff;
      case RwState.WORD1:
        ch.readState = RwState.WORD0;
        return (v >> 8) & 0xff;
      default:
        return v & 0xff;
    }
  }

  /** An 8-bit OUT to 0x40-0x43 or 0x61. */
  ioWrite(port: number, value: number): void {
    const v = value & 0xff;
    if (port === PIT_PORT_SPEAKER) {
      this.writeSpeaker(v);
      return;
    }
    if (port === PIT_PORT_COMMAND) {
      this.writeCommand(v);
      return;
    }
    const index = port - PIT_PORT_CHANNEL0;
    const ch = this.channels[index];
    switch (ch.writeState) {
      case RwState.MSB:
        this.load(index, v << 8);
        break;
      case RwState.WORD0:
        ch.writeLatch = v;
        ch.writeState = RwState.WORD1;
        break;
      case RwState.WORD1:
        this.load(index, ch.writeLatch | (v << 8));
        ch.writeState = RwState.WORD0;
        break;
      default:
        this.load(index, v);
    }
  }

  private writeCommand(v: number): void {
    const now = this.clock.now;
    const sel = v >> 6;
    if (sel === CMD_READ_BACK) {
      for (let i = 0; i < 3; i++) {
        if (!(v & (2 << i))) continue;
        const ch = this.channels[i];
        if (!(v & RB_NO_COUNT)) this.latchCount(ch, now);
        if (!(v & RB_NO_STATUS) && !ch.statusLatched) {
          ch.status = ch.statusByte(now);
          ch.statusLatched = 1;
        }
      }
      return;
    }
    const ch = this.channels[sel];
    const access = (v >> 4) & 3;
    if (access === 0) {
      this.latchCount(ch, now);
      return;
    }
    ch.rwMode = access;
    ch.readState = access;
    ch.writeState = access;
    // Modes 6 and 7 are stored as the 2 and 3 they alias, as KVM does.
    ch.mode = effectiveMode((v >> 1) & 7);
    ch.bcd = v & 1;
    // A new control word stops channel 0's interrupts until a count is written (8254: "counting is stopped").
    if (sel === 0) this.timer.cancel();
  }

  private latchCount(ch: Channel, now: number): void {
    // A second latch before the first is read is ignored (8254 datasheet, counter latch command).
    if (ch.countLatched) return;
    ch.latchedCount = ch.readable(now);
    ch.countLatched = ch.rwMode;
  }

  private load(index: number, raw: number): void {
    const ch = this.channels[index];
    let n = ch.bcd ? fromBcd(raw) : raw;
    if (n === 0) n = ch.bcd ? 10000 : 0x10000;
    ch.count = n;
    ch.loadTime = this.clock.now;
    if (index === 0) this.armChannel0();
  }

  private armChannel0(): void {
    const ch = this.channels[0];
    if (this.flags & PitFlag.HPET_LEGACY) {
      this.timer.cancel();
      return;
    }
    const next = ch.nextRise(this.clock.now);
    this.timer.arm(next);
  }

  private channel0Fired(when: number): void {
    const ch = this.channels[0];
    // Pulse IRQ 0 (an edge, as KVM's pit timer does with kvm_set_irq 1 then 0).
    this.setIrq0(1);
    this.setIrq0(0);
    const mode = effectiveMode(ch.mode);
    if (mode === 2 || mode === 3) {
      const periodNs = (ch.count * NS_PER_SEC) / PIT_HZ;
      if (periodNs < PIT_MIN_PERIOD_NS) {
        // Clamped like KVM: the guest gets at most one tick per 200 µs.
        this.timer.arm(when + PIT_MIN_PERIOD_NS);
        return;
      }
      this.timer.arm(ch.nextRise(when));
    }
  }

  /** Sets channel `index`'s GATE input (only channel 2's is wired, to port 0x61 bit 0). */
  setGate(index: number, level: number): void {
    const ch = this.channels[index];
    const rising = !ch.gate && level;
    ch.gate = level ? 1 : 0;
    const mode = effectiveMode(ch.mode);
    // Modes 1, 2, 3, 5 (re)start on a rising edge; modes 0 and 4 would pause while low, which KVM does not model.
    if (rising && (mode === 1 || mode === 2 || mode === 3 || mode === 5)) {
      ch.loadTime = this.clock.now;
    }
    if (index === 0) this.armChannel0();
  }

  private readSpeaker(): number {
    const now = this.clock.now;
    const ch2 = this.channels[2];
    return (
      (ch2.gate ? P61_GATE2 : 0) |
      (this.flags & PitFlag.SPEAKER_DATA_ON ? P61_SPEAKER_DATA : 0) |
      (Math.floor(now / 16384) & 1 ? P61_REFRESH : 0) |
      (ch2.out(now) ? P61_OUT2 : 0)
    );
  }

  private writeSpeaker(v: number): void {
    this.flags =
      v & P61_SPEAKER_DATA ? this.flags | PitFlag.SPEAKER_DATA_ON : this.flags & ~PitFlag.SPEAKER_DATA_ON;
    this.setGate(2, v & P61_GATE2);
  }

  /** Channel `index`'s OUT pin now. */
  out(index: number): number {
    return this.channels[index].out(this.clock.now);
  }

  /** KVM_GET_PIT2. */
  getState(): KvmPitState2 {
    return { channels: this.channels.map((c) => c.save()), flags: this.flags };
  }

  /**
   * KVM_SET_PIT2. As KVM does (`kvm_vm_ioctl_set_pit2` reloads channel 0's count), channel 0 starts counting
   * afresh now; channels 1 and 2 keep their load times, pulled back to now if they lie in the future (a state
   * saved on another clock, such as a real KVM's host time, must not stop them).
   */
  setState(state: KvmPitState2): void {
    if (state.channels.length !== 3) kvmFail('KVM_SET_PIT2', 'EINVAL', 'the PIT has exactly 3 channels');
    const now = this.clock.now;
    state.channels.forEach((s, i) => {
      const ch = this.channels[i];
      ch.restore(s);
      if (i === 0 || ch.loadTime > now) ch.loadTime = now;
    });
    this.flags = state.flags & (PitFlag.HPET_LEGACY | PitFlag.SPEAKER_DATA_ON);
    this.timer.cancel();
    this.armChannel0();
  }
}
