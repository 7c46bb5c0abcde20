/**
 * Generated instruction cases for the differential tests: unprivileged 64-bit-mode snippets in every operand
 * size and in register and memory forms, with random operands and flags, each with the mask of the flags the
 * manuals define for it (undefined flags are not compared). Deterministic: the same seed gives the same cases.
 */

import { seededRandom as rng } from '../support/seeded-random.js';

/** One snippet and its inputs. Registers are in encoding order (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15). */
export interface DiffCase {
  readonly name: string;
  readonly code: Uint8Array;
  readonly regs: bigint[];
  readonly flags: number;
  readonly data: Uint8Array;
  /** RFLAGS bits to compare (defined after this instruction). */
  readonly flagMask: number;
  /** Registers whose result is undefined and must not be compared. */
  readonly skipRegs?: readonly number[];
  /**
   * Data byte ranges [from, to) holding the x87 last-instruction pointers FCS, FOP, FDP and FDS of a saved
   * environment: compared only on a host that keeps them as the emulator's CPUID says it does (harness.ts).
   */
  readonly x87Pointers?: readonly (readonly [number, number])[];
  /** 64 for 64-bit mode; 32 for 32-bit protected (compatibility) mode, where RAX-RDI's low halves count. */
  readonly mode: 32 | 64;
}

/** Fixed addresses shared with native-runner.c. */
export const CODE_ADDR = 0x20000;
export const DATA_ADDR = 0x30000;
export const DATA_SIZE = 256;

const CF = 0x1;
const PF = 0x4;
const AF = 0x10;
const ZF = 0x40;
const SF = 0x80;
const OF = 0x800;
const DF = 0x400;
const ALL = CF | PF | AF | ZF | SF | OF | DF;
const RSP = 4;
const RBX = 3;

const SPECIAL = [
  0n,
  1n,
  2n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
];

class Gen {
  readonly next: () => number;
  constructor(
    seed: number,
    readonly mode: 32 | 64 = 64,
  ) {
    this.next = rng(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  u64(): bigint {
    const r = this.int(8);
    if (r === 0) return this.pick(SPECIAL);
    if (r === 1) return (1n << 64n) - this.pick(SPECIAL) - 1n;
    if (r === 2) return BigInt(this.int(256));
    if (r === 3) return 0x7fffffffffffffffn - BigInt(this.int(3));
    if (r === 4) return 0x8000000000000000n + BigInt(this.int(3));
    return (BigInt(this.int(2 ** 32)) << 32n) | BigInt(this.int(2 ** 32));
  }
  regs(): bigint[] {
    return Array.from({ length: 16 }, () => this.u64());
  }
  flags(): number {
    return (
      0x2 |
      (this.int(2) ? CF : 0) |
      (this.int(2) ? PF : 0) |
      (this.int(2) ? AF : 0) |
      (this.int(2) ? ZF : 0) |
      (this.int(2) ? SF : 0) |
      (this.int(2) ? OF : 0)
    );
  }
  data(): Uint8Array {
    return Uint8Array.from({ length: DATA_SIZE }, () => this.int(256));
  }
  /** A register other than RSP (and other than `avoid`). */
  reg(avoid: number[] = []): number {
    for (;;) {
      const r = this.int(this.mode === 64 ? 16 : 8);
      if (r !== RSP && !avoid.includes(r)) return r;
    }
  }
}

/** Encodes an instruction: legacy operand-size prefix, REX, opcode, ModRM (and SIB/disp), immediate. */
function encode(
  size: number,
  opcode: number[],
  reg: number,
  rm: number,
  form: 'reg' | 'mem',
  disp: number,
  imm: number[] = [],
  forceRex = false,
): number[] {
  const out: number[] = [];
  if (size === 2) out.push(0x66);
  const rex = (size === 8 ? 8 : 0) | (reg & 8 ? 4 : 0) | (form === 'reg' && rm & 8 ? 1 : 0);
  if (rex || forceRex) out.push(0x40 | rex);
  out.push(...opcode);
  if (form === 'reg') out.push(0xc0 | ((reg & 7) << 3) | (rm & 7));
  else out.push(0x40 | ((reg & 7) << 3) | RBX, disp & 0xff);
  out.push(...imm);
  return out;
}

function immBytes(v: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => (v >>> (8 * k)) & 0xff);
}

/** Byte registers 4-7 without REX are AH..BH; with REX, SPL (4) is RSP and must be avoided. */
function byteRegs(g: Gen, size: number): { reg: number; rm: number; rex: boolean } {
  const rex = g.mode === 64 && size === 1 && g.int(2) === 1;
  const pickOne = () => (rex ? g.reg() : size === 1 ? g.int(8) : g.reg());
  let reg = pickOne();
  let rm = pickOne();
  if (size === 1 && !rex) {
    reg &= 7;
    rm &= 7;
  }
  if (rex && reg === RSP) reg = 0;
  if (rex && rm === RSP) rm = 1;
  return { reg, rm, rex };
}

function baseCase(g: Gen, name: string, code: number[], flagMask: number, skipRegs?: number[]): DiffCase {
  const regs = g.regs();
  regs[RBX] = BigInt(DATA_ADDR + 8 * g.int(8));
  return {
    name,
    code: Uint8Array.from(code),
    regs,
    flags: g.flags(),
    data: g.data(),
    flagMask,
    skipRegs,
    mode: g.mode,
  };
}

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFTS = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];

