/**
 * LAR, LSL, VERR, VERW (SDM Vol. 2): questions about a selector that answer in ZF instead of faulting. A
 * selector that is null, outside its table, of a type the instruction does not accept, or too privileged
 * for CPL and RPL clears ZF; otherwise ZF is set and LAR/LSL load the access rights or the byte limit.
 */
import type { Cpu } from './cpu.js';
import type { Insn } from './decode.js';
import { Descriptor } from './descriptor.js';
import { raise, Vector } from './exceptions.js';
import { getFlags } from './flags.js';
import { readRm, writeRegOp } from './operands.js';
import { isProtected, readDescriptor } from './segments.js';
import { Efer, Flag, SegAttr, Stop } from './state.js';

const d = new Descriptor();

/** System descriptor types LAR accepts (legacy, then IA-32e mode). */
const LAR_TYPES = [0x1, 0x2, 0x3, 0x4, 0x5, 0x9, 0xb, 0xc];
const LAR_TYPES_64 = [0x2, 0x9, 0xb, 0xc];
/** System descriptor types LSL accepts. */
const LSL_TYPES = [0x1, 0x2, 0x3, 0x9, 0xb];
const LSL_TYPES_64 = [0x2, 0x9, 0xb];

function setZf(c: Cpu, zf: boolean): void {
  c.flags = (getFlags(c) & ~Flag.ZF) | (zf ? Flag.ZF : 0);
  c.lazyMask = 0;
}

/** Reads the descriptor of `sel` and applies the privilege rule shared by all four; false clears ZF. */
function visible(c: Cpu, sel: number, wide: boolean): boolean {
  if ((sel & 0xfffc) === 0 || !readDescriptor(c, sel, d, wide)) return false;
  const a = d.attr;
  const conformingCode =
    (a & (SegAttr.S | SegAttr.CODE | SegAttr.CE)) === (SegAttr.S | SegAttr.CODE | SegAttr.CE);
  return conformingCode || (d.dpl >= c.cpl && d.dpl >= (sel & 3));
}

/** LAR (0F 02) and LSL (0F 03). */
export function larLsl(c: Cpu, i: Insn): void {
  if (!isProtected(c)) {
    raise(c, Vector.UD, -1);
    return;
  }
  const sel = readRm(c, i, 2);
  if (c.stop & Stop.ABORT) return;
  const long = (c.efer & Efer.LMA) !== 0;
  const ok = visible(c, sel, false);
  if (c.stop & Stop.ABORT) return;
  const isLar = i.op === 0x102;
  let valid = ok;
  if (ok && !(d.attr & SegAttr.S)) {
    const types = isLar ? (long ? LAR_TYPES_64 : LAR_TYPES) : long ? LSL_TYPES_64 : LSL_TYPES;
    valid = types.includes(d.attr & 0xf);
  }
  if (valid) {
    const v = isLar ? (i.osize === 2 ? d.hi & 0xff00 : d.hi & 0x00f0ff00) : d.limit;
    writeRegOp(c, i, i.osize, i.osize === 2 ? v & 0xffff : v | 0, 0);
  }
  setZf(c, valid);
}

/** VERR (0F 00 /4) and VERW (0F 00 /5). */
export function verify(c: Cpu, i: Insn): void {
  if (!isProtected(c)) {
    raise(c, Vector.UD, -1);
    return;
  }
  const sel = readRm(c, i, 2);
  if (c.stop & Stop.ABORT) return;
  let ok = visible(c, sel, false) && (d.attr & SegAttr.S) !== 0;
  if (c.stop & Stop.ABORT) return;
  if (ok) {
    const code = (d.attr & SegAttr.CODE) !== 0;
    ok = (i.reg & 7) === 4 ? !code || (d.attr & SegAttr.RW) !== 0 : !code && (d.attr & SegAttr.RW) !== 0;
  }
  setZf(c, ok);
}
