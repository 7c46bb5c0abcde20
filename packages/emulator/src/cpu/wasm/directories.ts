/**
 * Block directories: per code page, 4096 int32s in the VM's WebAssembly memory, one per page offset, holding
 * the table entry of the WebAssembly block that starts there (0: none). The dispatcher (dispatcher.ts) goes
 * from one block to the next through them without returning to JavaScript: the TLB's execute tag gives the
 * page (layout.ts's TLB_DIR), the directory the block. A CodePage (insn-cache.ts) keeps its directory in step
 * with its blocks; directories of pages that stop being code pages are zeroed and reused.
 */
import type { WasmArena } from '../../memory/wasm-arena.js';

/** Bytes in one directory. */
const SIZE = 4096 * 4;

/** The directories of one VM. */
export class BlockDirectories {
  private readonly free: number[] = [];

  constructor(private readonly arena: WasmArena) {}

  /** A zeroed directory: its offset in the memory (0 when the arena has no room: the page has none). */
  take(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    return Math.max(this.arena.alloc(SIZE), 0);
  }

  /** The int32 view of the directory at `offset` (the CodePage writes its entries through it). */
  view(offset: number): Int32Array {
    return new Int32Array(this.arena.buffer, offset, 4096);
  }

  /** Gives back a directory whose page stopped being a code page; `entries` is its view. */
  give(offset: number, entries: Int32Array): void {
    entries.fill(0);
    this.free.push(offset);
  }
}
