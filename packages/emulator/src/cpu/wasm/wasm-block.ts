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
import type { CodePage } from '../insn-cache.js';
import { CodeMode, Cr0, Cr4 } from '../state.js';
import { BackgroundCompiler } from './background-compiler.js';
import { compileTrace, SIDE_EXIT } from './block-compiler.js';
import { dispatcherModule } from './dispatcher.js';
import { blockExport, blocksModule } from './encoder.js';
import { type WasmApi, type WasmModule, type WasmTable, wasmApi } from './host.js';
import { Area, type CpuArea, LazySlot } from './layout.js';
import { WASM_HOT } from './tier.js';
import { type Trace, traceAt } from './trace.js';

/**
 * What the tier has done in this process: blocks built, instances made of block modules (a module of several
 * blocks is instantiated once), and modules the host rejected as invalid.
 */
export const wasmStats = { built: 0, instances: 0, invalid: 0 };

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
  const bytes = blocksModule([compileTrace(trace)]);
  const api = wasmApi as NonNullable<typeof wasmApi>;
  let module: WasmModule;
  try {
    // No cache of modules by their bytes here: V8 keeps one itself (a repeat of the same bytes compiles in a
    // tenth of the time), and in a boot only 4% of the modules repeat one (335 of 8,287).
    module = new api.Module(bytes);
  } catch (error) {
    refused((error as Error).name);
    return null;
  }
  return blockOf(module, 0, trace, area);
}

/** After the host refused a module: a CompileError is this compiler's bug (counted, for the tests); anything
 * else means the host will not compile WebAssembly, and JavaScript blocks and the interpreter run everything. */
function refused(error: string): void {
  if (error === 'CompileError') wasmStats.invalid++;
  else canCompile = false;
}

/**
 * The instance of each block module, over the memory of the VM that first asked: the blocks compiled together
 * in one module share it (another VM's blocks in the same module get an instance of their own).
 */
const instances = new WeakMap<WasmModule, { memory: unknown; exports: Record<string, unknown> }>();

function exportsOf(module: WasmModule, area: CpuArea): Record<string, unknown> {
  const memory = area.arena.memory;
  let known = instances.get(module);
  if (known === undefined || known.memory !== memory) {
    const api = wasmApi as NonNullable<typeof wasmApi>;
    known = { memory, exports: new api.Instance(module, { env: { mem: memory } }).exports };
    instances.set(module, known);
    wasmStats.instances++;
  }
  return known.exports;
}

/**
 * The block of `trace`, compiled as function `index` of `module`, instantiated over `area`'s memory; null if
 * the host refuses.
 */
function blockOf(module: WasmModule, index: number, trace: Trace, area: CpuArea): Block | null {
  let entry: number;
  let run: Dispatch;
  try {
    entry = tableEntry(exportsOf(module, area)[blockExport(index)]);
    run = dispatcherFor(area.arena);
  } catch (error) {
    refused((error as Error).name);
    return null;
  }
  wasmStats.built++;
  const offset = trace.entry;
  const { lo, hi, back, reach } = spanOf(offset, trace.insns, trace.at);
  const block = new WasmBlock(offset, trace.insns.length, lo, hi, back, reach, entry, run);
  released?.register(block, entry);
  return block;
}

/** The compiler thread (background-compiler.ts): undefined until first wanted, null where there is none. */
let background: BackgroundCompiler | null | undefined;
/** Whether blocks the run loop asks for compile on that thread (tests that count blocks turn it off). */
let backgroundOn = true;

/**
 * Whether the run loop's blocks compile on a worker thread where the host has one (on by default); returns the
 * previous setting. Off, a block exists as soon as its site is hot, which tests of the tier rely on.
 */
export function setBackgroundCompile(on: boolean): boolean {
  const old = backgroundOn;
  backgroundOn = on;
  return old;
}

/**
 * For the run loop, at a hot site: the block at `offset` of `page` now (`buildWasmBlock`), or, where modules
 * compile on another thread, null now and the block added to the page when `collectWasmBlocks` finds its
 * module ready, unless the instructions it was compiled from have left the page by then (a write to it, or a
 * change behind the CPU's back, drops them). The guest goes on in the interpreter meanwhile.
 */
export function requestWasmBlock(page: CodePage, offset: number, cpu: Cpu): Block | null {
  if (!backgroundOn) return buildWasmBlock(page.insns, offset, cpu);
  if (background === undefined) background = BackgroundCompiler.start();
  const compiler = background;
  if (compiler === null) return buildWasmBlock(page.insns, offset, cpu);
  const area = cpu.area;
  if (!canCompile || area === null) return null;
  const trace = traceAt(page.insns, offset);
  if (trace === null) return null;
  // Meanwhile the interpreter runs the trace's instructions, and each would count visits of its own and become
  // the entry of another block: their counts wait at one past the threshold until the block is here (unless a
  // block of their own starts there already: `setHeat` leaves its mark).
  for (let k = 1; k < trace.insns.length; k++) page.setHeat(offset + trace.at[k], WASM_HOT + 1);
  compiler.submit(compileTrace(trace), (module, index, error) => {
    for (let k = 1; k < trace.insns.length; k++) page.setHeat(offset + trace.at[k], 0);
    if (module === null) {
      refused(error ?? 'Error');
      return;
    }
    for (let k = 0; k < trace.insns.length; k++)
      if (page.insns[offset + trace.at[k]] !== trace.insns[k]) return;
    const block = blockOf(module, index, trace, area);
    if (block !== null) page.addBlock(block);
  });
  return null;
}

/**
 * Sends the blocks waiting for the compiler thread as soon as it is idle, without waiting for company: the run
 * loop calls it when an offset still runs in the interpreter WASM_URGENT_AFTER visits after its block was asked
 * for (tier.ts).
 */
export function hurryWasmBlocks(): void {
  background?.hurry();
}

/** Blocks asked of the compiler thread and not yet collected (0 where there is none). */
export function pendingWasmBlocks(): number {
  return background?.pending ?? 0;
}

/**
 * Adds the blocks whose modules the compiler thread has finished, or sends the waiting ones that are due (between
 * the run loop's slices).
 */
export function collectWasmBlocks(): void {
  if (background?.ready()) background.collect();
  else background?.poll();
}
