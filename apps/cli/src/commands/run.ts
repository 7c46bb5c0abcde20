import { readFile } from 'node:fs/promises';
import { KvmError } from '@kvm-ts/core';
import {
  BootImageError,
  type CpuMode,
  DEMO_GUEST,
  ExitStatus,
  exitStatus,
  type ImageFormat,
  loadImage,
  Machine,
  MP_MAX_CPUS,
  type RunResult,
} from '@kvm-ts/vmm';
import { CliError } from '../cli-error.js';
import { attachInput } from '../terminal.js';
import { keepMainThreadAhead } from '../thread-priority.js';
import { openBackend } from './open-backend.js';

/** The options of `kvm-ts run` (and of `kvm-ts demo`, which fixes the image). */
export interface RunOptions {
  backend?: string;
  format?: ImageFormat;
  mem: number;
  cpus: number;
  loadAddr?: number;
  entry?: number;
  mode?: CpuMode;
  initrd?: string;
  append?: string;
  timeout?: number;
  traceExits?: boolean;
}

/** Where the command writes: guest output to `stdout`, its own messages to `stderr`. */
export interface RunIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new CliError(`cannot read ${what} ${path}: ${code}`);
  }
}

/**
 * Loads an image into a fresh machine on the chosen backend and runs it with the terminal attached. Returns
 * the process exit status (see `exitStatus` in @kvm-ts/vmm).
 */
export async function runImage(
  file: string,
  image: Uint8Array | null,
  options: RunOptions,
  io: RunIo,
): Promise<number> {
  const bytes = image ?? (await readInput(file, 'image'));
  const initrd = options.initrd ? await readInput(options.initrd, 'initrd') : undefined;
  const status = (message: string) => io.stderr.write(`kvm-ts: ${message}\n`);

  const kvm = await openBackend(options.backend);
  status(`backend ${kvm.backend.name} (${kvm.backend.flavour}): ${kvm.backend.reason}`);
  const pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    io.stdout.write(Buffer.from(pending));
    pending.length = 0;
  };
  let machine: Machine;
  try {
    const maxCpus = Machine.maxCpus(kvm);
    if (options.cpus > maxCpus) {
      throw new CliError(
        `--cpus ${options.cpus}: the ${kvm.backend.name} backend runs at most ${maxCpus} vCPUs here (KVM_CAP_MAX_VCPUS, and ${MP_MAX_CPUS} in the MP table)`,
      );
    }
    machine = Machine.create(kvm, {
      memSize: options.mem,
      cpus: options.cpus,
      output: (byte) => pending.push(byte),
    });
  } catch (error) {
    kvm.close();
    if (error instanceof RangeError) throw new CliError(`--mem: ${error.message}`);
    throw error;
  }
  let session: { close(): void } | null = null;
  let stopLowering = () => {};
  const onSigint = () => machine.finish({ kind: 'stopped', by: 'SIGINT' });
  try {
    const plan = loadImage(bytes, {
      file,
      ramSize: options.mem,
      cpus: options.cpus,
      format: options.format,
      mode: options.mode,
      loadAddr: options.loadAddr,
      entry: options.entry,
      cmdline: options.append,
      initrd,
      initrdFile: options.initrd,
    });
    machine.load(plan, file);
    status(
      `loaded ${file} as ${plan.format}: entry 0x${plan.cpu.entry.toString(16)} in ${plan.cpu.mode} mode, ` +
        `${options.mem / 1024 / 1024} MiB, ${options.cpus} vCPU${options.cpus === 1 ? '' : 's'}` +
        `${io.stdin.isTTY ? '; Ctrl-A X quits' : ''}`,
    );
    session = attachInput(
      io.stdin,
      (input) => machine.serial.receive(input),
      () => machine.finish({ kind: 'stopped', by: 'Ctrl-A X' }),
    );
    process.on('SIGINT', onSigint);
    // The emulator's vCPU is this thread: its helper threads (thread-priority.ts) should not take its core.
    if (kvm.backend.name === 'emulator') stopLowering = keepMainThreadAhead();
    const result: RunResult = await machine.run({
      timeoutSeconds: options.timeout,
      onYield: flush,
      trace: options.traceExits ? (line) => io.stderr.write(`exit: ${line}\n`) : undefined,
    });
    flush();
    status(`${result.reason} after ${result.exits} exits`);
    return exitStatus(result.outcome);
  } catch (error) {
    flush();
    if (error instanceof BootImageError)
      throw new CliError(error.message, ExitStatus.USAGE, { cause: error });
    if (error instanceof KvmError)
      throw new CliError(error.message, ExitStatus.INTERNAL_ERROR, { cause: error });
    throw error;
  } finally {
    stopLowering();
    process.off('SIGINT', onSigint);
    session?.close();
    machine.close();
    kvm.close();
  }
}

/** Runs the built-in demo guest: a flat image at 0x7c00 in real mode. */
export function runDemo(
  options: Pick<RunOptions, 'backend' | 'timeout' | 'traceExits'>,
  io: RunIo,
): Promise<number> {
  return runImage(
    'demo guest',
    DEMO_GUEST,
    { ...options, format: 'flat', mode: 'real', mem: 16 * 1024 * 1024, cpus: 1 },
    io,
  );
}
