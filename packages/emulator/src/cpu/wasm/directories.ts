/**
 * Per code page state in the VM's WebAssembly memory: a block directory and the page's snapshot.
 *
 * A directory is 4096 int32s, one per page offset, holding the table entry of the WebAssembly block that starts
 * there (0: none). The dispatcher (dispatcher.ts) goes from one block to the next through them without returning
 * to JavaScript: the TLB's execute tag gives the page (layout.ts's TLB_DIR), the directory the block. A CodePage
 * (insn-cache.ts) keeps its directory in step with its blocks; directories of pages that stop being code pages
 * are zeroed and reused.
 *
 * The snapshot (the page's bytes as they were decoded) follows its directory, so that the comparison with guest
 * memory at a page's first use in a run (CodeCache.page) is a WebAssembly loop over 16-byte vectors: a boot
 * compares about 130,000 pages, and a word-at-a-time loop in JavaScript took ten times as long.
 */
import type { WasmArena } from '../../memory/wasm-arena.js';
import { ByteWriter, Code, moduleHeader, Op, Simd, section, T, VOID } from './encoder.js';
import { type WasmApi, wasmApi } from './host.js';

/** Bytes of a directory. */
const DIRECTORY = 4096 * 4;
/** Bytes of a directory and the snapshot after it. */
const SIZE = DIRECTORY + 4096;

/** The directories and snapshots of one VM. */
export class BlockDirectories {
  private readonly free: number[] = [];
  /** `same(a, b)`: 1 when the 4096 bytes at a and at b are equal (`compareModule`). */
  private readonly same: (a: number, b: number) => number;

  constructor(private readonly arena: WasmArena) {
    const api = wasmApi as WasmApi;
    const instance = new api.Instance(new api.Module(compareModule()), { env: { mem: arena.memory } });
    this.same = instance.exports.run as (a: number, b: number) => number;
  }

  /** A zeroed directory (its snapshot follows it): its offset in the memory, 0 when the arena has no room. */
  take(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    return Math.max(this.arena.alloc(SIZE), 0);
  }

  /** The int32 view of the directory at `offset` (the CodePage writes its entries through it). */
  view(offset: number): Int32Array {
    return new Int32Array(this.arena.buffer, offset, 4096);
  }

  /** The snapshot of the directory at `offset`. */
  snapshot(offset: number): Uint8Array {
    return new Uint8Array(this.arena.buffer, offset + DIRECTORY, 4096);
  }

  /** Whether the snapshot of the directory at `offset` equals the page at `page` in the memory. */
  matches(offset: number, page: number): boolean {
    return this.same(offset + DIRECTORY, page) !== 0;
  }

  /** Gives back a directory whose page stopped being a code page; `entries` is its view. */
  give(offset: number, entries: Int32Array): void {
    entries.fill(0);
    this.free.push(offset);
  }
}

/** The module of `run(a, b) -> i32`: whether the 4096 bytes at a and b in `env.mem` are equal, 32 at a time. */
function compareModule(): Uint8Array {
  const out = moduleHeader([[0x60, 2, T.I32, T.I32, 1, T.I32]], false, 0);
  const [A, B, END] = [0, 1, 2];
  const c = new Code();
  c.uleb(1).uleb(1).byte(T.I32);
  c.get(A).i32(4096).op(Op.I32_ADD).set(END);
  c.op(Op.LOOP).byte(VOID);
  for (const offset of [0, 16]) {
    c.get(A).simdMem(Simd.V128_LOAD, 0, offset).get(B).simdMem(Simd.V128_LOAD, 0, offset);
    c.simd(Simd.V128_XOR).simd(Simd.V128_ANY_TRUE);
    c.op(Op.IF).byte(VOID).i32(0).op(Op.RETURN).op(Op.END);
  }
  c.get(B).i32(32).op(Op.I32_ADD).set(B);
  c.get(A).i32(32).op(Op.I32_ADD).tee(A).get(END).op(Op.I32_LT_U).brIf(0);
  c.op(Op.END);
  c.i32(1).op(Op.END);
  const code = new ByteWriter().uleb(1);
  code.uleb(c.length).bytes(c.view());
  section(out, 10, code.finish());
  return out.finish();
}
