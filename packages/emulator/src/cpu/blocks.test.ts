/**
 * Compiled blocks (blocks.ts) must be invisible: the same guest run with blocks compiled at once and with the
 * interpreter alone ends in the same registers, flags, memory and exits, and stops at the same instruction when
 * a run's instruction budget ends mid-block. The programs are generated loops over the forms blocks write
 * inline (register ALU, MOV, INC/DEC, shifts, loads and stores, PUSH/POP, CALL, Jcc, string instructions) mixed
 * with forms they hand to the general handlers (SETcc, CMOVcc, IMUL, 16-bit stores, REP MOVS); in long mode also
 * TEST of bytes and 64-bit registers, LEA and loads with 64-bit and RIP-relative addresses, MOVSXD, hint NOPs.
 */
import type { Kvm, KvmRegs } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectExit, listing, machineFor } from '../../test/support/listing.js';
import { backend } from '../index.js';
import { setBlockThreshold } from './blocks.js';

let kvm: Kvm;
let savedThreshold = 0;
beforeEach(() => {
  kvm = backend.open('block tests');
  savedThreshold = setBlockThreshold(1);
});
afterEach(() => {
  setBlockThreshold(savedThreshold);
  kvm.close();
});

const ORIGIN = 0x1000;
const DATA = 0x9000;

