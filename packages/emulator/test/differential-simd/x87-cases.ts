/**
 * Generated x87 snippets for the differential tests: FNINIT, FLDCW from the buffer, three 80-bit loads (ST0-ST2
 * from +0x00, +0x10, +0x20), one instruction form, then FNSAVE at +0x80 (the environment, the tag word and all
 * eight registers: everything the instruction changed). A memory operand sits at +0x40.
 *
 * Two families: exact operations (loads, stores, exchanges, compares, integer and BCD conversions, constants,
 * environment) with any 80-bit operands at the reset precision control (64-bit significands), and arithmetic
 * with precision control set to double and binary64 operands of moderate range, where the emulator's binary64
 * arithmetic is exact (x87-arith.ts documents the difference at extended precision). Transcendental
 * instructions are checked against Math in test/simd, not here: the hardware's results are its own.
 */
import type { DiffCase } from '../differential/cases.js';
import { DATA_ADDR, DATA_SIZE } from '../differential/cases.js';
import { seededRandom as rng } from '../support/seeded-random.js';

const CF = 0x1;
const PF = 0x4;
const AF = 0x10;
const ZF = 0x40;
const SF = 0x80;
const OF = 0x800;
const ALL = CF | PF | AF | ZF | SF | OF;

/**
 * FCS, FOP, FDP and FDS in the 32-bit FNSAVE image at +0x80 (SDM Vol. 1 Figure 8-9): bytes 0x90 to 0x9b of the
 * buffer. FIP, before them, is compared everywhere.
 */
const X87_POINTERS = [[0x90, 0x9c]] as const;
/** The same fields where FNSTENV stores the environment at +0x40: 32-bit format, and the 14-byte 16-bit one. */
const ENV_POINTERS = [[0x50, 0x5c], ...X87_POINTERS] as const;
const ENV16_POINTERS = [[0x48, 0x4e], ...X87_POINTERS] as const;

/** An x87 form: its bytes, given a register index (reg forms) — memory forms address [rbx+0x40]. */
interface X87Spec {
  name: string;
  /** Opcode byte D8-DF and either a register-form base (C0..F8, + i) or a memory /r. */
  first: number;
  reg?: number;
  mem?: number;
  /** What the memory operand holds. */
  memKind?: 'm32' | 'm64' | 'm80' | 'i16' | 'i32' | 'i64' | 'bcd' | 'cw' | 'env';
  /** Arithmetic (precision control double, binary64 operands) rather than exact. */
  arith?: boolean;
  flags?: number;
  /** Fixed register index for a reg form (no random i). */
  fixed?: boolean;
  /** A whole instruction sequence instead of one form (environment save/restore round trips). */
  raw?: number[];
}

function r(name: string, first: number, reg: number, extra: Partial<X87Spec> = {}): X87Spec {
  return { name, first, reg, ...extra };
}
function m(
  name: string,
  first: number,
  mem: number,
  memKind: X87Spec['memKind'],
  extra: Partial<X87Spec> = {},
): X87Spec {
  return { name, first, mem, memKind, ...extra };
}

