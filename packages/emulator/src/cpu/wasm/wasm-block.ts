/**
 * WebAssembly blocks in the run loop: builds a `Block` (blocks.ts's contract with `Cpu.execute`) around the
 * function block-compiler.ts writes for a trace, and the glue that runs it: the lazy-flags record copied into
 * the CPU when the block set flags, the next RIP and retired count, and at a side exit the one instruction the
 * block left to the interpreter's handler, run as the run loop runs it.
 */

import type { WasmArena } from '../../memory/wasm-arena.js';
import { Block, spanOf } from '../blocks.js';
import type { Cpu } from '../cpu.js';
import type { Insn } from '../decode.js';
import { dispatch } from '../dispatch.js';
import { CodeMode, Cr0, Cr4 } from '../state.js';
import { compileTrace, SIDE_EXIT } from './block-compiler.js';
import { dispatcherModule } from './dispatcher.js';
import { type WasmApi, type WasmTable, wasmApi } from './host.js';
import { Area, type CpuArea, LazySlot } from './layout.js';
import { traceAt } from './trace.js';

/** What the tier has done in this process: blocks built, and modules the host rejected as invalid. */
export const wasmStats = { built: 0, invalid: 0 };

/** Cleared when the host refuses to compile (no WebAssembly, or a policy against it): no more tries. */
let canCompile = wasmApi !== undefined;

const LAZY = Area.LAZY >> 2;
const NEXT_RIP = Area.NEXT_RIP >> 3;
const SSE_READY = Area.SSE_READY >> 2;
const CPL = Area.CPL >> 2;

/** `run(index, base, rip, room, user)`: runs the block function at `index` of `table` and the blocks after it. */
type Dispatch = (index: number, base: number, rip: number, room: number, user: number) => number;

/**
 * Every block function of the process, in one table (made at the first block). Entry 0 is never used (0 means
 * "no block" in the directories); entries of blocks the garbage collector took are reused.
 */
let table: WasmTable | null = null;
const freeEntries: number[] = [];
const released =
  typeof FinalizationRegistry === 'function'
    ? new FinalizationRegistry<number>((index) => {
        table?.set(index, null);
        freeEntries.push(index);
      })
    : null;

function tableEntry(fn: unknown): number {
  const api = wasmApi as WasmApi;
  if (table === null) table = new api.Table({ element: 'anyfunc', initial: 1 });
  let index = freeEntries.pop();
  if (index === undefined) {
    index = table.length;
    table.grow(Math.max(1024, table.length >> 1));
    for (let k = table.length - 1; k > index; k--) freeEntries.push(k);
  }
  table.set(index, fn);
  return index;
}

/** The dispatcher of each VM's memory (it imports the memory and the table). */
const dispatchers = new WeakMap<WasmArena, Dispatch>();

function dispatcherFor(arena: WasmArena): Dispatch {
  let run = dispatchers.get(arena);
  if (run === undefined) {
    const api = wasmApi as WasmApi;
    const bytes = dispatcherModule();
    const instance = new api.Instance(new api.Module(bytes), { env: { table, mem: arena.memory } });
    run = instance.exports.run as Dispatch;
    dispatchers.set(arena, run);
  }
  return run;
}

/** A block whose code is a WebAssembly function (its table entry in `wasm`). */
class WasmBlock extends Block {
  constructor(
    offset: number,
    count: number,
    lo: number,
    hi: number,
    back: number,
    reach: number,
    index: number,
    /** The dispatcher of the block's VM: runs it and the blocks after it. */
    readonly chain: Dispatch,
  ) {
    super(CodeMode.M64, count, offset, lo, hi, back, reach, runWasm, index);
  }
}

/**
 * Runs a WebAssembly block, and the blocks the dispatcher chains after it, for the run loop (blocks.ts's
 * `Block.run` contract, called as the block's method): returns with `c.stop` 0, `c.rip` the next instruction and
 * `c.retired` counting what ran, or with `stop` set by the instruction a block left to its handler, `c.rip` and
 * `c.retired` as they were before it.
 */
