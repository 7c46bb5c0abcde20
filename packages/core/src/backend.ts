import type { Kvm } from './kvm.js';

/** What a backend reports when asked whether it can run here. */
export interface BackendProbe {
  readonly usable: boolean;
  /** One sentence a person can act on: what was found, or what is missing and how to fix it. */
  readonly reason: string;
}

/**
 * What a backend package provides to `openKvm`: a way to check whether it can run on this host, and a way to
 * open it. `@kvm-ts/native` and `@kvm-ts/emulator` export one as `backend`; a third-party backend registers
 * its own with {@link registerBackend} or passes it to `openKvm` directly.
 */
export interface KvmBackend {
  /** The name `openKvm({ backend })` and `KVM_TS_BACKEND` select it by. */
  readonly name: string;
  /** Whether this backend can run here; cheap, and never throws. */
  probe(): BackendProbe;
  /**
   * Open the system handle (`/dev/kvm` or its equivalent). Throws `KvmError` when it cannot.
   * @param reason why this backend was chosen, kept in `kvm.backend.reason`
   */
  open(reason: string): Kvm;
}

/** Loads a backend on demand, so that its code (and, for native, koffi) loads only when it is asked for. */
export type BackendLoader = () => Promise<KvmBackend>;

async function importBackend(specifier: string): Promise<KvmBackend> {
  // A variable specifier keeps bundlers from pulling every backend into a build that uses one.
  const module = (await import(/* @vite-ignore */ specifier)) as { backend?: KvmBackend };
  if (!module.backend) {
    throw new Error(`${specifier} does not export a kvm-ts backend`);
  }
  return module.backend;
}

const loaders = new Map<string, BackendLoader>([
  ['native', () => importBackend('@kvm-ts/native')],
  ['emulator', () => importBackend('@kvm-ts/emulator')],
]);

/**
 * Makes a backend selectable by name in `openKvm({ backend: name })` and `KVM_TS_BACKEND`. Registering a name
 * again replaces the earlier loader; `auto` still chooses only between native and the emulator.
 */
export function registerBackend(name: string, loader: BackendLoader): void {
  if (name === 'auto') {
    throw new Error("'auto' is not a backend name: it means choosing between native and the emulator");
  }
  loaders.set(name, loader);
}

/** The names of the backends `openKvm` can load (`native`, `emulator`, and any registered). */
export function backendNames(): string[] {
  return [...loaders.keys()];
}

/** Loads the backend registered under `name`, or explains why it cannot. */
export async function loadBackend(name: string): Promise<KvmBackend> {
  const loader = loaders.get(name);
  if (!loader) {
    throw new Error(`unknown kvm-ts backend '${name}' (known: auto, ${backendNames().join(', ')})`);
  }
  return loader();
}