const SPECS: X87Spec[] = [
  // Exact.
  r('fld st(i)', 0xd9, 0xc0),
  r('fxch', 0xd9, 0xc8),
  r('fchs', 0xd9, 0xe0, { fixed: true }),
  r('fabs', 0xd9, 0xe1, { fixed: true }),
  r('ftst', 0xd9, 0xe4, { fixed: true }),
  r('fxam', 0xd9, 0xe5, { fixed: true }),
  r('fld1', 0xd9, 0xe8, { fixed: true }),
  r('fldl2t', 0xd9, 0xe9, { fixed: true }),
  r('fldl2e', 0xd9, 0xea, { fixed: true }),
  r('fldpi', 0xd9, 0xeb, { fixed: true }),
  r('fldlg2', 0xd9, 0xec, { fixed: true }),
  r('fldln2', 0xd9, 0xed, { fixed: true }),
  r('fldz', 0xd9, 0xee, { fixed: true }),
  r('fdecstp', 0xd9, 0xf6, { fixed: true }),
  r('fincstp', 0xd9, 0xf7, { fixed: true }),
  r('fxtract', 0xd9, 0xf4, { fixed: true }),
  r('fnop', 0xd9, 0xd0, { fixed: true }),
  r('ffree', 0xdd, 0xc0),
  r('fst st(i)', 0xdd, 0xd0),
  r('fstp st(i)', 0xdd, 0xd8),
  r('fcom st(i)', 0xd8, 0xd0),
  r('fcomp st(i)', 0xd8, 0xd8),
  r('fucom', 0xdd, 0xe0),
  r('fucomp', 0xdd, 0xe8),
  r('fcompp', 0xde, 0xd9, { fixed: true }),
  r('fucompp', 0xda, 0xe9, { fixed: true }),
  r('fcomi', 0xdb, 0xf0, { flags: ALL }),
  r('fucomi', 0xdb, 0xe8, { flags: ALL }),
  r('fcomip', 0xdf, 0xf0, { flags: ALL }),
  r('fucomip', 0xdf, 0xe8, { flags: ALL }),
  r('fcmovb', 0xda, 0xc0),
  r('fcmove', 0xda, 0xc8),
  r('fcmovbe', 0xda, 0xd0),
  r('fcmovu', 0xda, 0xd8),
  r('fcmovnb', 0xdb, 0xc0),
  r('fcmovne', 0xdb, 0xc8),
  r('fcmovnbe', 0xdb, 0xd0),
  r('fcmovnu', 0xdb, 0xd8),
  r('fnstsw ax', 0xdf, 0xe0, { fixed: true }),
  r('fnclex', 0xdb, 0xe2, { fixed: true }),
  m('fld m32', 0xd9, 0, 'm32'),
  m('fld m64', 0xdd, 0, 'm64'),
  m('fld m80', 0xdb, 5, 'm80'),
  m('fild m16', 0xdf, 0, 'i16'),
  m('fild m32', 0xdb, 0, 'i32'),
  m('fild m64', 0xdf, 5, 'i64'),
  m('fstp m80', 0xdb, 7, 'm80'),
  m('fist m16', 0xdf, 2, 'i16'),
  m('fistp m16', 0xdf, 3, 'i16'),
  m('fist m32', 0xdb, 2, 'i32'),
  m('fistp m32', 0xdb, 3, 'i32'),
  m('fistp m64', 0xdf, 7, 'i64'),
  m('fisttp m16', 0xdf, 1, 'i16'),
  m('fisttp m32', 0xdb, 1, 'i32'),
  m('fisttp m64', 0xdd, 1, 'i64'),
  m('fbld', 0xdf, 4, 'bcd'),
  m('fbstp', 0xdf, 6, 'bcd'),
  m('fcom m32', 0xd8, 2, 'm32'),
  m('fcomp m64', 0xdc, 3, 'm64'),
  m('ficom m16', 0xde, 2, 'i16'),
  m('ficomp m32', 0xda, 3, 'i32'),
  m('fnstcw', 0xd9, 7, 'cw'),
  m('fldcw', 0xd9, 5, 'cw'),
  m('fnstsw m16', 0xdd, 7, 'cw'),
  m('fnstenv', 0xd9, 6, 'env'),
  // fnsave [rbx+0x80]; frstor [rbx+0x80]; fld1 (the restored state, then changed, is what the last FNSAVE saves)
  {
    name: 'fnsave/frstor',
    first: 0,
    raw: [0xdd, 0xb3, 0x80, 0, 0, 0, 0xdd, 0xa3, 0x80, 0, 0, 0, 0xd9, 0xe8],
  },
  // The same with 16-bit operand size: the 14-byte environment.
  {
    name: 'fnsave/frstor o16',
    first: 0,
    raw: [0x66, 0xdd, 0xb3, 0x80, 0, 0, 0, 0x66, 0xdd, 0xa3, 0x80, 0, 0, 0, 0xd9, 0xe8],
  },
  // fnstenv [rbx+0x80]; fld1; fldenv [rbx+0x80]: TOP and tags come back, the register FLD1 wrote stays.
  {
    name: 'fnstenv/fldenv',
    first: 0,
    raw: [0xd9, 0xb3, 0x80, 0, 0, 0, 0xd9, 0xe8, 0xd9, 0xa3, 0x80, 0, 0, 0],
  },
  { name: 'fnstenv o16', first: 0, raw: [0x66, 0xd9, 0xb3, 0x40, 0, 0, 0] },
  // Arithmetic at double precision.
  ...(['fadd', 'fmul', 'fsub', 'fsubr', 'fdiv', 'fdivr'] as const).flatMap((name) => {
    const k = ['fadd', 'fmul', '', '', 'fsub', 'fsubr', 'fdiv', 'fdivr'].indexOf(name);
    const dc = [0xc0, 0xc8, 0, 0, 0xe8, 0xe0, 0xf8, 0xf0][k];
    return [
      r(`${name} st0, st(i)`, 0xd8, 0xc0 | (k << 3), { arith: true }),
      r(`${name} st(i), st0`, 0xdc, dc, { arith: true }),
      r(`${name}p st(i), st0`, 0xde, dc, { arith: true }),
      m(`${name} m32`, 0xd8, k, 'm32', { arith: true }),
      m(`${name} m64`, 0xdc, k, 'm64', { arith: true }),
      m(`fi${name.slice(1)} m16`, 0xde, k, 'i16', { arith: true }),
      m(`fi${name.slice(1)} m32`, 0xda, k, 'i32', { arith: true }),
    ];
  }),
  r('fsqrt', 0xd9, 0xfa, { fixed: true, arith: true }),
  r('frndint', 0xd9, 0xfc, { fixed: true, arith: true }),
  r('fscale', 0xd9, 0xfd, { fixed: true, arith: true }),
  r('fprem', 0xd9, 0xf8, { fixed: true, arith: true }),
  r('fprem1', 0xd9, 0xf5, { fixed: true, arith: true }),
  m('fst m32', 0xd9, 2, 'm32', { arith: true }),
  m('fstp m32', 0xd9, 3, 'm32', { arith: true }),
  m('fst m64', 0xdd, 2, 'm64', { arith: true }),
  m('fstp m64', 0xdd, 3, 'm64', { arith: true }),
];

