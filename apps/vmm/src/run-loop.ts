import {
  InternalErrorSuberror,
  IoDirection,
  KvmError,
  type KvmExit,
  SystemEventType,
  type Vcpu,
} from '@kvm-ts/core';
import { type Bus, readLe, writeLe } from './devices/bus.js';

/** How a run ended. Each kind maps to one exit status ({@link exitStatus}). */
export type RunOutcome =
  | { readonly kind: 'exit-port'; readonly status: number }
  | { readonly kind: 'poweroff' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'halted' }
  | { readonly kind: 'triple-fault'; readonly rip: bigint | null }
  | { readonly kind: 'internal-error'; readonly detail: string }
  | { readonly kind: 'timeout'; readonly seconds: number }
  | { readonly kind: 'stopped'; readonly by: string };

/** A finished run: its outcome, a one-line reason for people, and how many exits it took. */
export interface RunResult {
  readonly outcome: RunOutcome;
  readonly reason: string;
  readonly exits: number;
}

/**
 * The process exit status for an outcome: 0 for power-off, reset and halt; the exit port's `(v << 1) | 1` (odd);
 * and even statuses for the VMM's own verdicts, so the two never collide.
 */
export function exitStatus(outcome: RunOutcome): number {
  switch (outcome.kind) {
    case 'poweroff':
    case 'reset':
    case 'halted':
      return 0;
    case 'exit-port':
      return outcome.status & 0xff;
    case 'triple-fault':
      return ExitStatus.TRIPLE_FAULT;
    case 'internal-error':
      return ExitStatus.INTERNAL_ERROR;
    case 'timeout':
      return ExitStatus.TIMEOUT;
    case 'stopped':
      return ExitStatus.STOPPED;
  }
}

/** Exit statuses of the VMM's own verdicts (even, unlike the exit port's). */
export const ExitStatus = {
  /** The image or the options were refused before the guest ran. */
  USAGE: 2,
  TRIPLE_FAULT: 4,
  INTERNAL_ERROR: 6,
  TIMEOUT: 8,
  /** Stopped by the user (SIGINT, Ctrl-A X), as a shell reports an interrupted command. */
  STOPPED: 130,
} as const;

/** The one-line reason for an outcome. */
export function describeOutcome(outcome: RunOutcome): string {
  switch (outcome.kind) {
    case 'exit-port':
      return `guest wrote ${(outcome.status >>> 1).toString()} to the exit port (status ${outcome.status})`;
    case 'poweroff':
      return 'guest powered off';
    case 'reset':
      return 'guest reset the machine';
    case 'halted':
      return 'guest halted';
    case 'triple-fault':
      return `guest triple-faulted (KVM_EXIT_SHUTDOWN)${outcome.rip === null ? '' : ` at RIP 0x${outcome.rip.toString(16)}`}`;
    case 'internal-error':
      return `internal error: ${outcome.detail}`;
    case 'timeout':
      return `timed out after ${outcome.seconds} s`;
    case 'stopped':
      return `stopped by ${outcome.by}`;
  }
}

/** Serves one IO exit from the port bus, item by item for `rep ins`/`rep outs`. */
export function dispatchIo(exit: Extract<KvmExit, { reason: 'io' }>, ports: Bus): void {
  for (let i = 0; i < exit.count; i++) {
    const at = i * exit.size;
    if (exit.direction === IoDirection.OUT) {
      ports.write(exit.port, exit.size, readLe(exit.data, at, exit.size));
    } else {
      writeLe(exit.data, at, exit.size, ports.read(exit.port, exit.size));
    }
  }
}

/** Serves one MMIO exit from the MMIO bus, in 4-byte pieces at most. */
export function dispatchMmio(exit: Extract<KvmExit, { reason: 'mmio' }>, mmio: Bus): void {
  const addr = Number(exit.physAddr);
  for (let at = 0; at < exit.len; at += 4) {
    const size = Math.min(4, exit.len - at);
    if (exit.isWrite) mmio.write(addr + at, size, readLe(exit.data, at, size));
    else writeLe(exit.data, at, size, mmio.read(addr + at, size));
  }
}

