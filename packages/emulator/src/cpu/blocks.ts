/**
 * Basic blocks: a run of cached decoded instructions on one code page, compiled into one JavaScript function
 * with `new Function`, so a hot loop runs without the run loop's per-instruction fetch, cache lookup, dispatch
 * switch and RIP bookkeeping. The hottest forms (register ALU, MOV, INC/DEC, loads and stores, PUSH/POP,
 * CALL/RET, Jcc, JMP, string instructions, INVLPG) are written out inline with their operands as constants; every other instruction calls its handler exactly as
 * the run loop would (RIP, next RIP and the retired count set first), so a block never behaves differently from
 * running its instructions one by one.
 *
 * The contract with `Cpu.execute`: a block starts at `c.rip` and runs at most `count` instructions, or, when it
 * branches back to its entry, further passes while a whole pass stays within the retired count `lim`. It returns
 * either with `c.stop === 0`, `c.rip` the next instruction and `c.retired` counting what ran, or, when an
 * instruction set `stop`, with `c.rip` and `c.retired` as they were before that instruction (and `c.nextIp` as
 * the instruction left it), so the run loop retires it or not exactly as after its own dispatch. A handler that
 * transfers control (its next RIP is not the next instruction in the trace) ends the block. A trace goes on
 * through conditional branches (side exits when taken), into direct JMP and CALL targets on the same page, and
 * back after a RET whose popped address is the one after the CALL it followed.
 *
 * Blocks are kept per code page and per start offset (insn-cache.ts) and dropped with the page's instructions
 * when a write touches their bytes; the write also ends the running block (Stop.RESYNC), so self-modifying code
 * sees its new bytes at the next instruction. Code is position-independent (offsets from the entry RIP), so the
 * same bytes anywhere share one compiled factory.
 */
import { aluClassic, aluGroup1, incDecReg, testRmReg } from './alu.js';
import { handlerOf } from './block-flags.js';
import { BlockSource } from './block-source.js';
import { branch, callRel, retNear } from './control.js';
import type { Cpu } from './cpu.js';
import { type Insn, InsnFlag } from './decode.js';
import { dispatch, H } from './dispatch.js';
import { aluRegImm64, aluRegReg64, Fast, incDecReg32or64, movLoad, movStore, shiftReg32 } from './fast.js';
import { condition, getCf } from './flags.js';
import { lea, movExtend, movRegImm, movRegRm, movRmImm, movRmReg, popReg, pushImm, pushReg } from './move.js';
import { imulReg, mulHighU32 } from './muldiv.js';
import { linearOf } from './operands.js';
import { repMoveAll32, repMoveAll64, stringCompare, stringMove } from './string.js';
import { tracePath } from './trace-path.js';

/** A compiled block: the CodeMode it was built for, how many instructions it holds, its bytes on the page. */
export class Block {
  constructor(
    readonly mode: number,
    readonly count: number,
    /** The page offset it starts at (its key in the page's blocks). */
    readonly entry: number,
    /** Page offsets spanning all its instructions' bytes (a write there drops the block). */
    readonly lo: number,
    readonly hi: number,
    /**
     * How far its instructions start before and after the entry. The page offsets stand for RIPs only while
     * RIP does not wrap inside the block (at 64 KiB in 16-bit code, 4 GiB in 32-bit): the run loop checks.
     */
    readonly back: number,
    readonly reach: number,
    /** Runs the block; `lim` is the retired count a pass round a loop back to the entry must not pass. */
    readonly run: (c: Cpu, lim: number) => void,
    /** Its function's entry in the WebAssembly blocks' table (wasm/wasm-block.ts); 0 for a JavaScript block. */
    readonly wasm = 0,
  ) {}
}

/**
 * Most instructions in one block (a block must fit in the run loop's slice). Long blocks cost more than they
 * save: V8 optimizes a block before its side exits and slow paths have run, then deoptimizes it ("insufficient
 * type feedback") the first time one does and optimizes it again, and each of these compiles grows with the
 * block. With 64, Linux's decompressor (94 M instructions) took 10.2 s of CPU, half of it in V8's compiler
 * threads; with 32, 6.8 s; the whole boot to /init took 47.7 s of CPU with 64 and 42.1 s with 32. 16 against 32,
 * eight A/B pairs of boots to /init on a noisy shared machine: less process CPU in six pairs, the median pair 2.5 s
 * (6%) less, mostly V8's compiler threads (its optimizing compiler took about 15 ms a 32-instruction block, and
 * a third of its block compiles were thrown away by such deoptimizations); 10 was no better than 16.
 */
export const MAX_BLOCK = 16;

/**
 * Most instructions in a block that loops back to its entry: a loop body up to this long still runs round inside
 * one function (the multiply loops of Linux's crypto self-tests are 38 instructions).
 */
export const MAX_LOOP = 48;

/**
 * Visits of a start offset before it is compiled (cold code stays interpreted); -1 turns blocks off; at most
 * 65535 (the pages' visit counters are 16-bit). Compiling costs about a millisecond of V8's time a block (the
 * `new Function` parse, then the lazy compile and optimization of the block on its first runs, and the
 * re-optimizations above), which only thousands of runs earn back. Linux's boot to /init, 64-instruction blocks:
 * 89 s with 24 visits, 78 s with 200, 74 s with no blocks at all, 49 s with 8000, 52 s with 30000; 32-instruction
 * blocks (CPU time, one loaded machine): 54.2 s with 3000, 42.1 s with 8000, 39.6 s with 20000, 41.3 s with
 * 40000, 37.6 s with 60000, the differences mostly V8's compiler threads.
 */