function runWasm(this: WasmBlock, c: Cpu, lim: number): void {
  const area = c.area as CpuArea;
  const i32 = area.i32;
  // The lazy-flags record, for a block that reads flags before it sets them.
  i32[LAZY + LazySlot.OP] = c.lazyOp;
  i32[LAZY + LazySlot.SIZE] = c.lazySize;
  i32[LAZY + LazySlot.RES] = c.lazyRes;
  i32[LAZY + LazySlot.RES_HI] = c.lazyResHi;
  i32[LAZY + LazySlot.DST] = c.lazyDst;
  i32[LAZY + LazySlot.DST_HI] = c.lazyDstHi;
  i32[LAZY + LazySlot.SRC] = c.lazySrc;
  i32[LAZY + LazySlot.SRC_HI] = c.lazySrcHi;
  i32[LAZY + LazySlot.MASK] = c.lazyMask;
  i32[LAZY + LazySlot.FLAGS] = c.flags;
  // Whether SSE instructions run (fpu/checks.ts's sseReady): a block's first one leaves to the handler if not.
  i32[SSE_READY] = (c.cr0 & (Cr0.EM | Cr0.TS)) === 0 && (c.cr4 & Cr4.OSFXSR) !== 0 ? 1 : 0;
  i32[CPL] = c.cpl;
  const ret = this.chain(this.wasm, area.offset, c.rip, lim - c.retired, c.cpl === 3 ? 1 : 0);
  if (ret & 64) {
    c.flags = i32[LAZY + LazySlot.FLAGS];
    c.lazyOp = i32[LAZY + LazySlot.OP];
    c.lazySize = i32[LAZY + LazySlot.SIZE];
    c.lazyRes = i32[LAZY + LazySlot.RES];
    c.lazyResHi = i32[LAZY + LazySlot.RES_HI];
    c.lazyDst = i32[LAZY + LazySlot.DST];
    c.lazyDstHi = i32[LAZY + LazySlot.DST_HI];
    c.lazySrc = i32[LAZY + LazySlot.SRC];
    c.lazySrcHi = i32[LAZY + LazySlot.SRC_HI];
    c.lazyMask = i32[LAZY + LazySlot.MASK];
  }
  c.retired += ret >>> 7;
  c.rip = area.f64[NEXT_RIP];
  if ((ret & 63) !== SIDE_EXIT) return;
  // The instruction a block could not finish: through its handler, as the run loop runs it.
  const insn = c.fetch(c.rip);
  if (insn === null) return;
  c.nextIp = c.rip + insn.len;
  dispatch(c, insn);
  if (c.stop !== 0) return;
  c.rip = c.nextIp;
  c.retired++;
}

/**
 * The WebAssembly block starting at page offset `offset` of a page whose cached instructions are `insns`, for
 * `cpu` (64-bit code, a CPU with a WebAssembly area), or null when there is nothing this tier compiles there.
 */
export function buildWasmBlock(insns: readonly (Insn | undefined)[], offset: number, cpu: Cpu): Block | null {
  const area = cpu.area;
  if (!canCompile || area === null) return null;
  const trace = traceAt(insns, offset);
  if (trace === null) return null;
  const bytes = compileTrace(trace);
  const api = wasmApi as NonNullable<typeof wasmApi>;
  let index: number;
  let run: Dispatch;
  try {
    // No cache of modules by their bytes here: V8 keeps one itself (a repeat of the same bytes compiles in a
    // tenth of the time), and in a boot only 4% of the modules repeat one (335 of 8,287).
    const module = new api.Module(bytes);
    const instance = new api.Instance(module, { env: { mem: area.arena.memory } });
    index = tableEntry(instance.exports.run);
    run = dispatcherFor(area.arena);
  } catch (error) {
    // An invalid module is this compiler's bug (counted, for the tests); anything else means the host will not
    // compile WebAssembly: JavaScript blocks and the interpreter run everything.
    if ((error as Error).name === 'CompileError') wasmStats.invalid++;
    else canCompile = false;
    return null;
  }
  wasmStats.built++;
  const { lo, hi, back, reach } = spanOf(offset, trace.insns, trace.at);
  const block = new WasmBlock(offset, trace.insns.length, lo, hi, back, reach, index, run);
  released?.register(block, index);
  return block;
}