/** One line describing an exit, for `--trace-exits`. */
export function describeExit(exit: KvmExit): string {
  switch (exit.reason) {
    case 'io': {
      const dir = exit.direction === IoDirection.OUT ? 'out' : 'in';
      const value = readLe(exit.data, 0, exit.size).toString(16);
      const rep = exit.count > 1 ? ` x${exit.count}` : '';
      return `io ${dir} port 0x${exit.port.toString(16)} size ${exit.size}${rep} value 0x${value}`;
    }
    case 'mmio':
      return `mmio ${exit.isWrite ? 'write' : 'read'} 0x${exit.physAddr.toString(16)} len ${exit.len} value 0x${readLe(exit.data, 0, Math.min(4, exit.len)).toString(16)}`;
    case 'internal_error':
      return `internal_error suberror ${exit.suberror} data ${exit.data.map((d) => `0x${d.toString(16)}`).join(' ')}`;
    case 'system_event':
      return `system_event type ${exit.type}`;
    default:
      return exit.reason;
  }
}

const suberrorNames = new Map<number, string>(Object.entries(InternalErrorSuberror).map(([k, v]) => [v, k]));

/**
 * What an exit means for the loop: `null` to keep running (the buses have served it), otherwise how the run
 * ends. `vcpu` is read only for the RIP of a triple fault.
 */
export function handleExit(exit: KvmExit, vcpu: Vcpu, ports: Bus, mmio: Bus): RunOutcome | null {
  switch (exit.reason) {
    case 'io':
      dispatchIo(exit, ports);
      return null;
    case 'mmio':
      dispatchMmio(exit, mmio);
      return null;
    case 'intr':
    case 'irq_window_open':
      return null;
    case 'hlt':
      return { kind: 'halted' };
    case 'shutdown': {
      let rip: bigint | null = null;
      try {
        rip = vcpu.getRegs().rip;
      } catch {
        // The RIP is a courtesy in the message; the outcome stands without it.
      }
      return { kind: 'triple-fault', rip };
    }
    case 'system_event':
      if (exit.type === SystemEventType.SHUTDOWN) return { kind: 'poweroff' };
      if (exit.type === SystemEventType.RESET) return { kind: 'reset' };
      return { kind: 'internal-error', detail: `system event ${exit.type}` };
    case 'internal_error':
      return {
        kind: 'internal-error',
        detail: `KVM_EXIT_INTERNAL_ERROR ${suberrorNames.get(exit.suberror) ?? exit.suberror}${exit.data.length ? ` (data ${exit.data.map((d) => `0x${d.toString(16)}`).join(' ')})` : ''}`,
      };
    case 'fail_entry':
      return {
        kind: 'internal-error',
        detail: `KVM_EXIT_FAIL_ENTRY, hardware reason 0x${exit.hardwareEntryFailureReason.toString(16)}`,
      };
    default:
      return {
        kind: 'internal-error',
        detail: `unexpected exit '${exit.reason}' (KVM_EXIT code ${exit.code})`,
      };
  }
}

/** Options of {@link RunLoop}. */
export interface RunLoopOptions {
  /** Wall-clock limit in seconds; none by default. */
  timeoutSeconds?: number;
  /** Called with one line per exit (`--trace-exits`); with several vCPUs each line starts with `cpuN`. */
  trace?: (line: string) => void;
  /** Called each time the loop yields to the event loop (flush buffered output here). */
  onYield?: () => void;
  /** Interrupts long `run()` calls; without one a guest that never exits holds the event loop. */
  kicker?: { entering(): void; left(): void };
  /** How long the loop may run exits back to back before yielding, in milliseconds. */
  sliceMs?: number;
}

/** A result's exit count and outcome while the run goes on. */
interface Progress {
  exits: number;
}

/**
 * Runs a machine's vCPUs until the guest powers off, resets, writes the exit port, faults, times out or is
 * stopped: exits of every vCPU go to the same port and MMIO buses, and the loop yields to the event loop every
 * few milliseconds so terminal input, signals and timers are handled while the guest runs.
 *
 * One vCPU, or vCPUs without `runAsync` (the emulator, whose `run()` returns within a bounded slice), run on
 * this thread in turn, one `run()` each. Several vCPUs with `runAsync` (native: each on a thread of its own)
 * run at the same time, each awaited by its own loop here, so a KVM_RUN never blocks the others. One vCPU keeps
 * the synchronous path even when it could run on a thread: an exit costs one system call there, not a
 * hand-over between threads.
 */
export class RunLoop {
  private finished: RunOutcome | null = null;
  private readonly vcpus: readonly Vcpu[];

  constructor(
    vcpus: Vcpu | readonly Vcpu[],
    private readonly ports: Bus,
    private readonly mmio: Bus,
    private readonly options: RunLoopOptions = {},
  ) {
    this.vcpus = Array.isArray(vcpus) ? vcpus : [vcpus as Vcpu];
    if (this.vcpus.length === 0) throw new RangeError('a run loop needs at least one vCPU');
  }

