/**
 * The path a compiled block follows through a page's cached instructions, the same for both compiled tiers
 * (blocks.ts's JavaScript blocks, wasm/trace.ts's WebAssembly ones): from a start offset straight on through
 * conditional branches, into the targets of direct JMP and CALL on the same page, and back after a RET to the
 * instruction after the CALL the path followed (the code then checks the popped address).
 */
import { type Insn, InsnFlag } from './decode.js';

/** A path: its instructions, their offsets from the start, what a followed RET must return to. */
export interface TracePath {
  readonly insns: Insn[];
  /** Per instruction: its offset from the start. */
  readonly at: number[];
  /** Per instruction: the page offset a followed RET returns to (-1: not a followed RET). */
  readonly expect: number[];
  /** Per instruction: whether a direct JMP or CALL is followed into its target (the next instruction). */
  readonly follow: boolean[];
}

/**
 * The path from page offset `offset` over the page's cached instructions `insns` decoded in `mode`, at most
 * `limit` long. `accept` decides whether an instruction may join (the path ends before one it refuses); `ends`
 * whether the path ends after one that joined (a direct JMP or CALL off the page or back to the start always
 * ends it, a RET of no followed CALL is left to `ends`).
 */
export function tracePath(
  insns: readonly (Insn | undefined)[],
  offset: number,
  mode: number,
  limit: number,
  accept: (i: Insn) => boolean,
  ends: (i: Insn) => boolean,
): TracePath {
  const path: TracePath = { insns: [], at: [], expect: [], follow: [] };
  /** Return addresses (page offsets) of the CALLs the path followed. */
  const returns: number[] = [];
  let o = offset;
  while (path.insns.length < limit && o >= 0 && o < 4096) {
    const i = insns[o];
    if (i === undefined || i.mode !== mode || !accept(i)) break;
    path.insns.push(i);
    path.at.push(o - offset);
    path.expect.push(-1);
    path.follow.push(false);
    let next = o + i.len;
    const direct = (i.op === 0xe8 || i.op === 0xe9 || i.op === 0xeb) && !(i.flags & InsnFlag.UD);
    if (direct) {
      const target = next + (i.imm | 0);
      if (target < 0 || target >= 4096 || target === offset) break;
      if (i.op === 0xe8) returns.push(next);
      path.follow[path.follow.length - 1] = true;
      next = target;
    } else if (i.op === 0xc3 && returns.length > 0 && !(i.flags & InsnFlag.UD)) {
      next = returns.pop() as number;
      path.expect[path.expect.length - 1] = next;
    } else if (ends(i)) break;
    o = next;
  }
  return path;
}
