/**
 * The WebAssembly tier's switch: the visits after which the run loop compiles a block of 64-bit code to
 * WebAssembly (block-compiler.ts), below the visits JavaScript blocks wait for (blocks.ts's HOT), because a
 * WebAssembly block costs microseconds to compile where a JavaScript one costs milliseconds of V8's time.
 */

/** Visits of a start offset before a WebAssembly block is tried; -1 turns the tier off. */
export let WASM_HOT = 200;

/**
 * Sets the visits after which a WebAssembly block is tried (-1: never; 1 compiles nothing, as blocks.ts's
 * setBlockThreshold says). Returns the previous value.
 */
export function setWasmThreshold(visits: number): number {
  const old = WASM_HOT;
  WASM_HOT = visits;
  return old;
}

/** Whether the tier is on: VMs made now reserve a WebAssembly memory for guest RAM and vCPU state. */
export function wasmTierOn(): boolean {
  return WASM_HOT >= 0;
}
