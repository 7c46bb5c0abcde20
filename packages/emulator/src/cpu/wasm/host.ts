/**
 * The parts of the host's WebAssembly API the emulator uses, typed here because the package compiles without
 * DOM or Node typings (it runs in both). `wasmApi` is undefined where the host has no WebAssembly.
 */

/** A WebAssembly.Memory. */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}

/** A compiled WebAssembly.Module. */
export type WasmModule = object;

/** A WebAssembly.Table of functions. */
export interface WasmTable {
  readonly length: number;
  grow(entries: number): number;
  set(index: number, value: unknown): void;
}

/** The constructors of the global `WebAssembly` namespace the emulator calls. */
export interface WasmApi {
  Table: new (descriptor: { element: 'anyfunc'; initial: number }) => WasmTable;
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: Record<string, unknown> };
}

/** The host's WebAssembly, if it has one. */
export const wasmApi: WasmApi | undefined = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