/** Writes an 80-bit value (significand halves and sign/exponent) at `at`. */
function put80(view: DataView, at: number, lo: number, hi: number, se: number): void {
  view.setUint32(at, lo >>> 0, true);
  view.setUint32(at + 4, hi >>> 0, true);
  view.setUint16(at + 8, se & 0xffff, true);
}

function putDouble80(view: DataView, at: number, v: number): void {
  const f = new DataView(new ArrayBuffer(8));
  f.setFloat64(0, v, true);
  const lo = f.getUint32(0, true);
  const hi = f.getUint32(4, true);
  const sign = hi >>> 31 ? 0x8000 : 0;
  const exp = (hi >>> 20) & 0x7ff;
  if (v === 0) {
    put80(view, at, 0, 0, sign);
    return;
  }
  if (exp === 0x7ff) {
    put80(view, at, lo << 11, 0x80000000 | ((hi & 0xfffff) << 11) | (lo >>> 21), sign | 0x7fff);
    return;
  }
  put80(view, at, lo << 11, 0x80000000 | ((hi & 0xfffff) << 11) | (lo >>> 21), sign | (exp - 1023 + 16383));
}

/** A random exact-family operand: normal 80-bit values with full significands, and the special classes. */
function exactOperand(rand: () => number, view: DataView, at: number): void {
  const k = rand();
  const sign = rand() < 0.5 ? 0x8000 : 0;
  const lo = (rand() * 2 ** 32) >>> 0;
  const hi = ((rand() * 2 ** 32) >>> 0) | 0x80000000;
  if (k < 0.45) put80(view, at, lo, hi, sign | (16383 + ((rand() * 80) | 0) - 40));
  else if (k < 0.55)
    put80(view, at, 0, 0, sign); // zero
  else if (k < 0.6)
    put80(view, at, 0, 0x80000000, sign | 0x7fff); // infinity
  else if (k < 0.65)
    put80(view, at, lo, hi | 0x40000000, sign | 0x7fff); // QNaN
  else if (k < 0.7)
    put80(view, at, lo | 1, hi & ~0x40000000, sign | 0x7fff); // SNaN
  else if (k < 0.75)
    put80(view, at, lo, hi & 0x7fffffff, sign); // denormal
  else if (k < 0.77)
    put80(view, at, rand() < 0.5 ? 0 : lo, hi & 0x7fffffff, sign | 0x3fff); // unnormal, pseudo-zero
  else if (k < 0.9)
    putDouble80(view, at, Math.round((rand() - 0.5) * 2 ** ((rand() * 70) | 0)) + (rand() < 0.3 ? 0.5 : 0));
  else put80(view, at, lo, hi, sign | (16383 + ((rand() * 40000) | 0) - 20000));
}

function arithOperand(rand: () => number, view: DataView, at: number): void {
  const k = rand();
  if (k < 0.08) putDouble80(view, at, rand() < 0.5 ? 0 : -0);
  else if (k < 0.12) putDouble80(view, at, rand() < 0.5 ? Infinity : -Infinity);
  else if (k < 0.15) putDouble80(view, at, Number.NaN);
  else if (k < 0.35) putDouble80(view, at, Math.round((rand() - 0.5) * 2 ** ((rand() * 20) | 0)));
  else putDouble80(view, at, (rand() - 0.5) * 2 ** ((rand() * 200 - 100) | 0));
}

