/**
 * The V8 setting the `kvm-ts` process runs with, for the emulator backend. The emulator compiles hot guest code
 * to thousands of small WebAssembly functions (packages/emulator's wasm tier). V8 runs each as Liftoff code
 * first and compiles it again with TurboFan once it has spent its tiering budget. With Node 20's default budget
 * (1.8 million) a boot of Debian's Linux to /init recompiled about 2,000 block functions: 2.6 s of CPU on V8's
 * threads, which on a 2-core machine is taken from the run loop (it waited about 1 s for a core). A budget ten
 * times larger leaves most lukewarm blocks in Liftoff code and keeps TurboFan for the hot loops.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * The WebAssembly tiering budget (`--wasm-tiering-budget`, V8's rough count of bytes executed before a function
 * is optimized) the CLI sets. Boots to /init on a 2-core host, five rounds interleaved, medians of wall time:
 * 6.81 s with the default, 6.47 s with 6 M, 6.37 s with 20 M, 6.53 s with 60 M (more run-loop time in Liftoff
 * code than the compiler threads save).
 */
export const WASM_TIERING_BUDGET = 20_000_000;

/**
 * Sets the budget for this process, unless node's command line (`execArgv`) gives its own. Returns whether it
 * was set. Must run before the first WebAssembly module is compiled: V8 reads it per module.
 */
export function tuneV8(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--wasm[-_]tiering[-_]budget(=|$)/.test(arg))) return false;
  setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
  return true;
}
