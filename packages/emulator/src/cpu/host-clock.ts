/** The host's monotonic clock, for the run loop's wall-clock bounds and the compiler thread's batching. */

/** Milliseconds on a monotonic clock (`performance` exists in Node and browsers; no node: import). */
export function hostNow(): number {
  return (globalThis as unknown as { performance: { now(): number } }).performance.now();
}
