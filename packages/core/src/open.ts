import { type KvmBackend, loadBackend } from './backend.js';
import { Errno, KvmError } from './errors.js';
import type { Kvm } from './kvm.js';

/** Options of {@link openKvm}. */
export interface OpenKvmOptions {
  /**
   * `'auto'` (native when `/dev/kvm` can be opened, else the emulator), `'native'`, `'emulator'`, the name of
   * a registered backend, or a backend object. When omitted, the environment variable `KVM_TS_BACKEND` decides,
   * and without it `'auto'`.
   */
  backend?: string | KvmBackend;
}

function environmentBackend(): string | undefined {
  // Read through globalThis so that core imports nothing from node: and still honours the variable on Node.
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.KVM_TS_BACKEND?.trim();
  return value ? value : undefined;
}

function openFailure(name: string, error: unknown): KvmError {
  if (error instanceof KvmError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new KvmError(
    'open',
    Errno.ENODEV,
    `the ${name} backend could not be loaded (${detail}); is @kvm-ts/${name} installed?`,
    { cause: error },
  );
}

async function openAuto(): Promise<Kvm> {
  let why: string;
  try {
    const native = await loadBackend('native');
    const probe = native.probe();
    if (probe.usable) {
      return native.open(`auto: ${probe.reason}`);
    }
    why = probe.reason;
  } catch (error) {
    why = `the native backend is not available (${error instanceof Error ? error.message : String(error)})`;
  }
  let emulator: KvmBackend;
  try {
    emulator = await loadBackend('emulator');
  } catch (error) {
    throw openFailure('emulator', error);
  }
  return emulator.open(`auto: ${why}; using the emulator`);
}

/**
 * Opens the KVM system handle on the chosen backend (the equivalent of `open("/dev/kvm")`). The backend is
 * loaded only now, by dynamic import, so a program on the emulator never loads koffi. `kvm.backend` says which
 * backend it is and why it was chosen.
 *
 * @throws KvmError when the chosen backend cannot be loaded or opened (ENODEV, EACCES, ENOENT, ...)
 */
export async function openKvm(options: OpenKvmOptions = {}): Promise<Kvm> {
  const choice = options.backend ?? environmentBackend() ?? 'auto';
  if (typeof choice !== 'string') {
    return choice.open(`chosen by the caller (${choice.name})`);
  }
  if (choice === 'auto') {
    return openAuto();
  }
  const source = options.backend === undefined ? 'KVM_TS_BACKEND' : 'the caller';
  let backend: KvmBackend;
  try {
    backend = await loadBackend(choice);
  } catch (error) {
    throw openFailure(choice, error);
  }
  // No probe here: opening reports its own errno (EACCES for permissions, ENOENT for no /dev/kvm, ...).
  return backend.open(`${choice} was chosen by ${source}`);
}
