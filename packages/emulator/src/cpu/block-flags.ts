/**
 * Which flag results a compiled block may skip (blocks.ts): an instruction's arithmetic flags need not be
 * recorded when a later instruction of the same block overwrites all six before anything reads them and before
 * the block can be left. The generator asks here which forms it writes inline, so the analysis and the
 * generated code agree.
 */
import { type Insn, InsnFlag } from './decode.js';
import { H, OP_HANDLER } from './dispatch.js';
import { Fast, specialize } from './fast.js';
import { CodeMode } from './state.js';

/**
 * How an instruction, as the generator writes it, touches the arithmetic flags (for `deadFlags`):
 * USE reads them or may leave the block (a fault, an exit, a side exit, a handler call, which all need them
 * in the CPU's state), PASS neither reads nor writes them and never leaves, KILL writes all six from its own
 * result without reading any and never leaves.
 */
export const FlagUse = { USE: 0, PASS: 1, KILL: 2 } as const;

/** The handler id `dispatch` runs for `i` (computed as dispatch does, without caching it). */
export function handlerOf(i: Insn): number {
  if (i.handler >= 0) return i.handler;
  const fast = specialize(i);
  return fast >= 0 ? fast : OP_HANDLER[i.op];
}

/**
 * Marks in `dead` the instructions of a block whose flags die inside it, scanning backwards. The block's end
 * counts as a reader: the run loop, the next block or a fault handler may see the flags there.
 */
export function deadFlags(insns: readonly Insn[], mode: number, dead: boolean[]): void {
  let live = true;
  for (let k = insns.length - 1; k >= 0; k--) {
    dead[k] = !live;
    const use = flagUse(insns[k], mode);
    if (use === FlagUse.KILL) live = false;
    else if (use === FlagUse.USE) live = true;
  }
}

/** How `i` as written inline touches the flags (see FlagUse); must agree with what the generator's `inline` accepts. */
export function flagUse(i: Insn, mode: number): number {
  if (i.flags & InsnFlag.UD) return FlagUse.USE;
  const op = i.op;
  const size = i.osize;
  switch (handlerOf(i)) {
    case Fast.ALU_RR32:
    case Fast.ALU_RR64:
      // ADC and SBB read CF.
      return ((op >> 3) & 7) === 2 || ((op >> 3) & 7) === 3 ? FlagUse.USE : FlagUse.KILL;
    case Fast.ALU_RI32:
    case Fast.ALU_RI64:
      return (i.reg & 7) === 2 || (i.reg & 7) === 3 ? FlagUse.USE : FlagUse.KILL;
    case H.TEST_RM_REG:
      return i.mod === 3 && (op === 0x84 || size === 4 || size === 8) ? FlagUse.KILL : FlagUse.USE;
    case H.ALU_CLASSIC: {
      const kind = (op >> 3) & 7;
      return aluRegOnly(i) && kind !== 2 && kind !== 3 ? FlagUse.KILL : FlagUse.USE;
    }
    case H.ALU_GROUP1:
      return size === 1 && i.mod === 3 && !(i.flags & InsnFlag.LOCK) && (i.reg & 7) !== 2 && (i.reg & 7) !== 3
        ? FlagUse.KILL
        : FlagUse.USE;
    case H.GROUP3:
      if (i.mod !== 3 || i.flags & InsnFlag.LOCK) return FlagUse.USE;
      if ((i.reg & 7) < 2) return size === 1 || size === 4 ? FlagUse.KILL : FlagUse.USE;
      if (size !== 4 && size !== 8) return FlagUse.USE;
      return (i.reg & 7) === 2 ? FlagUse.PASS : (i.reg & 7) === 3 ? FlagUse.KILL : FlagUse.USE;
    case H.MOV_RM_IMM:
      return i.mod === 3 && (i.reg & 7) === 0 && (size === 1 || size === 4 || size === 8)
        ? FlagUse.PASS
        : FlagUse.USE;
    case H.IMUL_REG:
      return imulForm(i) ? FlagUse.KILL : FlagUse.USE;
    case Fast.SHIFT_R32:
    case H.SHIFT_GROUP: {
      const count = shiftCount(i);
      return count < 0 ? FlagUse.USE : count === 0 ? FlagUse.PASS : FlagUse.KILL;
    }
    case Fast.MOV_RR:
    case H.NOP:
      return FlagUse.PASS;
    case H.MOV_REG_IMM:
      return op >= 0xb8 && (size === 4 || size === 8) ? FlagUse.PASS : FlagUse.USE;
    case H.LEA:
      if (i.mod === 3) return FlagUse.USE;
      if (mode === CodeMode.M64)
        return i.asize === 8 && (size === 4 || size === 8) ? FlagUse.PASS : FlagUse.USE;
      return size === 4 ? FlagUse.PASS : FlagUse.USE;
    case H.MOV_EXTEND:
      return op !== 0x63 && size === 4 && i.mod === 3 ? FlagUse.PASS : FlagUse.USE;
    case H.ARPL_OR_MOVSXD:
      return mode === CodeMode.M64 && size === 8 && i.mod === 3 ? FlagUse.PASS : FlagUse.USE;
    default:
      return FlagUse.USE;
  }
}

/**
 * The register-only forms of the classic ALU opcodes written inline: the accumulator with an immediate (AL,
 * EAX, RAX) and the byte forms between two registers (the 32- and 64-bit ones are Fast.ALU_RR32/64).
 */
export function aluRegOnly(i: Insn): boolean {
  if (i.flags & InsnFlag.LOCK) return false;
  const form = i.op & 7;
  if (form === 4) return true;
  if (form === 5) return i.osize === 4 || i.osize === 8;
  return form < 4 && i.osize === 1 && i.mod === 3;
}

/** IMUL r, r (0F AF) or IMUL r, r, imm (69, 6B) on 32- or 64-bit registers: the forms written inline. */
export function imulForm(i: Insn): boolean {
  return (
    i.mod === 3 && (i.osize === 4 || i.osize === 8) && (i.op === 0x1af || i.op === 0x69 || i.op === 0x6b)
  );
}

/**
 * The masked count of SHL, SHR, SAL or SAR of a 32- or 64-bit register by an immediate or by 1 (C1, D1), the
 * forms written inline; -1 for any other group 2 form.
 */
export function shiftCount(i: Insn): number {
  if (i.mod !== 3 || (i.osize !== 4 && i.osize !== 8) || (i.reg & 7) < 4) return -1;
  if (i.op !== 0xc1 && i.op !== 0xd1) return -1;
  return (i.op === 0xc1 ? i.imm : 1) & (i.osize === 8 ? 63 : 31);
}