/** All generated cases. */
export function generateCases(seed = 0x5eed, perShape = 24, mode: 32 | 64 = 64): DiffCase[] {
  const g = new Gen(seed, mode);
  const SIZES = mode === 64 ? [1, 2, 4, 8] : [1, 2, 4];
  const cases: DiffCase[] = [];
  const add = (c: DiffCase) => cases.push(c);
  for (let n = 0; n < perShape; n++) {
    for (const size of SIZES) {
      const b = size === 1 ? 0 : 1;
      // ALU r/m, r and r, r/m in register and memory forms, and with immediates.
      for (let k = 0; k < 8; k++) {
        const mask = k === 1 || k === 4 || k === 6 ? ALL & ~AF : ALL;
        const { reg, rm, rex } = byteRegs(g, size);
        const dir = g.int(2) * 2;
        add(
          baseCase(
            g,
            `${ALU[k]}${size} r,r`,
            encode(size, [(k << 3) | dir | b], reg, rm, 'reg', 0, [], rex),
            mask,
          ),
        );
        const memReg = size === 1 && !rex ? g.int(8) : g.reg();
        add(
          baseCase(
            g,
            `${ALU[k]}${size} m,r`,
            encode(
              size,
              [(k << 3) | dir | b],
              memReg === RBX && dir ? 0 : memReg,
              0,
              'mem',
              8 * g.int(16),
              [],
              rex,
            ),
            mask,
          ),
        );
        const imm = g.int(2 ** 32) | 0;
        const isz = size === 1 ? 1 : size === 2 ? 2 : 4;
        add(
          baseCase(
            g,
            `${ALU[k]}${size} r,imm`,
            encode(size, [0x80 | b], k, rm, 'reg', 0, immBytes(imm, isz), rex),
            mask,
          ),
        );
        if (size > 1)
          add(
            baseCase(
              g,
              `${ALU[k]}${size} r,imm8`,
              encode(size, [0x83], k, rm, 'reg', 0, immBytes(imm, 1)),
              mask,
            ),
          );
        add(
          baseCase(
            g,
            `${ALU[k]}${size} m,imm`,
            encode(size, [0x80 | b], k, 0, 'mem', 8 * g.int(16), immBytes(imm, isz)),
            mask,
          ),
        );
      }
      // TEST, INC, DEC, NOT, NEG.
      {
        const { reg, rm, rex } = byteRegs(g, size);
        add(baseCase(g, `test${size}`, encode(size, [0x84 | b], reg, rm, 'reg', 0, [], rex), ALL & ~AF));
        add(baseCase(g, `inc${size}`, encode(size, [0xfe | b], 0, rm, 'reg', 0, [], rex), ALL));
        add(baseCase(g, `dec${size}`, encode(size, [0xfe | b], 1, rm, 'reg', 0, [], rex), ALL));
        add(baseCase(g, `not${size}`, encode(size, [0xf6 | b], 2, rm, 'reg', 0, [], rex), ALL));
        add(baseCase(g, `neg${size}`, encode(size, [0xf6 | b], 3, rm, 'reg', 0, [], rex), ALL));
        add(baseCase(g, `neg${size} m`, encode(size, [0xf6 | b], 3, 0, 'mem', 8 * g.int(16)), ALL));
        add(baseCase(g, `inc${size} m`, encode(size, [0xfe | b], 0, 0, 'mem', 8 * g.int(16)), ALL));
        add(baseCase(g, `dec${size} m`, encode(size, [0xfe | b], 1, 0, 'mem', 8 * g.int(16)), ALL));
      }
      // Shifts and rotates by 1, by imm8 and by CL.
      for (let k = 0; k < 8; k++) {
        const { rm, rex } = byteRegs(g, size);
        const bits = size * 8;
        const count = g.pick([1, 1, 2, 3, 7, 8, 15, 16, 31, 32, 33, 63, g.int(256)]);
        const masked = count & (size === 8 ? 63 : 31);
        const isRotate = k < 4;
        let mask = ALL;
        if (masked !== 0) {
          if (!isRotate) mask &= ~AF;
          const eff = k === 2 || k === 3 ? (size < 4 ? masked % (bits + 1) : masked) : masked;
          if (eff !== 1) mask &= ~OF;
          if (!isRotate && masked >= bits) mask &= ~CF;
        }
        const c = baseCase(
          g,
          `${SHIFTS[k]}${size} ${count}`,
          encode(size, [0xc0 | b], k, rm, 'reg', 0, [count], rex),
          mask,
        );
        add(c);
        const viaCl = baseCase(
          g,
          `${SHIFTS[k]}${size} cl=${count}`,
          encode(size, [0xd2 | b], k, rm, 'reg', 0, [], rex),
          mask,
        );
        viaCl.regs[1] = BigInt(count) | (viaCl.regs[1] & ~0xffn);
        if (rm !== 1 || (size === 1 && !rex)) add(viaCl);
        const one = baseCase(
          g,
          `${SHIFTS[k]}${size} 1`,
          encode(size, [0xd0 | b], k, rm, 'reg', 0, [], rex),
          isRotate ? ALL : ALL & ~AF,
        );
        add(one);
      }
      // MUL, IMUL (one operand); DIV, IDIV with inputs that do not fault.
      {
        const { rm, rex } = byteRegs(g, size);
        add(baseCase(g, `mul${size}`, encode(size, [0xf6 | b], 4, rm, 'reg', 0, [], rex), CF | OF | DF));
        add(baseCase(g, `imul${size}`, encode(size, [0xf6 | b], 5, rm, 'reg', 0, [], rex), CF | OF | DF));
        if (size >= 4) {
          add(baseCase(g, `mul${size} m`, encode(size, [0xf7], 4, 0, 'mem', 8 * g.int(16)), CF | OF | DF));
          add(baseCase(g, `imul${size} m`, encode(size, [0xf7], 5, 0, 'mem', 8 * g.int(16)), CF | OF | DF));
        }
        for (const signed of [false, true]) {
          // The divisor register: CL or BL for bytes (no REX), else anything but RAX/RDX.
          const src = size === 1 ? g.pick([1, 3]) : g.reg([0, 2]);
          const bits = size * 8;
          const m = (1n << BigInt(bits)) - 1n;
          const c = baseCase(
            g,
            `${signed ? 'idiv' : 'div'}${size}`,
            encode(size, [0xf6 | b], signed ? 7 : 6, src, 'reg', 0),
            DF,
          );
          const setLow = (r: number, v: bigint, mask: bigint) => {
            c.regs[r] = (c.regs[r] & ~mask) | (v & mask);
          };
          let dividend: bigint;
          if (!signed) {
            let d = g.u64() & m;
            if (d === 0n) d = 7n;
            setLow(src, d, m);
            dividend = (((g.u64() & m) % d) << BigInt(bits)) | (g.u64() & m);
          } else {
            let d = BigInt.asIntN(bits, g.u64() & m) >> BigInt(g.int(bits));
            if (d === 0n || d === -(1n << BigInt(bits - 1))) d = -5n;
            setLow(src, BigInt.asUintN(bits, d), m);
            const q = BigInt(g.int(101) - 50);
            const abs = d < 0n ? -d : d;
            const r = BigInt(Math.floor(g.next() * Number(abs < 1000n ? abs : 1000n)));
            const p = q * d;
            dividend = BigInt.asUintN(2 * bits, p >= 0n ? p + r : p - r);
          }
          if (size === 1) setLow(0, dividend, 0xffffn);
          else {
            setLow(0, dividend & m, m);
            setLow(2, dividend >> BigInt(bits), m);
          }
          add(c);
        }
        if (size === 8) {
          // DIV and IDIV r64 with RDX zero and both operands below 2^52 (the emulator divides those as doubles),
          // half of them a multiple of the divisor less one, the closest a quotient comes to the next integer.
          for (const signed of [false, true]) {
            const src = g.reg([0, 2]);
            const c = baseCase(
              g,
              `${signed ? 'idiv' : 'div'}8 small`,
              encode(8, [0xf7], signed ? 7 : 6, src, 'reg', 0),
              DF,
            );
            const d = (g.u64() >> BigInt(12 + g.int(52))) | 1n;
            let n = g.u64() >> 12n;
            if (g.int(2)) n = (n / d) * d - 1n;
            if (n < 0n) n = 0n;
            c.regs[src] = d;
            c.regs[0] = n;
            c.regs[2] = 0n;
            add(c);
          }
        }
        if (size >= 4) {
          // DIV with EDX/RDX zero over the whole range (the WebAssembly tier divides those itself), by a register
          // and by memory (random data: zero once in 2^32).
          for (const mem of [false, true]) {
            const src = g.reg([0, 2]);
            const c = baseCase(
              g,
              `div${size} rdx 0${mem ? ' m' : ''}`,
              mem ? encode(size, [0xf7], 6, 0, 'mem', 8 * g.int(16)) : encode(size, [0xf7], 6, src, 'reg', 0),
              DF,
            );
            if (!mem) c.regs[src] = (g.u64() >> BigInt(g.int(size * 8))) | 1n;
            c.regs[2] = 0n;
            add(c);
          }
        }
      }
      if (size === 1) continue;
      // Two- and three-operand IMUL.
      {
        const reg = g.reg();
        const rm = g.reg();
        add(baseCase(g, `imul${size} r,r`, encode(size, [0x0f, 0xaf], reg, rm, 'reg', 0), CF | OF | DF));
        add(
          baseCase(
            g,
            `imul${size} r,r,imm8`,
            encode(size, [0x6b], reg, rm, 'reg', 0, [g.int(256)]),
            CF | OF | DF,
          ),
        );
        add(
          baseCase(
            g,
            `imul${size} r,m,imm`,
            encode(size, [0x69], reg, 0, 'mem', 8 * g.int(16), immBytes(g.int(2 ** 32), size === 2 ? 2 : 4)),
            CF | OF | DF,
          ),
        );
      }
      // BT, BTS, BTR, BTC with a register and an immediate bit offset; memory with a register offset.
      for (let k = 0; k < 4; k++) {
        const reg = g.reg();
        const rm = g.reg([reg]);
        add(
          baseCase(
            g,
            `bt${k}${size} r,r`,
            encode(size, [0x0f, 0xa3 | (k << 3)], reg, rm, 'reg', 0),
            CF | ZF | DF,
          ),
        );
        add(
          baseCase(
            g,
            `bt${k}${size} r,imm`,
            encode(size, [0x0f, 0xba], 4 + k, rm, 'reg', 0, [g.int(256)]),
            CF | ZF | DF,
          ),
        );
        const mem = baseCase(
          g,
          `bt${k}${size} m,r`,
          encode(size, [0x0f, 0xa3 | (k << 3)], reg === RBX ? 0 : reg, 0, 'mem', 64),
          CF | ZF | DF,
        );
        mem.regs[reg === RBX ? 0 : reg] = BigInt(g.int(512)) - 256n;
        mem.regs[reg === RBX ? 0 : reg] = BigInt.asUintN(64, mem.regs[reg === RBX ? 0 : reg]);
        add(mem);
      }
      // BSF, BSR on non-zero sources (the destination is undefined for zero).
      for (const op of [0xbc, 0xbd]) {
        const reg = g.reg();
        const rm = g.reg([reg]);
        const c = baseCase(
          g,
          `${op === 0xbc ? 'bsf' : 'bsr'}${size}`,
          encode(size, [0x0f, op], reg, rm, 'reg', 0),
          ZF | DF,
        );
        const m = (1n << BigInt(size * 8)) - 1n;
        if ((c.regs[rm] & m) === 0n) c.regs[rm] |= 1n << BigInt(g.int(size * 8));
        add(c);
      }
      // SHLD, SHRD by imm8 and CL, counts within the operand size.
      for (const op of [0xa4, 0xac]) {
        const reg = g.reg();
        const rm = g.reg([reg]);
        const count = 1 + g.int(size * 8 - 1);
        const mask = (count === 1 ? ALL : ALL & ~OF) & ~AF;
        add(
          baseCase(
            g,
            `${op === 0xa4 ? 'shld' : 'shrd'}${size} ${count}`,
            encode(size, [0x0f, op], reg, rm, 'reg', 0, [count]),
            mask,
          ),
        );
        if (reg !== 1 && rm !== 1) {
          const c = baseCase(
            g,
            `${op === 0xa4 ? 'shld' : 'shrd'}${size} cl=${count}`,
            encode(size, [0x0f, op + 1], reg, rm, 'reg', 0),
            mask,
          );
          c.regs[1] = BigInt(count);
          add(c);
        }
      }
      // CMOVcc (every condition), XADD, CMPXCHG, XCHG, MOVZX/MOVSX.
      for (let cc = 0; cc < 16; cc++) {
        add(
          baseCase(g, `cmov${cc}${size}`, encode(size, [0x0f, 0x40 | cc], g.reg(), g.reg(), 'reg', 0), ALL),
        );
      }
      add(baseCase(g, `xadd${size}`, encode(size, [0x0f, 0xc1], g.reg(), g.reg(), 'reg', 0), ALL));
      {
        const reg = g.reg([0]);
        const rm = g.reg([0]);
        const c = baseCase(g, `cmpxchg${size}`, encode(size, [0x0f, 0xb1], reg, rm, 'reg', 0), ALL);
        if (g.int(2)) c.regs[0] = c.regs[rm];
        add(c);
      }
      add(baseCase(g, `xchg${size}`, encode(size, [0x87], g.reg(), g.reg(), 'reg', 0), ALL));
      add(baseCase(g, `movzx${size} r8`, encode(size, [0x0f, 0xb6], g.reg(), g.int(4), 'reg', 0), ALL));
      add(baseCase(g, `movsx${size} r8`, encode(size, [0x0f, 0xbe], g.reg(), g.int(4), 'reg', 0), ALL));
      if (size > 2) {
        add(baseCase(g, `movzx${size} r16`, encode(size, [0x0f, 0xb7], g.reg(), g.reg(), 'reg', 0), ALL));
        add(baseCase(g, `movsx${size} r16`, encode(size, [0x0f, 0xbf], g.reg(), g.reg(), 'reg', 0), ALL));
        add(
          baseCase(
            g,
            `bswap${size}`,
            [...(size === 8 ? [0x48] : []), 0x0f, 0xc8 | g.pick([0, 1, 2, 3, 5, 6, 7])],
            ALL,
          ),
        );
      }
      // LEA with base + index * scale + disp8.
      {
        const reg = g.reg();
        const index = g.reg();
        const sib = (g.int(4) << 6) | ((index & 7) << 3) | (g.reg() & 7);
        const rex = (size === 8 ? 8 : 0) | (reg & 8 ? 4 : 0) | (index & 8 ? 2 : 0);
        const code = [
          ...(size === 2 ? [0x66] : []),
          ...(rex ? [0x40 | rex] : []),
          0x8d,
          0x44 | ((reg & 7) << 3),
          sib,
          g.int(256),
        ];
        if ((sib & 7) !== RSP && (sib & 7) !== 5) add(baseCase(g, `lea${size}`, code, ALL));
      }
    }
  }
  // Flag instructions, conversions, LAHF/SAHF, SETcc, string instructions.
  for (let n = 0; n < perShape; n++) {
    for (const [name, code] of [
      ['clc', [0xf8]],
      ['stc', [0xf9]],
      ['cmc', [0xf5]],
      ['cbw', [0x66, 0x98]],
      ['cwde', [0x98]],
      ...(mode === 64 ? ([['cdqe', [0x48, 0x98]]] as [string, number[]][]) : []),
      ['cwd', [0x66, 0x99]],
      ['cdq', [0x99]],
      ...(mode === 64 ? ([['cqo', [0x48, 0x99]]] as [string, number[]][]) : []),
      ['lahf', [0x9f]],
      ['sahf', [0x9e]],
    ] as [string, number[]][]) {
      add(baseCase(g, name, code, ALL));
    }
    for (let cc = 0; cc < 16; cc++) add(baseCase(g, `set${cc}`, [0x0f, 0x90 | cc, 0xc0 | g.int(4)], ALL));
    for (const [name, code, mask] of [
      ['rep movsb', [0xf3, 0xa4], ALL],
      ['rep movsq', mode === 64 ? [0xf3, 0x48, 0xa5] : [0xf3, 0xa5], ALL],
      ['rep stosd', [0xf3, 0xab], ALL],
      ['lodsw', [0x66, 0xad], ALL],
      ['repe cmpsb', [0xf3, 0xa6], ALL],
      ['repne scasb', [0xf2, 0xae], ALL],
      ['cmpsq', mode === 64 ? [0x48, 0xa7] : [0xa7], ALL],
    ] as [string, number[], number][]) {
      const c = baseCase(g, name, code, mask);
      const down = g.int(4) === 0;
      c.regs[1] = BigInt(g.int(8));
      c.regs[6] = BigInt(DATA_ADDR + (down ? 120 : 8) + g.int(8));
      c.regs[7] = BigInt(DATA_ADDR + (down ? 240 : 128) + g.int(8));
      if (name.includes('cmps') || name.includes('scas')) c.data.set(c.data.subarray(0, 16), 128);
      add({ ...c, flags: down ? c.flags | DF : c.flags });
    }
  }
  if (mode === 32) {
    // 32-bit-only encodings: INC/DEC r (40-4F) and decimal arithmetic, with the flags each leaves undefined.
    for (let n = 0; n < perShape * 4; n++) {
      const r = g.reg();
      add(baseCase(g, `inc/dec r32`, [0x40 | (g.int(2) << 3) | r], ALL));
      add(baseCase(g, `inc/dec r16`, [0x66, 0x40 | (g.int(2) << 3) | r], ALL));
      add(baseCase(g, 'daa', [0x27], ALL & ~OF));
      add(baseCase(g, 'das', [0x2f], ALL & ~OF));
      add(baseCase(g, 'aaa', [0x37], CF | AF | DF));
      add(baseCase(g, 'aas', [0x3f], CF | AF | DF));
      add(baseCase(g, 'aam', [0xd4, 1 + g.int(255)], SF | ZF | PF | DF));
      add(baseCase(g, 'aad', [0xd5, g.int(256)], SF | ZF | PF | DF));
    }
  }
  return cases;
}
