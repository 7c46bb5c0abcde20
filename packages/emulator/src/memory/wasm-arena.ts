/**
 * One WebAssembly memory per VM that holds its guest RAM and the vCPU state compiled WebAssembly blocks use
 * (registers, lazy flags, the TLB's tags): a WebAssembly function can only address its own memory, so everything
 * a block reads or writes has to live in one. The memory is shared (its buffer is a SharedArrayBuffer), because
 * growing a shared memory leaves every earlier view of it valid: `GuestMemory.bytes` handed out before a later
 * `createMemory` must stay the live RAM.
 *
 * WebAssembly addresses 32 bits: a VM's blocks and state fit in 4 GiB. Allocations that do not fit, or any at all
 * where WebAssembly is missing or refuses the reservation, fall back to plain ArrayBuffers, and the CPU then runs
 * its JavaScript blocks only (the TLB's `tlbAbs` is -1 for memory outside the arena, so blocks side-exit there).
 */

import { type WasmMemory, wasmApi } from '../cpu/wasm/host.js';

/** Bytes in a WebAssembly page. */
const WASM_PAGE = 65536;
/** The least a growth adds (16 MiB): block directories and vCPU areas are allocated a few KiB at a time. */
const GROW_PAGES = 256;
/** The most pages a 32-bit WebAssembly memory can have (4 GiB). */
const MAX_PAGES = 65536;

/** A bump allocator over one shared WebAssembly.Memory; nothing is freed before the VM is collected. */
export class WasmArena {
  /** The memory, or null when this host cannot give one (then every `alloc` fails). */
  readonly memory: WasmMemory | null;
  /** Bytes handed out so far; the first page is never handed out, so offset 0 can mean "none". */
  private top = WASM_PAGE;

  constructor() {
    let memory: WasmMemory | null = null;
    try {
      if (wasmApi !== undefined)
        memory = new wasmApi.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    } catch {
      // No WebAssembly, no threads support, or no address space for the reservation: JavaScript blocks only.
    }
    this.memory = memory;
  }

  /**
   * Reserves `size` bytes aligned to `align` (a power of two), zeroed. Returns their offset in the memory, or
   * -1 when they do not fit (the caller allocates elsewhere).
   */
  alloc(size: number, align = 4096): number {
    const memory = this.memory;
    if (memory === null) return -1;
    const start = Math.ceil(this.top / align) * align;
    const end = start + size;
    if (end > MAX_PAGES * WASM_PAGE) return -1;
    const have = memory.buffer.byteLength;
    if (end > have) {
      // Growing a shared memory costs a system call and a new buffer object: by 16 MiB at least.
      const need = Math.ceil((end - have) / WASM_PAGE);
      const pages = Math.min(Math.max(need, GROW_PAGES), MAX_PAGES - have / WASM_PAGE);
      try {
        memory.grow(pages);
      } catch {
        return -1;
      }
    }
    this.top = end;
    return start;
  }

  /** The memory's whole current buffer (a new object after each growth; earlier ones stay valid). */
  get buffer(): ArrayBufferLike {
    return (this.memory as WasmMemory).buffer;
  }
}