  /**
   * Ends the run after the current exits with `outcome` (devices and signal handlers call this). Every vCPU's
   * `immediateExit` is set, so its next run returns at once, and a `runAsync()` in progress returns promptly.
   */
  finish(outcome: RunOutcome): void {
    this.finished ??= outcome;
    for (const vcpu of this.vcpus) vcpu.immediateExit = true;
  }

  /** Runs the guest to its end. */
  async run(): Promise<RunResult> {
    const { timeoutSeconds, onYield } = this.options;
    const progress: Progress = { exits: 0 };
    const threaded = this.vcpus.length > 1 && this.vcpus.every((vcpu) => vcpu.runAsync !== undefined);
    // The deadline as a timer too: a vCPU waiting in KVM_RUN on its thread makes no exit to check it at.
    const timer =
      timeoutSeconds === undefined
        ? null
        : setTimeout(() => this.finish({ kind: 'timeout', seconds: timeoutSeconds }), timeoutSeconds * 1000);
    try {
      if (threaded) await this.runThreaded(progress);
      else await this.runInTurn(progress);
    } finally {
      if (timer) clearTimeout(timer);
      onYield?.();
    }
    const outcome = this.finished ?? {
      kind: 'internal-error',
      detail: 'the run loop ended without an outcome',
    };
    return { outcome, reason: describeOutcome(outcome), exits: progress.exits };
  }

  /** Handles one exit of `vcpu`: the trace line, the buses, and the run's end if the exit means one. */
  private handle(exit: KvmExit, vcpu: Vcpu, progress: Progress): void {
    progress.exits++;
    const { trace } = this.options;
    if (trace) trace(this.vcpus.length > 1 ? `cpu${vcpu.id} ${describeExit(exit)}` : describeExit(exit));
    const outcome = handleExit(exit, vcpu, this.ports, this.mmio);
    if (outcome) this.finish(outcome);
  }

  /** Every vCPU on this thread, one `run()` each in turn. */
  private async runInTurn(progress: Progress): Promise<void> {
    const { timeoutSeconds, onYield, kicker } = this.options;
    const sliceMs = this.options.sliceMs ?? 10;
    const deadline =
      timeoutSeconds === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutSeconds * 1000;
    let lastYield = Date.now();
    for (let next = 0; this.finished === null; next = (next + 1) % this.vcpus.length) {
      const vcpu = this.vcpus[next];
      kicker?.entering();
      let exit: KvmExit;
      try {
        exit = vcpu.run();
      } finally {
        kicker?.left();
      }
      this.handle(exit, vcpu, progress);
      if (this.finished) break;
      const now = Date.now();
      if (now >= deadline) {
        this.finish({ kind: 'timeout', seconds: timeoutSeconds ?? 0 });
        break;
      }
      if ((exit.reason === 'intr' && this.vcpus.length === 1) || now - lastYield >= sliceMs) {
        onYield?.();
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = Date.now();
      }
    }
  }

  /**
   * Every vCPU on its own thread through `runAsync()`, each awaited by a loop of its own here. The first
   * failure stops the others before it is raised.
   */
  private async runThreaded(progress: Progress): Promise<void> {
    const { onYield } = this.options;
    const sliceMs = this.options.sliceMs ?? 10;
    const flush = onYield ? setInterval(onYield, sliceMs) : null;
    const one = async (vcpu: Vcpu & { runAsync(): Promise<KvmExit> }) => {
      let lastYield = Date.now();
      while (this.finished === null) {
        let exit: KvmExit | null = null;
        try {
          exit = await vcpu.runAsync();
        } catch (error) {
          // An AP that waited in KVM_RUN for INIT/SIPI returns EAGAIN once it takes them: run it again.
          if (!(error instanceof KvmError && error.code === 'EAGAIN')) throw error;
        }
        if (exit) this.handle(exit, vcpu, progress);
        // A backend whose runAsync() resolves without waiting must still let the event loop in.
        if (Date.now() - lastYield >= sliceMs) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          lastYield = Date.now();
        }
      }
    };
    try {
      const results = await Promise.allSettled(
        this.vcpus.map(async (vcpu) => {
          try {
            await one(vcpu as Vcpu & { runAsync(): Promise<KvmExit> });
          } catch (error) {
            this.finish({ kind: 'internal-error', detail: `vCPU ${vcpu.id}: ${String(error)}` });
            throw error;
          }
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      if (flush) clearInterval(flush);
    }
  }
}
