import { type Kvm, openKvm } from '@kvm-ts/core';
import { type LoadImageOptions, loadImage } from '../../src/boot/detect.js';
import { Machine } from '../../src/machine.js';
import type { RunResult } from '../../src/run-loop.js';

/** Whether a backend opens here, and if not, why (printed when its tests are skipped). */
export async function probeBackend(name: string): Promise<{ usable: boolean; reason: string }> {
  try {
    const kvm = await openKvm({ backend: name });
    const reason = `${kvm.backend.name} (${kvm.backend.flavour})`;
    kvm.close();
    return { usable: true, reason };
  } catch (error) {
    return { usable: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** What a guest run produced. */
export interface GuestRun {
  result: RunResult;
  output: string;
  flavour: string;
}

/**
 * Boots `image` on a fresh machine of `backend` through the same path as `kvm-ts run`, with an optional
 * keystroke schedule for the serial port.
 */
export async function runGuest(
  backend: string,
  image: Uint8Array,
  load: Omit<LoadImageOptions, 'ramSize' | 'file'> & { ramSize?: number },
  options: { timeoutSeconds?: number; input?: { afterMs: number; bytes: string } } = {},
): Promise<GuestRun> {
  const kvm: Kvm = await openKvm({ backend });
  const ramSize = load.ramSize ?? 32 << 20;
  const bytes: number[] = [];
  const machine = Machine.create(kvm, { memSize: ramSize, output: (b) => bytes.push(b) });
  try {
    machine.load(loadImage(image, { ...load, file: 'test guest', ramSize }), 'test guest');
    const { input } = options;
    const timer = input
      ? setTimeout(() => machine.serial.receive(new TextEncoder().encode(input.bytes)), input.afterMs)
      : null;
    const result = await machine.run({ timeoutSeconds: options.timeoutSeconds ?? 30 });
    if (timer) clearTimeout(timer);
    return { result, output: Buffer.from(bytes).toString('latin1'), flavour: kvm.backend.flavour };
  } finally {
    machine.close();
    kvm.close();
  }
}
