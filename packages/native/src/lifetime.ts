/**
 * The safety net for descriptors and mappings whose owner was garbage-collected without `close()`: a
 * FinalizationRegistry that closes the fd or unmaps the memory. `close()` stays the rule; this only keeps a
 * forgotten VM from leaking descriptors for the life of the process.
 */
import { libc } from './libc.js';

/** What to release when a target is collected. */
export interface Held {
  fd?: number;
  mapping?: { address: number; length: number };
}

function release(held: Held): void {
  // Errors cannot be reported from a finalizer; a failure here leaks one resource and nothing more.
  const lib = libc();
  if (held.mapping) lib.munmap(held.mapping.address, held.mapping.length);
  if (held.fd !== undefined) lib.close(held.fd);
}

const registry = new FinalizationRegistry<Held>(release);

/**
 * Releases `held` once `target` is unreachable, unless {@link forget} is called first with the same token.
 * A mapping is registered on the ArrayBuffer viewing it, so that it is unmapped only when no view can reach it.
 */
export function releaseWhenCollected(target: object, held: Held, token: object): void {
  registry.register(target, held, token);
}

/** Cancels {@link releaseWhenCollected} for `token`: the owner released the resource itself. */
export function forget(token: object): void {
  registry.unregister(token);
}
