/**
 * The flags a compiled block reads back right after the inline instruction that set them (blocks.ts): CF for
 * ADC, SBB and INC/DEC, and the conditions of Jcc, SETcc and CMOVcc (SDM Vol. 1 Appendix B), written as
 * JavaScript expressions over that instruction's locals (`d{k}`, `s{k}`, `v{k}` and, for 64-bit operations,
 * their high halves `dh{k}`, `sh{k}`, `vh{k}`). What cannot be derived from them is read from the lazy flags
 * (`getCf`, `condition`).
 */

/** What the generator knows about the flags the last inline instruction left. */
export const Known = {
  NONE: 0,
  ADD: 1,
  SUB: 2,
  LOGIC: 3,
  RESULT: 4,
  RESULT64: 5,
  LOGIC8: 6,
  ADD64: 7,
  SUB64: 8,
  LOGIC64: 9,
} as const;

/** `a < b` (or `a <= b` with `orEqual`) of two 64-bit values in 32-bit halves, by the high halves signed or not. */
function less64(a: string, ah: string, b: string, bh: string, signed: boolean, orEqual: boolean): string {
  const high = signed ? `${ah} < ${bh}` : `(${ah} >>> 0) < (${bh} >>> 0)`;
  return `(${high} || (${ah} === ${bh} && (${a} >>> 0) ${orEqual ? '<=' : '<'} (${b} >>> 0)))`;
}

/**
 * After a 64-bit ADD or SUB/CMP of instruction k: CF (the unsigned borrow of d - s, the carry out of d + s when
 * the result is below d), or with `orEqual` CF or ZF, the `BE` condition.
 */
function below64(known: number, k: number, orEqual: boolean): string {
  if (known === Known.SUB64) return less64(`d${k}`, `dh${k}`, `s${k}`, `sh${k}`, false, orEqual);
  const carry = less64(`v${k}`, `vh${k}`, `d${k}`, `dh${k}`, false, false);
  return orEqual ? `(${carry} || (v${k} | vh${k}) === 0)` : carry;
}

/** CF as 0 or 1 after instruction k of kind `known`, else from the CPU. */
export function carryExpr(known: number, k: number): string {
  switch (known) {
    case Known.ADD:
      return `((v${k} >>> 0) < (d${k} >>> 0) ? 1 : 0)`;
    case Known.SUB:
      return `((d${k} >>> 0) < (s${k} >>> 0) ? 1 : 0)`;
    case Known.LOGIC:
    case Known.LOGIC8:
    case Known.LOGIC64:
      return '0';
    case Known.ADD64:
    case Known.SUB64:
      return `(${below64(known, k, false)} ? 1 : 0)`;
    default:
      return 'getCf(c)';
  }
}

/** Condition `cc` after a 64-bit ADD, SUB/CMP or logical instruction k, or null when it needs the lazy flags. */
function condition64(known: number, k: number, cc: number): string | null {
  const zf = `(v${k} | vh${k}) === 0`;
  const sf = `vh${k} < 0`;
  const logic = known === Known.LOGIC64;
  switch (cc >> 1) {
    case 0: // O
      return logic ? 'false' : null;
    case 1: // B
      return logic ? 'false' : below64(known, k, false);
    case 2: // Z
      return zf;
    case 3: // BE
      return logic ? zf : below64(known, k, true);
    case 4: // S
      return sf;
    case 6: // L: signed d < s after CMP; SF after a logical operation (OF = 0)
    case 7: // LE
      if (logic) return cc >> 1 === 6 ? sf : `(${zf} || ${sf})`;
      return known === Known.SUB64 ? less64(`d${k}`, `dh${k}`, `s${k}`, `sh${k}`, true, cc >> 1 === 7) : null;
    default: // P
      return null;
  }
}

/** Condition `cc` (SDM Vol. 1 Appendix B) after instruction k of kind `known` as a JavaScript boolean expression. */
export function conditionExpr(known: number, k: number, cc: number): string {
  const v = `v${k}`;
  const d = `d${k}`;
  const s = `s${k}`;
  let e: string | null = null;
  if (known === Known.LOGIC8) {
    // An 8-bit AND result (0..255): CF = OF = 0, SF is bit 7.
    const sf = `(${v} & 128) !== 0`;
    switch (cc >> 1) {
      case 0:
      case 1:
        e = 'false';
        break;
      case 2:
      case 3:
        e = `${v} === 0`;
        break;
      case 4:
      case 6:
        e = sf;
        break;
      case 7:
        e = `${v} === 0 || ${sf}`;
        break;
      default:
        break;
    }
  } else if (known === Known.RESULT64) {
    // A 64-bit result in halves v (low) and vh (high): ZF and SF only.
    if (cc >> 1 === 2) e = `(${v} | vh${k}) === 0`;
    else if (cc >> 1 === 4) e = `vh${k} < 0`;
  } else if (known === Known.ADD64 || known === Known.SUB64 || known === Known.LOGIC64) {
    e = condition64(known, k, cc);
  } else if (known !== Known.NONE) {
    switch (cc >> 1) {
      case 0:
        if (known === Known.LOGIC) e = 'false';
        break;
      case 1:
        if (known === Known.SUB) e = `(${d} >>> 0) < (${s} >>> 0)`;
        else if (known === Known.ADD) e = `(${v} >>> 0) < (${d} >>> 0)`;
        else if (known === Known.LOGIC) e = 'false';
        break;
      case 2:
        e = `${v} === 0`;
        break;
      case 3:
        if (known === Known.SUB) e = `(${d} >>> 0) <= (${s} >>> 0)`;
        else if (known === Known.LOGIC) e = `${v} === 0`;
        break;
      case 4:
        e = `${v} < 0`;
        break;
      case 6:
        if (known === Known.SUB) e = `${d} < ${s}`;
        else if (known === Known.LOGIC) e = `${v} < 0`;
        break;
      case 7:
        if (known === Known.SUB) e = `${d} <= ${s}`;
        else if (known === Known.LOGIC) e = `${v} <= 0`;
        break;
      default:
        break;
    }
  }
  if (e === null) return `condition(c, ${cc})`;
  return cc & 1 ? `!(${e})` : `(${e})`;
}
