/**
 * The V8 settings the `kvm-ts` process runs with, for the emulator backend. The emulator compiles hot guest code
 * to thousands of small WebAssembly functions (packages/emulator's wasm tier), in modules a worker thread
 * compiles while the run loop goes on. On a 2-core host every CPU second spent elsewhere is partly taken from the
 * run loop, so these settings move V8's work off it or drop it:
 *
 * - V8 runs each function as Liftoff code and compiles it again with TurboFan once it has spent its tiering
 *   budget. With Node 20's default (1.8 million) a boot of Debian's Linux to /init recompiled about 2,000 block
 *   functions, 2.6 s of CPU on V8's threads; ten times that budget keeps TurboFan for the hot loops.
 * - Node 20 compiles WebAssembly lazily: the worker only validated a module, and each function was compiled by
 *   Liftoff on the run loop's thread at its first call (about 4% of its time). Eager compilation does it on the
 *   worker.
 * - TurboFan optimizes the emulator's JavaScript about 600 times a boot, more than half of them again after a
 *   deoptimization (the guest reaches a path the code had not run yet), and each time inlines callees up to 920
 *   bytecodes into a function by default: the run loop's `execute` alone was compiled 13 times. A quarter of that
 *   leaves the run loop's code about as fast and cuts the compile jobs' time by a third.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * The flags the CLI sets. Boots to /init on a 2-core host, five rounds interleaved, medians of wall time: with
 * the default budget 6.81 s, with 6 M 6.47 s, with 20 M 6.37 s, with 60 M 6.53 s (more run-loop time in Liftoff
 * code than the compiler threads save); then, with 20 M, lazy 6.16 and 6.19 s, eager 6.03 and 5.98 s (the run
 * loop's CPU 5.62 against 5.30 s). Inlining at most 230 bytecodes a function in all (920 by default): TurboFan's
 * jobs took 2.9 s in a boot against 4.3 s; the boot to /init faster in 9 of 10 alternating pairs at 460, 4 of 5
 * at 230 against 460.
 */
export const V8_FLAGS: readonly string[] = [
  '--wasm-tiering-budget=20000000',
  '--no-wasm-lazy-compilation',
  '--max-inlined-bytecode-size-cumulative=230',
];

/** A flag's name as V8 matches it: no leading dashes, no `no-`, dashes for underscores, no value. */
function flagName(arg: string): string {
  return arg
    .replace(/^--?/, '')
    .replace(/^no[-_]/, '')
    .split('=')[0]
    .replaceAll('_', '-');
}

/**
 * Sets V8_FLAGS for this process, each unless node's command line (`execArgv`) sets it already (either way).
 * Returns the flags it set. Must run before the first WebAssembly module is compiled: V8 reads them per module.
 */
export function tuneV8(execArgv: readonly string[] = process.execArgv): string[] {
  const given = new Set(execArgv.filter((arg) => arg.startsWith('-')).map(flagName));
  const set = V8_FLAGS.filter((flag) => !given.has(flagName(flag)));
  for (const flag of set) setFlagsFromString(flag);
  return set;
}
