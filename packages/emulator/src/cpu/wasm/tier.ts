/**
 * The WebAssembly tier's switch: the visits after which the run loop compiles a block of 64-bit code to
 * WebAssembly (block-compiler.ts), below the visits JavaScript blocks wait for (blocks.ts's HOT), because a
 * WebAssembly block costs microseconds to compile where a JavaScript one costs milliseconds of V8's time.
 */

/**
 * Visits of a start offset before a WebAssembly block is tried; -1 turns the tier off. Each block costs the run
 * loop about 110 us (tracing, writing the function, collecting its module) besides V8's compiling it, while
 * an instruction costs the interpreter about 100 ns in a boot's cold code: 18 million of a Linux boot's
 * instructions were interpreted at 200 visits, most of them the first visits of code compiled later. Boots to
 * `/init`, alternating pairs on a 2-core host: 100 against 200, 16 of 24 faster (median 0.35-0.63 s of 7-8 s);
 * 64 against 100, 3 of 12 faster; 140 against 100, 3 of 12 faster.
 */
export let WASM_HOT = 100;

/**
 * Visits past WASM_HOT after which an offset still without a block hurries the compiler thread
 * (wasm-block.ts's `hurryWasmBlocks`): its block, or the block it is inside, waits in a module not sent yet,
 * and meanwhile the interpreter runs it (a loop, thousands of times in the milliseconds a module waits).
 */
export const WASM_URGENT_AFTER = 64;

/** The visit count at which an offset hurries the compiler thread (-1 with the tier off). */
export let WASM_URGENT = WASM_HOT + WASM_URGENT_AFTER;

/**
 * Sets the visits after which a WebAssembly block is tried (-1: never; 1 compiles nothing, as blocks.ts's
 * setBlockThreshold says). Returns the previous value.
 */
export function setWasmThreshold(visits: number): number {
  const old = WASM_HOT;
  WASM_HOT = visits;
  WASM_URGENT = visits < 0 ? -1 : visits + WASM_URGENT_AFTER;
  return old;
}

/** Whether the tier is on: VMs made now reserve a WebAssembly memory for guest RAM and vCPU state. */
export function wasmTierOn(): boolean {
  return WASM_HOT >= 0;
}
