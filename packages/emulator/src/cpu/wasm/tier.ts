/**
 * The WebAssembly tier's switch: the visits after which the run loop compiles a block of 64-bit code to
 * WebAssembly (block-compiler.ts), below the visits JavaScript blocks wait for (blocks.ts's HOT), because a
 * WebAssembly block costs microseconds to compile where a JavaScript one costs milliseconds of V8's time.
 */

/** Visits of a start offset before a WebAssembly block is tried; -1 turns the tier off. */
export let WASM_HOT = 200;

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
