/**
 * Decimal arithmetic: DAA, DAS, AAA, AAS, AAM, AAD (SDM Vol. 2), invalid in 64-bit mode (the decoder
 * flags them). Flags the manual leaves undefined are set from the result as Intel cores do.
 */
import type { Cpu } from './cpu.js';
import type { Insn } from './decode.js';
import { raise, Vector } from './exceptions.js';
import { getAf, getCf, getFlags, LazyOp, setLazy } from './flags.js';
import { Flag } from './state.js';

function setAl(c: Cpu, v: number): void {
  c.r[0] = (c.r[0] & ~0xff) | (v & 0xff);
}

function writeFlags(c: Cpu, al: number, cf: number, af: number): void {
  setLazy(c, LazyOp.RESULT, 1, al & 0xff, 0, 0);
  c.flags = (getFlags(c) & ~(Flag.CF | Flag.AF | Flag.OF)) | cf | (af << 4);
  c.lazyMask = Flag.ZF | Flag.SF | Flag.PF;
}

/** DAA (27), DAS (2F), AAA (37), AAS (3F), AAM (D4), AAD (D5). */
export function bcd(c: Cpu, i: Insn): void {
  const al = c.r[0] & 0xff;
  const cf = getCf(c);
  const af = getAf(c);
  switch (i.op) {
    case 0x27:
    case 0x2f: {
      const sub = i.op === 0x2f;
      let v = al;
      let newCf = 0;
      let newAf = 0;
      if ((al & 0xf) > 9 || af) {
        v = sub ? v - 6 : v + 6;
        newCf = cf || (sub ? al < 6 : al > 0xf9) ? 1 : 0;
        newAf = 1;
      }
      if (al > 0x99 || cf) {
        v = sub ? v - 0x60 : v + 0x60;
        newCf = 1;
      }
      setAl(c, v);
      writeFlags(c, v, newCf, newAf);
      return;
    }
    case 0x37:
    case 0x3f: {
      const sub = i.op === 0x3f;
      if ((al & 0xf) > 9 || af) {
        const ax = c.r[0] & 0xffff;
        const v = sub ? ax - 6 - 0x100 : ax + 0x106;
        c.r[0] = (c.r[0] & ~0xffff) | (v & 0xff0f);
        writeFlags(c, v & 0x0f, 1, 1);
      } else {
        c.r[0] = (c.r[0] & ~0xff) | (al & 0x0f);
        writeFlags(c, al & 0x0f, 0, 0);
      }
      return;
    }
    case 0xd4: {
      const base = i.imm & 0xff;
      if (base === 0) {
        raise(c, Vector.DE, -1);
        return;
      }
      const v = ((Math.floor(al / base) & 0xff) << 8) | (al % base);
      c.r[0] = (c.r[0] & ~0xffff) | v;
      writeFlags(c, v & 0xff, 0, 0);
      return;
    }
    default: {
      const base = i.imm & 0xff;
      const ah = (c.r[0] >> 8) & 0xff;
      const v = (al + ah * base) & 0xff;
      c.r[0] = (c.r[0] & ~0xffff) | v;
      writeFlags(c, v, 0, 0);
    }
  }
}