export let HOT = 20000;

/**
 * Sets the visits after which a block is compiled (-1: never, the interpreter alone). Returns the previous value.
 * An offset is counted from its first visit, before its instruction is decoded: 1 compiles nothing there, so
 * tests use 2 or more, or build blocks by hand (test/support/precompile.ts).
 */
export function setBlockThreshold(visits: number): number {
  const old = HOT;
  HOT = visits;
  return old;
}

/** The functions generated code calls, by the names it uses. */
const HELPERS = {
  dispatch,
  branch,
  condition,
  getCf,
  linearOf,
  aluClassic,
  aluGroup1,
  incDecReg,
  testRmReg,
  callRel,
  retNear,
  aluRegImm64,
  aluRegReg64,
  incDecReg32or64,
  movLoad,
  movStore,
  shiftReg32,
  lea,
  movExtend,
  movRegImm,
  movRegRm,
  movRmImm,
  movRmReg,
  popReg,
  pushImm,
  pushReg,
  stringCompare,
  stringMove,
  repMoveAll32,
  repMoveAll64,
  imulReg,
  mulHighU32,
};
const HELPER_NAMES = Object.keys(HELPERS);
const HELPER_VALUES = Object.values(HELPERS);

type Factory = (...args: unknown[]) => (c: Cpu, lim: number) => void;

/** Compiled factories by source: the same code (e.g. in every VM a test suite creates) compiles once. */
const factories = new Map<string, Factory>();
const MAX_FACTORIES = 4096;

/** False once `new Function` has been refused (a Content-Security-Policy without 'unsafe-eval'). */
let canCompile = true;

/** Instructions after which the following bytes are unlikely to run next: the block ends there. */
function endsBlock(i: Insn): boolean {
  if (i.flags & InsnFlag.UD) return true;
  switch (i.op) {
    case 0xe8: // CALL rel
    case 0xe9: // JMP rel
    case 0xeb:
    case 0xc2: // RET
    case 0xc3:
    case 0x9a: // far CALL/JMP
    case 0xea:
    case 0xca: // far RET
    case 0xcb:
    case 0xcc: // INT3, INT n, IRET
    case 0xcd:
    case 0xcf:
    case 0xf4: // HLT
    case 0x105: // SYSCALL, SYSRET, SYSENTER, SYSEXIT
    case 0x107:
    case 0x134:
    case 0x135:
      return true;
    case 0xff:
      return (i.reg & 7) >= 2 && (i.reg & 7) <= 5;
    default:
      return false;
  }
}

/**
 * Builds the block that starts at `offset` of a page whose cached instructions are `insns`, from the
 * instructions already decoded there in `mode`: straight on through conditional branches, into the targets of
 * direct JMP and CALL on the same page. Returns null when there is nothing to compile.
 */
export function buildBlock(insns: (Insn | undefined)[], offset: number, mode: number): Block | null {
  if (!canCompile || HOT < 0) return null;
  const path = tracePath(insns, offset, mode, MAX_LOOP, () => true, endsBlock);
  const list = path.insns;
  const at = path.at;
  /** How many instructions the trace holds up to its last branch back to the entry (0: none). */
  let loopEnd = 0;
  for (let k = 0; k < list.length; k++) {
    const i = list[k];
    const h = handlerOf(i);
    const target = offset + at[k] + i.len + (i.imm | 0);
    if (
      (h === H.JMP_REL || h === H.JCC || h === Fast.JCC_Z) &&
      !(i.flags & InsnFlag.UD) &&
      target === offset
    ) {
      loopEnd = k + 1;
    }
  }
  if (list.length === 0) return null;
  // Past MAX_BLOCK only to close a loop.
  if (list.length > MAX_BLOCK) {
    const keep = Math.max(loopEnd, MAX_BLOCK);
    list.length = keep;
    at.length = keep;
  }
  let body: string;
  try {
    body = new BlockSource(mode, list, at).generate();
  } catch {
    // A form the flag analysis took for inline code has none (a generator bug): the interpreter runs it.
    return null;
  }
  const params = list.map((_, k) => `i${k}`);
  const source = `return function block(c, lim) {\n${body}\n};`;
  let factory = factories.get(source);
  if (factory === undefined) {
    try {
      factory = new Function(...HELPER_NAMES, ...params, source) as Factory;
    } catch {
      // No code generation here (a Content-Security-Policy): the interpreter runs everything.
      canCompile = false;
      return null;
    }
    if (factories.size >= MAX_FACTORIES) factories.clear();
    factories.set(source, factory);
  }
  const { lo, hi, back, reach } = spanOf(offset, list, at);
  return new Block(mode, list.length, offset, lo, hi, back, reach, factory(...HELPER_VALUES, ...list));
}

/**
 * Where a block's instructions `insns` (at offsets `at` from page offset `offset`) lie: the page offsets their
 * bytes span (`Block.lo`/`hi`) and how far they start before and after the entry (`Block.back`/`reach`).
 */
export function spanOf(
  offset: number,
  insns: readonly Insn[],
  at: readonly number[],
): { lo: number; hi: number; back: number; reach: number } {
  let lo = offset;
  let hi = offset;
  for (let k = 0; k < insns.length; k++) {
    lo = Math.min(lo, offset + at[k]);
    hi = Math.max(hi, offset + at[k] + insns[k].len);
  }
  return { lo, hi, back: -Math.min(0, ...at), reach: Math.max(...at) };
}