function memOperand(rand: () => number, kind: X87Spec['memKind'], arith: boolean, view: DataView): void {
  const at = 0x40;
  switch (kind) {
    case 'm32': {
      const f = new Float32Array([arith ? (rand() - 0.5) * 2 ** ((rand() * 40 - 20) | 0) : 0]);
      let bits = new Uint32Array(f.buffer)[0];
      if (!arith)
        bits = [0, 0x80000000, 0x7f800000, 0x7fc00001, 0x7f800001, 0x00000010, (rand() * 2 ** 32) >>> 0][
          (rand() * 7) | 0
        ];
      view.setUint32(at, bits >>> 0, true);
      return;
    }
    case 'm64':
      if (arith) view.setFloat64(at, (rand() - 0.5) * 2 ** ((rand() * 200 - 100) | 0), true);
      else {
        view.setUint32(at, (rand() * 2 ** 32) >>> 0, true);
        view.setUint32(
          at + 4,
          [0x7ff00000, 0x7ff80000, 0x7ff00001, 0x00000001, 0, (rand() * 2 ** 32) >>> 0][(rand() * 6) | 0],
          true,
        );
      }
      return;
    case 'm80':
      exactOperand(rand, view, at);
      return;
    case 'i16':
      view.setInt16(at, [0, 1, -1, 0x7fff, -0x8000, (rand() * 65536) | 0][(rand() * 6) | 0], true);
      return;
    case 'i32':
      view.setInt32(at, [0, 1, -1, 0x7fffffff, -0x80000000, (rand() * 2 ** 32) | 0][(rand() * 6) | 0], true);
      return;
    case 'i64':
      view.setUint32(at, (rand() * 2 ** 32) >>> 0, true);
      view.setUint32(
        at + 4,
        [0, 0xffffffff, 0x80000000, 0x7fffffff, (rand() * 2 ** 32) >>> 0][(rand() * 5) | 0],
        true,
      );
      return;
    case 'bcd':
      for (let k = 0; k < 9; k++) view.setUint8(at + k, (((rand() * 10) | 0) << 4) | ((rand() * 10) | 0));
      view.setUint8(at + 9, rand() < 0.5 ? 0x80 : 0);
      return;
    case 'cw':
      view.setUint16(at, 0x37f ^ (((rand() * 4) | 0) << 10), true);
      return;
    default:
      return;
  }
}

function randomRegs(rand: () => number): bigint[] {
  const regs: bigint[] = [];
  for (let n = 0; n < 16; n++)
    regs.push((BigInt((rand() * 2 ** 32) >>> 0) << 32n) | BigInt((rand() * 2 ** 32) >>> 0));
  regs[3] = BigInt(DATA_ADDR);
  return regs;
}

/** Every x87 case: each spec `reps` times with fresh operands, register indexes and rounding modes. */
export function generateX87Cases(seed: number, reps: number, mode: 32 | 64): DiffCase[] {
  const rand = rng(seed);
  const cases: DiffCase[] = [];
  for (const spec of SPECS) {
    for (let rep = 0; rep < reps; rep++) {
      const data = new Uint8Array(DATA_SIZE);
      const view = new DataView(data.buffer);
      const arith = spec.arith === true;
      for (const at of [0, 0x10, 0x20]) (arith ? arithOperand : exactOperand)(rand, view, at);
      memOperand(rand, spec.memKind, arith, view);
      // FCW: exceptions masked; precision double for arithmetic, extended otherwise; random rounding.
      const rc = rand() < 0.5 ? 0 : ((rand() * 4) | 0) << 10;
      view.setUint16(0xf8, (arith ? 0x27f : 0x37f) | rc, true);
      const code: number[] = [
        // Eight FLDZ then FNINIT: every physical register holds +0, so empty registers compare equal too.
        0xdb,
        0xe3,
        ...Array.from({ length: 8 }, () => [0xd9, 0xee]).flat(),
        0xdb,
        0xe3, // fninit
        0xd9,
        0xab,
        0xf8,
        0,
        0,
        0, // fldcw [rbx+0xf8]
      ];
      // The first FNINIT (FLDZ needs an empty stack), usually three values on the stack; sometimes fewer, so empty registers (stack faults) are exercised.
      const loads = rand() < 0.15 ? (rand() * 3) | 0 : 3;
      for (let k = loads - 1; k >= 0; k--) code.push(0xdb, 0xab, 0x10 * k, 0, 0, 0); // fld tword [rbx+16k]
      if (spec.raw) code.push(...spec.raw);
      else if (spec.reg !== undefined) {
        const i = spec.fixed ? 0 : rand() < 0.85 ? (rand() * 3) | 0 : (rand() * 8) | 0;
        code.push(spec.first, spec.reg + i);
      } else {
        code.push(spec.first, 0x43 | ((spec.mem ?? 0) << 3), 0x40);
      }
      code.push(0xdd, 0xb3, 0x80, 0, 0, 0); // fnsave [rbx+0x80]
      cases.push({
        name: spec.name,
        code: new Uint8Array(code),
        regs: randomRegs(rand),
        flags: ((((rand() * 0x10000) | 0) & ALL) | 2) >>> 0,
        data,
        flagMask: spec.flags ?? ALL,
        mode,
        x87Pointers:
          spec.memKind === 'env' ? ENV_POINTERS : spec.name === 'fnstenv o16' ? ENV16_POINTERS : X87_POINTERS,
      });
    }
  }
  return cases;
}