/** A small deterministic generator (xorshift32), so a failing program can be reproduced from its seed. */
function rng(seed: number): (n: number) => number {
  let s = seed | 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** Immediates at the edges of signed and unsigned ranges. */
const EDGES = [0, 1, -1, 0x7fffffff, 0x80000000, 0xfffffffe];

/** Byte registers the loop body may change: AL, DL, BL, AH, DH, BH. */
const BYTE_REGS = [0, 2, 3, 4, 6, 7];

/** Registers the loop body may change: EAX, EDX, EBX, EBP, ESI, EDI (ECX counts the loop, ESP is the stack). */
const REGS = [0, 2, 3, 5, 6, 7];

/** One random instruction group of the body, in 32-bit protected mode (`long`: valid in 64-bit mode too). */
function piece(pick: (n: number) => number, long: boolean): number[] {
  const reg = () => REGS[pick(REGS.length)];
  const d = reg();
  const s = reg();
  const cc = pick(16);
  const mem = DATA + 4 * pick(64);
  const w = long && pick(3) === 0 ? [0x48] : [];
  switch (pick(31)) {
    case 26:
      // TEST r8, r8 (AH..BH among them) or REX.W TEST r64, r64, then a Jcc; a hint NOP with a memory operand.
      if (pick(3) === 0) return [0x0f, 0x1f, 0x44, 0x00, 0x00];
      return [
        ...(long && pick(2) ? [0x48, 0x85] : [0x84]),
        0xc0 | (pick(8) << 3) | pick(8),
        // The signed conditions half the time: they read SF, bit 7 of a byte result.
        pick(2) ? 0x7c + pick(4) : 0x70 + cc,
        0x02,
        0xf7,
        0xd0 | d,
      ];
    case 27: {
      // Long mode: LEA with REX.W and a scaled index, RIP-relative LEA, loads and MOVZX/MOVSX (the bytes of the
      // code itself), MOVSXD r64, r32.
      if (!long) return [...w, 0x8d, 0x44 | (d << 3), (pick(4) << 6) | (s << 3) | reg(), pick(256)];
      const near = le32(pick(64) - 48);
      switch (pick(5)) {
        case 0:
          return [0x48, 0x8d, 0x44 | (d << 3), (pick(4) << 6) | (s << 3) | reg(), pick(256)];
        case 1:
          return [...w, 0x8d, 0x05 | (d << 3), ...le32(pick(0x7fffffff) * (pick(2) ? 1 : -1))];
        case 2:
          return [...w, 0x8b, 0x05 | (d << 3), ...near];
        case 3:
          return [0x0f, [0xb6, 0xb7, 0xbe, 0xbf][pick(4)], 0x05 | (d << 3), ...near];
        default:
          return [0x48, 0x63, 0xc0 | (d << 3) | s];
      }
    }
    case 29: {
      // Byte ALU between registers (AH..BH among them), on AL with an immediate, with a memory source, CMP m8, r8
      // and CMP m8, imm8; group 1 on a byte register; TEST r/m8 or r/m32 with an immediate; then a Jcc.
      // Byte registers written: AL, DL, BL, AH, DH, BH (CL and CH hold the loop count).
      const byte = () => BYTE_REGS[pick(BYTE_REGS.length)];
      const kind = pick(8);
      const alu = [
        pick(2)
          ? [kind << 3, 0xc0 | (pick(8) << 3) | byte()]
          : [(kind << 3) | 2, 0xc0 | (byte() << 3) | pick(8)],
        [(kind << 3) | 4, pick(256)],
        [(kind << 3) | 2, 0x04 | (byte() << 3), 0x25, ...le32(mem)],
        [0x38, 0x04 | (pick(8) << 3), 0x25, ...le32(mem)],
        [0x80, 0x3c, 0x25, ...le32(mem), pick(256)],
        [0x80, 0xc0 | (kind << 3) | byte(), pick(256)],
        [0xf6, 0xc0 | pick(8), pick(256)],
        [0xf7, 0x04, 0x25, ...le32(mem), ...le32(EDGES[pick(EDGES.length)])],
      ][pick(8)];
      return [...alu, 0x70 + cc, 0x02, 0xf7, 0xd0 | d];
    }
    case 30:
      // NEG or NOT (64-bit with REX.W), MOV r/m, imm, MOV m8, r8, and in long mode ADD/CMP with a 64-bit memory
      // operand, CMP m64, imm8 and MOVSXD r64, m32.
      switch (pick(long ? 7 : 4)) {
        case 0:
          return [
            ...w,
            0xf7,
            0xc0 | ((pick(2) ? 2 : 3) << 3) | d,
            0x0f,
            0x90 + cc,
            0xc0 | [0, 2, 3][pick(3)],
          ];
        case 1:
          return pick(2)
            ? [...w, 0xc7, 0xc0 | d, ...le32(EDGES[pick(EDGES.length)])]
            : [0xc6, 0x04, 0x25, ...le32(mem + pick(4)), pick(256)];
        case 2:
          return [...w, 0xc7, 0x04, 0x25, ...le32(mem), ...le32(EDGES[pick(EDGES.length)])];
        case 3:
          return [0x88, 0x04 | (pick(8) << 3), 0x25, ...le32(mem + pick(4))];
        case 4:
          return [
            0x48,
            [0x03, 0x2b, 0x3b, 0x39][pick(4)],
            0x04 | (d << 3),
            0x25,
            ...le32(mem),
            0x70 + cc,
            0x02,
            0xf7,
            0xd0 | d,
          ];
        case 5:
          return [0x48, 0x83, 0x3c, 0x25, ...le32(mem), pick(256), 0x70 + cc, 0x02, 0xf7, 0xd0 | d];
        default:
          return [0x48, 0x63, 0x04 | (d << 3), 0x25, ...le32(mem)];
      }
    case 22:
      // ALU r32, m32 (any of the eight).
      return [(pick(8) << 3) | 3, 0x04 | (d << 3), 0x25, ...le32(mem)];
    case 23:
      // CMP m32, r32 or CMP m32, imm8, then a Jcc.
      return [
        ...(pick(2)
          ? [0x39, 0x04 | (s << 3), 0x25, ...le32(mem)]
          : [0x83, 0x3c, 0x25, ...le32(mem), pick(256)]),
        0x70 + cc,
        0x02,
        0xf7,
        0xd0 | d,
      ];
    case 24:
      // TEST r/m32, r32, then a Jcc.
      return [
        ...(pick(2) ? [0x85, 0xc0 | (s << 3) | d] : [0x85, 0x04 | (s << 3), 0x25, ...le32(mem)]),
        0x70 + cc,
        0x02,
        0xf7,
        0xd0 | d,
      ];
    case 25:
      // MOVZX/MOVSX from a register (byte registers include AH..BH) or from memory.
      return pick(2)
        ? [0x0f, [0xb6, 0xb7, 0xbe, 0xbf][pick(4)], 0xc0 | (d << 3) | s]
        : [0x0f, [0xb6, 0xb7, 0xbe, 0xbf][pick(4)], 0x04 | (d << 3), 0x25, ...le32(mem)];
    case 0:
      return [...w, (pick(8) << 3) | (pick(2) ? 1 : 3), 0xc0 | (s << 3) | d];
    case 1:
      return [...w, 0x83, 0xc0 | (pick(8) << 3) | d, pick(256)];
    case 2:
      return [0x81, 0xc0 | (pick(8) << 3) | d, ...le32(pick(0x7fffffff) * (pick(2) ? 1 : -1))];
    case 3:
      return [...w, 0x89, 0xc0 | (s << 3) | d];
    case 4:
      // Edge values half the time: carries and borrows across the 32-bit halves of 64-bit registers.
      return [0xb8 + d, ...le32(pick(2) ? pick(0x7fffffff) : EDGES[pick(EDGES.length)])];
    case 5:
      return long ? [...w, 0xff, (pick(2) ? 0xc0 : 0xc8) | d] : [(pick(2) ? 0x40 : 0x48) + d];
    case 6:
      // Shifts by a constant (by 1 too); 64-bit counts of 32 and more move bits across the halves.
      return pick(4) === 0
        ? [...w, 0xd1, 0xc0 | ([4, 5, 6, 7][pick(4)] << 3) | d]
        : [...w, 0xc1, 0xc0 | ([4, 5, 6, 7][pick(4)] << 3) | d, pick(70)];
    case 7:
      return [0x8b, 0x04 | (d << 3), 0x25, ...le32(mem)];
    case 8:
      return [0x89, 0x04 | (s << 3), 0x25, ...le32(mem)];
    case 9:
      return [0x50 + s, 0x58 + d];
    case 10:
      // CMP then a Jcc over a NOT: the block's side exit.
      return [0x39, 0xc0 | (s << 3) | d, 0x70 + cc, 0x02, 0xf7, 0xd0 | d];
    case 11:
      return [0x85, 0xc0 | (s << 3) | d, 0x0f, 0x80 + cc, 2, 0, 0, 0, 0xf7, 0xd0 | s];
    case 12: {
      // MOV ESI/EDI to the data page, then one string instruction.
      const op = [0xac, 0xad, 0xaa, 0xab, 0xa4, 0xa5, 0xa6, 0xa7, 0xae, 0xaf][pick(10)];
      return [0xbe, ...le32(DATA + pick(256)), 0xbf, ...le32(DATA + 0x400 + pick(256)), op];
    }
    case 13: {
      // REP MOVS of a few elements, often overlapping closer than an element, sometimes backwards (STD ... CLD).
      const from = DATA + pick(128);
      const to = pick(2) ? from + 1 + pick(3) : DATA + pick(128);
      return [
        0x51,
        0xbe,
        ...le32(from),
        0xbf,
        ...le32(to),
        0xb9,
        ...le32(pick(12)),
        ...(pick(4) === 0 ? [0xfd] : []),
        0xf3,
        pick(2) ? 0xa5 : 0xa4,
        0xfc,
        0x59,
      ];
    }
    case 14:
      // CALL to the next instruction, then POP the return address.
      return [0xe8, 0, 0, 0, 0, 0x58 + d];
    case 15:
      return [0x0f, 0x90 + cc, 0xc0 | [0, 2, 3][pick(3)]];
    case 16:
      return [...w, 0x0f, 0x40 + cc, 0xc0 | (d << 3) | s];
    case 17:
      return [0x8d, 0x44 | (d << 3), (pick(4) << 6) | (s << 3) | reg(), pick(256)];
    case 18:
      // IMUL r, r or r, r, imm, then sometimes an ADD that makes IMUL's flags dead (blocks then skip them).
      return [
        ...w,
        ...[
          [0x0f, 0xaf, 0xc0 | (d << 3) | s],
          [0x6b, 0xc0 | (d << 3) | s, pick(256)],
          [0x69, 0xc0 | (d << 3) | s, ...le32(pick(0x7fffffff) * (pick(2) ? 1 : -1))],
        ][pick(3)],
        ...(pick(2) ? [...w, 0x01, 0xc0 | (s << 3) | d] : []),
      ];
    case 20:
      // A load through ESI plus ESI scaled (base and index registers), 8 bytes in long mode with REX.W.
      return [
        0xbe,
        ...le32(DATA + pick(128)),
        ...w,
        0x8b,
        0x44 | (d << 3),
        (pick(3) << 6) | (6 << 3) | 6,
        pick(128),
      ];
    case 21:
      // A store through ESI plus a displacement.
      return [0xbe, ...le32(DATA + pick(128)), ...w, 0x89, 0x46 | (s << 3), pick(128)];
    case 19:
      // CALL one of the leaf routines (patched by `program`), then an INC of a counter that leaf 1 may skip.
      return [0xe8, LEAF_MARK, pick(LEAVES.length), 0, 0, 0xff, 0x04, 0x25, ...le32(DATA + 0x7fc)];
    default:
      return [0x66, 0x89, 0x04 | (s << 3), 0x25, ...le32(mem)];
  }
}

/** A byte no generated CALL has as its first displacement byte: marks a call to patch. */
const LEAF_MARK = 0x5a;

/**
 * Subroutines after the loop: one returns normally, one returns past the 7-byte INC after its CALL when EAX is
 * odd (so a trace through it predicts that RET wrongly), one calls the first (nested CALL/RET).
 */
const LEAVES = [
  [0x83, 0xc0, 0x01, 0xc3], // add eax, 1; ret
  [0xa8, 0x01, 0x74, 0x04, 0x83, 0x04, 0x24, 0x07, 0xc3], // test al, 1; jz +4; add dword [esp], 7; ret
  [0xe8, LEAF_MARK, 0, 0, 0, 0xc3], // call leaf 0; ret
];

/** A loop of `pieces` random groups run `iterations` times, then HLT, then the leaf routines. */
function program(seed: number, long: boolean, pieces: number, iterations: number): Uint8Array {
  const pick = rng(seed);
  const body: number[] = [];
  for (let k = 0; k < pieces; k++) body.push(...piece(pick, long));
  body.push(0xff, 0xc9); // DEC ECX
  const loop = [0xb9, ...le32(iterations), ...body];
  // JNZ rel32 back to the body's start.
  const rel = -(body.length + 6);
  const code = [...loop, 0x0f, 0x85, ...le32(rel), 0xf4];
  const leafAt: number[] = [];
  for (const leaf of LEAVES) {
    leafAt.push(code.length);
    code.push(...leaf);
  }
  // Patch the calls: the marker, then the leaf's index (the nested call in leaf 2 goes to leaf 0).
  for (let k = 0; k + 5 <= code.length; k++) {
    if (code[k] !== 0xe8 || code[k + 1] !== LEAF_MARK) continue;
    const target = k >= leafAt[0] ? leafAt[0] : leafAt[code[k + 2]];
    code.splice(k + 1, 4, ...le32(target - (k + 5)));
    k += 4;
  }
  return Uint8Array.from(code);
}

interface Outcome {
  exits: string[];
  regs: KvmRegs;
  data: number[];
}

/** Runs `code` with blocks compiled after `threshold` visits (-1: never), `budget` instructions a run. */
function run(
  code: Uint8Array,
  mode: 'protected' | 'long',
  threshold: number,
  budget: number,
  seed: number,
): Outcome {
  setBlockThreshold(threshold);
  using m = machineFor(kvm, mode, { bytes: code, origin: ORIGIN, labels: {} });
  const pick = rng(seed * 7 + 1);
  for (let a = DATA; a < DATA + 0x800; a++) m.ram[a] = pick(256);
  const regs = m.vcpu.getRegs();
  regs.rax = BigInt(pick(0x7fffffff));
  regs.rbx = BigInt(pick(0x7fffffff));
  regs.rdx = BigInt(pick(0x7fffffff));
  regs.rbp = BigInt(pick(0x7fffffff));
  m.vcpu.setRegs(regs);
  (m.vcpu as unknown as { instructionBudget: number }).instructionBudget = budget;
  const exits: string[] = [];
  for (let k = 0; k < 10000; k++) {
    const exit = m.vcpu.run();
    exits.push(`${exit.reason} ${m.vcpu.getRegs().rip.toString(16)}`);
    if (exit.reason !== 'intr') break;
  }
  return { exits, regs: m.vcpu.getRegs(), data: [...m.ram.subarray(DATA, DATA + 0x800)] };
}

describe('compiled blocks behave as the interpreter', () => {
  for (const mode of ['protected', 'long'] as const) {
    it(`${mode} mode: generated loops end in the same state, with and without blocks`, () => {
      let cases = 0;
      for (let seed = 1; seed <= 60; seed++) {
        const code = program(seed, mode === 'long', 12, 30);
        const plain = run(code, mode, -1, 20_000_000, seed);
        expect(plain.exits.at(-1)?.startsWith('hlt'), `seed ${seed}: ${plain.exits.at(-1)}`).toBe(true);
        for (const threshold of [1, 3]) {
          const compiled = run(code, mode, threshold, 20_000_000, seed);
          expect(compiled, `seed ${seed}, blocks after ${threshold} visits`).toEqual(plain);
        }
        cases++;
      }
      console.log(`[blocks] ${mode}: ${cases} generated loops agree with the interpreter`);
    });

    it(`${mode} mode: a run's instruction budget ends at the same instruction inside a block`, () => {
      for (let seed = 100; seed < 110; seed++) {
        const code = program(seed, mode === 'long', 10, 20);
        const budget = 7 + (seed % 13);
        const plain = run(code, mode, -1, budget, seed);
        const compiled = run(code, mode, 1, budget, seed);
        expect(compiled.exits.length).toBeGreaterThan(10);
        expect(compiled, `seed ${seed}`).toEqual(plain);
      }
    });
  }

  it('long mode: 64-bit INC, DEC, ADD and ADC carry and borrow across the 32-bit halves', () => {
    const code = listing(`
    B932000000                 mov ecx, 50
                               again:
    31C0                       xor eax, eax
    48FFC8                     dec rax
    4801C3                     add rbx, rax
    BAFFFFFFFF                 mov edx, 0xffffffff
    48FFC2                     inc rdx
    4801D6                     add rsi, rdx
    4811C7                     adc rdi, rax
    FFC9                       dec ecx
    75E6                       jnz again
    F4                         hlt
    `);
    for (const threshold of [-1, 1, 5]) {
      setBlockThreshold(threshold);
      using m = machineFor(kvm, 'long', code);
      const regs = m.vcpu.getRegs();
      regs.rbx = 0n;
      regs.rsi = 0n;
      regs.rdi = 0n;
      m.vcpu.setRegs(regs);
      expectExit(m.vcpu, 'hlt');
      const out = m.vcpu.getRegs();
      const at = `blocks after ${threshold} visits`;
      expect([out.rax, out.rdx], at).toEqual([2n ** 64n - 1n, 2n ** 32n]);
      expect([out.rbx, out.rsi, out.rdi], at).toEqual([2n ** 64n - 50n, 50n << 32n, 2n ** 64n - 50n]);
    }
  });

  it('TEST of byte registers then every Jcc: the same branches with and without blocks', () => {
    // Each value pair, each condition: TEST AL, BL or TEST AH, CH, a Jcc over INC EDX, then ROL EDX, 1, so EDX
    // ends a hash of every branch decision in order.
    const values = [0, 1, 0x7f, 0x80, 0xff, 0xc3];
    const body: number[] = [];
    for (const a of values) {
      for (const b of values) {
        body.push(0xb8, ...le32(a | (b << 8)), 0xbb, ...le32(b), 0xb9, ...le32(a << 8));
        for (let cc = 0; cc < 16; cc++) {
          body.push(0x84, cc & 1 ? 0xe5 : 0xd8, 0x70 + cc, 0x02, 0xff, 0xc2, 0xc1, 0xc2, 0x01);
        }
      }
    }
    body.push(0xff, 0xcf); // DEC EDI
    const code = Uint8Array.from([0xbf, ...le32(6), ...body, 0x0f, 0x85, ...le32(-(body.length + 6)), 0xf4]);
    for (const mode of ['protected', 'long'] as const) {
      const plain = run(code, mode, -1, 20_000_000, 1);
      expect(plain.exits.at(-1)?.startsWith('hlt')).toBe(true);
      // Compiled at the third visit, once the page's instructions are all decoded.
      expect(run(code, mode, 3, 20_000_000, 1), `${mode} mode`).toEqual(plain);
    }
  });

  it('long mode: 64-bit ADD, SUB, CMP and AND then every condition as SETcc and CMOVcc, as the interpreter', () => {
    // Each value pair, each operation on RDX (a copy of RAX) and RBX, then four conditions read without touching
    // the flags: SETcc into a hash (LEA) and a CMOVcc. Each group of four ends with an indirect JMP to the next,
    // so the operation and its readers are always one compiled block (a group is 16 instructions, a block's most
    // outside a loop; a block ends at the JMP anyway); R8D
    // folds the hashes of every operation. The pairs include equal values and carries, borrows and signed
    // overflow across the 32-bit halves.
    const values = [0n, 1n, 0xffffffffn, 0x8000000000000000n, 0xffffffffffffffffn];
    const le64 = (v: bigint) => [...le32(Number(v & 0xffffffffn)), ...le32(Number(v >> 32n))];
    const body: number[] = [];
    for (const a of values) {
      for (const b of values) {
        body.push(0x48, 0xb8, ...le64(a), 0x48, 0xbb, ...le64(b));
        for (const op of [0x01, 0x29, 0x39, 0x21]) {
          for (let group = 0; group < 16; group += 4) {
            body.push(0x48, 0x89, 0xc2, 0x48, op, 0xda); // MOV RDX, RAX; op RDX, RBX
            for (let cc = group; cc < group + 4; cc++) {
              body.push(0x0f, 0x90 + cc, 0xc2, 0x8d, 0x34, 0x72); // SETcc DL; LEA ESI, [RDX + RSI * 2]
              body.push(0x0f, 0x40 + cc, 0xfe); // CMOVcc EDI, ESI
            }
            body.push(0x4c, 0x8d, 0x0d, ...le32(3), 0x41, 0xff, 0xe1); // LEA R9, [RIP + 3]; JMP R9
          }
          // XOR R8D, ESI; IMUL R8D, R8D, FNV prime; the same with EDI.
          body.push(0x41, 0x31, 0xf0, 0x45, 0x69, 0xc0, ...le32(0x01000193));
          body.push(0x41, 0x31, 0xf8, 0x45, 0x69, 0xc0, ...le32(0x01000193));
        }
      }
    }
    body.push(0xff, 0xcd); // DEC EBP
    const code = Uint8Array.from([0xbd, ...le32(6), ...body, 0x0f, 0x85, ...le32(-(body.length + 6)), 0xf4]);
    expect(ORIGIN + code.length).toBeLessThan(DATA);
    const plain = run(code, 'long', -1, 20_000_000, 1);
    expect(plain.exits.at(-1)?.startsWith('hlt')).toBe(true);
    expect(run(code, 'long', 3, 20_000_000, 1)).toEqual(plain);
  });

  it('real mode: a hot loop of 16- and 32-bit operations, loads and stores ends as the interpreter ends it', () => {
    const code = listing(`
    66B878563412               mov eax, 0x12345678
    BB3412                     mov bx, 0x1234
    B9C800                     mov cx, 200
                               again:
    6601D8                     add eax, ebx
    01C3                       add bx, ax
    66C1E003                   shl eax, 3
    81E3FE0F                   and bx, 0x0ffe
    81CB0090                   or bx, 0x9000
    8907                       mov [bx], ax
    8B17                       mov dx, [bx]
    6629D0                     sub eax, edx
    E2E6                       loop again
    F4                         hlt
    `);
    const outcomes: unknown[] = [];
    for (const threshold of [-1, 1, 5]) {
      setBlockThreshold(threshold);
      using m = machineFor(kvm, 'real', code);
      expectExit(m.vcpu, 'hlt');
      outcomes.push({ regs: m.vcpu.getRegs(), data: [...m.ram.subarray(0x9000, 0xa000)] });
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
    expect(outcomes[2]).toEqual(outcomes[0]);
  });

  it('a hot loop that rewrites its own immediate sees each new value at once', () => {
    // EBX accumulates the immediate of `patched`, which the loop itself increments each iteration: a block
    // compiled over the loop must end at the store and run the new bytes.
    const code = listing(
      `
    31DB                       xor ebx, ebx
    B964000000                 mov ecx, 100
                               again:
                               patched:
    B801000000                 mov eax, 1
    01C3                       add ebx, eax
    40                         inc eax
    A3{patched+1}              mov [patched+1], eax
    49                         dec ecx
    75F0                       jnz again
    F4                         hlt
    `.replace(
        '{patched+1}',
        le32(ORIGIN + 8)
          .map((b) => b.toString(16).padStart(2, '0').toUpperCase())
          .join(''),
      ),
    );
    for (const threshold of [-1, 1, 5]) {
      setBlockThreshold(threshold);
      using m = machineFor(kvm, 'protected', code);
      expectExit(m.vcpu, 'hlt');
      // 1 + 2 + ... + 100.
      expect(m.vcpu.getRegs().rbx, `blocks after ${threshold} visits`).toBe(5050n);
    }
  });

  it('a load that leaves RAM inside a hot loop exits as MMIO at that instruction, with the registers so far', () => {
    // ESI steps a page at a time from 0 past the end of RAM (256 KiB): the exit comes mid-block.
    const code = listing(`
    31F6                       xor esi, esi
    31C0                       xor eax, eax
                               again:
    40                         inc eax
    8B1E                       mov ebx, [esi]
    81C600100000               add esi, 0x1000
    EBF5                       jmp again
    `);
    const outcomes: string[] = [];
    for (const threshold of [-1, 1, 4]) {
      setBlockThreshold(threshold);
      using m = machineFor(kvm, 'protected', code);
      const exit = expectExit(m.vcpu, 'mmio');
      const regs = m.vcpu.getRegs();
      outcomes.push(
        `${exit.reason === 'mmio' ? exit.physAddr.toString(16) : ''} rip ${regs.rip.toString(16)} eax ${regs.rax} esi ${regs.rsi.toString(16)}`,
      );
    }
    expect(outcomes[0]).toBe('40000 rip 1005 eax 65 esi 40000');
    expect(new Set(outcomes).size).toBe(1);
  });
});
