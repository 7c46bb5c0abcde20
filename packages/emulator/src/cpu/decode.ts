/**
 * The table-driven decoder (SDM Vol. 2 chapter 2 and Appendix A). One table describes every opcode of the
 * one-byte and 0F maps: whether it has a ModRM byte, its immediates, whether it is a byte operation, how its
 * operand size behaves in 64-bit mode, and whether it exists there. `decode` turns bytes into an {@link Insn}
 * once; the CPU caches it by physical address (insn-cache.ts) and the dispatch table (dispatch.ts) runs it.
 */
import { CRC32_OP, SIMD_MODRM, SIMD_MODRM_IB, SIMD_PLAIN } from './simd/opcodes.js';
import { CodeMode, Seg } from './state.js';

/** Attribute bits of an opcode in {@link OPCODES}. */
export const Op = {
  /** A ModRM byte follows. */
  M: 0x1,
  /** Byte operation: operand size 1. */
  B: 0x2,
  /** An 8-bit immediate, sign-extended. */
  IB: 0x4,
  /** A 16-bit immediate. */
  IW: 0x8,
  /** A 16- or 32-bit immediate by operand size (sign-extended to 64 bits). */
  IZ: 0x10,
  /** A 16-, 32- or 64-bit immediate by operand size (MOV r, imm). */
  IV: 0x20,
  /** Operand size defaults to 64 bits in 64-bit mode (PUSH, POP, ...). */
  D64: 0x40,
  /** Invalid in 64-bit mode (#UD). */
  I64: 0x80,
  /** A far pointer: offset (16/32) then a 16-bit selector. */
  AP: 0x100,
  /** A memory offset of address size (MOV AL, moffs). */
  MO: 0x200,
  /** Operand size forced to 64 bits in 64-bit mode (near branches; Intel ignores 66 there). */
  F64: 0x400,
  /** F6/F7: /0 and /1 (TEST) carry an immediate. */
  G3: 0x800,
  /** ENTER: a 16-bit then an 8-bit immediate. */
  EN: 0x1000,
  /** ModRM's mod field is ignored: always a register (MOV to/from CR/DR). */
  MR: 0x2000,
  /** A known opcode (unknown ones decode and raise #UD when run). */
  V: 0x4000,
} as const;

const { M, B, IB, IW, IZ, IV, D64, I64, AP, MO, F64, G3, EN, MR, V } = Op;

/** Attributes per opcode: 0-255 the one-byte map, 256-511 the 0F map, 512-767 0F 38, 768-1023 0F 3A. */
export const OPCODES = new Uint16Array(1024);

function def(op: number, attrs: number): void {
  OPCODES[op] = attrs | V;
}

// One-byte map (SDM Vol. 2 Table A-2).
for (let base = 0; base < 0x40; base += 8) {
  def(base, M | B);
  def(base + 1, M);
  def(base + 2, M | B);
  def(base + 3, M);
  def(base + 4, B | IB);
  def(base + 5, IZ);
}
for (const op of [0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61]) def(op, I64);
for (let op = 0x40; op < 0x50; op++) def(op, 0);
for (let op = 0x50; op < 0x60; op++) def(op, D64);
def(0x62, M | I64);
def(0x63, M);
def(0x68, IZ | D64);
def(0x69, M | IZ);
def(0x6a, IB | D64);
def(0x6b, M | IB);
def(0x6c, B);
def(0x6d, 0);
def(0x6e, B);
def(0x6f, 0);
for (let op = 0x70; op < 0x80; op++) def(op, IB | F64);
def(0x80, M | B | IB);
def(0x81, M | IZ);
def(0x82, M | B | IB | I64);
def(0x83, M | IB);
for (const op of [0x84, 0x86, 0x88, 0x8a]) def(op, M | B);
for (const op of [0x85, 0x87, 0x89, 0x8b, 0x8c, 0x8d, 0x8e]) def(op, M);
def(0x8f, M | D64);
for (let op = 0x90; op < 0x9a; op++) def(op, 0);
def(0x9a, AP | I64);
def(0x9b, 0);
def(0x9c, D64);
def(0x9d, D64);
def(0x9e, 0);
def(0x9f, 0);
def(0xa0, B | MO);
def(0xa1, MO);
def(0xa2, B | MO);
def(0xa3, MO);
for (const op of [0xa4, 0xa6, 0xaa, 0xac, 0xae]) def(op, B);
for (const op of [0xa5, 0xa7, 0xab, 0xad, 0xaf]) def(op, 0);
def(0xa8, B | IB);
def(0xa9, IZ);
for (let op = 0xb0; op < 0xb8; op++) def(op, B | IB);
for (let op = 0xb8; op < 0xc0; op++) def(op, IV);
def(0xc0, M | B | IB);
def(0xc1, M | IB);
def(0xc2, IW | F64);
def(0xc3, F64);
def(0xc4, M | I64);
def(0xc5, M | I64);
def(0xc6, M | B | IB);
def(0xc7, M | IZ);
def(0xc8, EN | D64);
def(0xc9, D64);
def(0xca, IW);
def(0xcb, 0);
def(0xcc, 0);
def(0xcd, IB);
def(0xce, I64);
def(0xcf, 0);
def(0xd0, M | B);
def(0xd1, M);
def(0xd2, M | B);
def(0xd3, M);
def(0xd4, IB | I64);
def(0xd5, IB | I64);
def(0xd7, B);
for (let op = 0xe0; op < 0xe4; op++) def(op, IB | F64);
def(0xe4, B | IB);
def(0xe5, IB);
def(0xe6, B | IB);
def(0xe7, IB);
def(0xe8, IZ | F64);
def(0xe9, IZ | F64);
def(0xea, AP | I64);
def(0xeb, IB | F64);
def(0xec, B);
def(0xed, 0);
def(0xee, B);
def(0xef, 0);
def(0xf1, 0);
def(0xf4, 0);
def(0xf5, 0);
def(0xf6, M | B | G3);
def(0xf7, M | G3);
for (let op = 0xf8; op < 0xfe; op++) def(op, 0);
def(0xfe, M | B);
def(0xff, M);

// Two-byte map, 0F xx (SDM Vol. 2 Table A-3).
const X = 0x100;
def(X + 0x00, M);
def(X + 0x01, M);
def(X + 0x02, M);
def(X + 0x03, M);
for (const op of [0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0xa2])
  def(X + op, 0);
def(X + 0x0d, M);
for (let op = 0x18; op < 0x20; op++) def(X + op, M);
for (let op = 0x20; op < 0x24; op++) def(X + op, M | MR);
for (let op = 0x40; op < 0x50; op++) def(X + op, M);
for (let op = 0x80; op < 0x90; op++) def(X + op, IZ | F64);
for (let op = 0x90; op < 0xa0; op++) def(X + op, M | B);
def(X + 0xa0, D64);
def(X + 0xa1, D64);
def(X + 0xa3, M);
def(X + 0xa4, M | IB);
def(X + 0xa5, M);
def(X + 0xa8, D64);
def(X + 0xa9, D64);
def(X + 0xab, M);
def(X + 0xac, M | IB);
def(X + 0xad, M);
def(X + 0xaf, M);
def(X + 0xb0, M | B);
def(X + 0xb1, M);
for (const op of [0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc1, 0xc7])
  def(X + op, M);
def(X + 0xba, M | IB);
def(X + 0xc0, M | B);
for (let op = 0xc8; op < 0xd0; op++) def(X + op, 0);

// Three-byte map 0F 38 (SDM Vol. 2 Table A-4): MOVBE here, the SSE opcodes below.
const X38 = 0x200;
def(X38 + 0xf0, M);
def(X38 + 0xf1, M);

// x87, MMX and SSE opcodes of every map (simd/opcodes.ts).
for (const op of SIMD_MODRM) def(op, M);
for (const op of SIMD_MODRM_IB) def(op, M | IB);
for (const op of SIMD_PLAIN) def(op, 0);

/** Flags of a decoded instruction (`Insn.flags`). */
export const InsnFlag = {
  LOCK: 0x1,
  /** REP/REPE (F3). */
  REP: 0x2,
  /** REPNE (F2). */
  REPNE: 0x4,
  /** Memory operand addressed RIP-relative. */
  RIPREL: 0x8,
  /** A REX prefix was present (byte registers 4-7 are SPL..DIL, not AH..BH). */
  REX: 0x10,
  /** The opcode does not exist, is invalid in this mode, or the instruction is longer than 15 bytes. */
  UD: 0x20,
  /** Operand-size prefix 66 seen (some instructions care, whatever the computed size). */
  OPSIZE: 0x40,
} as const;

/** Register number meaning "none" in base/index. */
export const NO_REG = -1;

/**
 * One decoded instruction. Fields are plain numbers in a fixed shape, so every handler sees the same hidden
 * class. Byte-register operands are resolved: 0-15 are the low bytes, 16-19 are AH, CH, DH, BH.
 */
export class Insn {
  /** Dispatch index: the opcode, plus 256 for the 0F map. */
  op = 0;
  /** Length in bytes. */
  len = 0;
  /** The CodeMode it was decoded for (a cached entry is only valid in the same mode). */
  mode = -1;
  /** Operand size in bytes: 1, 2, 4 or 8. */
  osize = 4;
  /** Address size in bytes: 2, 4 or 8. */
  asize = 4;
  /** Segment of the memory operand: the override, or DS/SS by the base register. */
  seg: number = Seg.DS;
  /** Whether a segment override prefix was given (string instructions' source honours it). */
  segOverride = false;
  flags = 0;
  /** ModRM fields; `reg` and `rm` include REX.R/REX.B. For byte operations `regB`/`rmB` resolve AH..BH. */
  mod = 3;
  reg = 0;
  rm = 0;
  regB = 0;
  rmB = 0;
  base = NO_REG;
  index = NO_REG;
  scale = 0;
  /** Displacement, sign-extended to 32 bits (64-bit mode sign-extends it further). */
  disp = 0;
  /** Immediate, low 32 bits (sign-extended where the encoding says so) and high 32 bits. */
  imm = 0;
  immHi = 0;
  /** Second immediate: the selector of a far pointer, the nesting level of ENTER. */
  imm2 = 0;
  /** The handler id dispatch.ts chose for this instruction (-1 until its first run). */
  handler = -1;
}

function byteReg(r: number, rex: boolean): number {
  return !rex && r >= 4 && r < 8 ? 16 + r - 4 : r;
}

/** Reads one byte of the instruction stream at `offset` from the instruction's start; -1 after a fault. */
export type FetchByte = (offset: number) => number;

const MAX_LEN = 15;

/**
 * Decodes one instruction in `mode` into `out`. Returns false if fetching faulted (the fault is recorded by
 * `fetch`); an invalid encoding is returned as an instruction flagged UD, whose execution raises #UD.
 */
export function decode(mode: number, fetch: FetchByte, out: Insn): boolean {
  let pos = 0;
  let osize = mode === CodeMode.M16 ? 2 : 4;
  let asize = mode === CodeMode.M16 ? 2 : mode === CodeMode.M32 ? 4 : 8;
  let flags = 0;
  let seg = -1;
  let rex = 0;
  let opsizePrefix = false;
  let b: number;
  // Prefixes (SDM Vol. 2 2.1.1); a REX prefix counts only when it comes last (2.2.1).
  for (;;) {
    b = fetch(pos);
    if (b < 0) return false;
    pos++;
    if (pos > MAX_LEN) return finishInvalid(out, mode, pos);
    if (mode === CodeMode.M64 && (b & 0xf0) === 0x40) {
      rex = b;
      continue;
    }
    if (b === 0x66) opsizePrefix = true;
    else if (b === 0x67) asize = mode === CodeMode.M16 ? 4 : mode === CodeMode.M32 ? 2 : 4;
    else if (b === 0xf0) flags |= InsnFlag.LOCK;
    else if (b === 0xf3) flags = (flags & ~InsnFlag.REPNE) | InsnFlag.REP;
    else if (b === 0xf2) flags = (flags & ~InsnFlag.REP) | InsnFlag.REPNE;
    else if (b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e) {
      // 64-bit mode ignores the ES, CS, SS and DS overrides.
      if (mode !== CodeMode.M64) seg = (b >> 3) & 3;
    } else if (b === 0x64) seg = Seg.FS;
    else if (b === 0x65) seg = Seg.GS;
    else break;
    // A legacy prefix after REX cancels it.
    rex = 0;
  }
  let op = b;
  if (op === 0x0f) {
    b = fetch(pos);
    if (b < 0) return false;
    pos++;
    op = 0x100 | b;
    if (b === 0x38) {
      b = fetch(pos);
      if (b < 0) return false;
      pos++;
      op = 0x200 | b;
      // F2 0F 38 F0/F1 is CRC32, not MOVBE: it has a dispatch index of its own.
      if (flags & InsnFlag.REPNE && (b === 0xf0 || b === 0xf1)) op = CRC32_OP | (b & 1);
    } else if (b === 0x3a) {
      b = fetch(pos);
      if (b < 0) return false;
      pos++;
      op = 0x300 | b;
    }
  }
  const attrs = OPCODES[op];
  if (rex) flags |= InsnFlag.REX;
  if (opsizePrefix) flags |= InsnFlag.OPSIZE;
  if (mode === CodeMode.M64) {
    if (rex & 8) osize = 8;
    else if (opsizePrefix) osize = 2;
    else if (attrs & (D64 | F64)) osize = 8;
    if (attrs & F64) osize = 8;
    else if (attrs & D64 && !(rex & 8) && opsizePrefix) osize = 2;
  } else if (opsizePrefix) {
    osize = osize === 2 ? 4 : 2;
  }
  if (attrs & B) osize = 1;
  if (!(attrs & V) || (mode === CodeMode.M64 && attrs & I64)) flags |= InsnFlag.UD;

  out.op = op;
  out.mode = mode;
  out.handler = -1;
  out.asize = asize;
  out.mod = 3;
  out.reg = 0;
  out.rm = 0;
  out.regB = 0;
  out.rmB = 0;
  out.base = NO_REG;
  out.index = NO_REG;
  out.scale = 0;
  out.disp = 0;
  out.imm = 0;
  out.immHi = 0;
  out.imm2 = 0;
  out.segOverride = seg >= 0;
  let defaultSeg: number = Seg.DS;

  if (attrs & M) {
    const modrm = fetch(pos);
    if (modrm < 0) return false;
    pos++;
    let mod = modrm >> 6;
    const regField = ((modrm >> 3) & 7) | ((rex & 4) << 1);
    const rmLow = modrm & 7;
    if (attrs & MR) mod = 3;
    out.reg = regField;
    out.regB = byteReg(regField, rex !== 0);
    out.mod = mod;
    if (mod === 3) {
      out.rm = rmLow | ((rex & 1) << 3);
      out.rmB = byteReg(out.rm, rex !== 0);
    } else if (asize === 2) {
      // 16-bit addressing (SDM Vol. 2 Table 2-1).
      const bases = [3, 3, 5, 5, 6, 7, 5, 3];
      const indexes = [6, 7, 6, 7, NO_REG, NO_REG, NO_REG, NO_REG];
      if (mod === 0 && rmLow === 6) {
        const lo = fetch(pos);
        const hi = fetch(pos + 1);
        if (lo < 0 || hi < 0) return false;
        pos += 2;
        out.disp = lo | (hi << 8);
      } else {
        out.base = bases[rmLow];
        out.index = indexes[rmLow];
        if (rmLow === 2 || rmLow === 3 || rmLow === 6) defaultSeg = Seg.SS;
        if (mod === 1) {
          const d = fetch(pos);
          if (d < 0) return false;
          pos++;
          out.disp = (d << 24) >> 24;
        } else if (mod === 2) {
          const lo = fetch(pos);
          const hi = fetch(pos + 1);
          if (lo < 0 || hi < 0) return false;
          pos += 2;
          out.disp = ((lo | (hi << 8)) << 16) >> 16;
        }
      }
    } else {
      let baseLow = rmLow;
      if (rmLow === 4) {
        const sib = fetch(pos);
        if (sib < 0) return false;
        pos++;
        out.scale = sib >> 6;
        const index = ((sib >> 3) & 7) | ((rex & 2) << 2);
        out.index = index === 4 ? NO_REG : index;
        baseLow = sib & 7;
        if (baseLow === 5 && mod === 0) {
          out.base = NO_REG;
        } else {
          out.base = baseLow | ((rex & 1) << 3);
        }
      } else if (rmLow === 5 && mod === 0) {
        out.base = NO_REG;
        if (mode === CodeMode.M64) flags |= InsnFlag.RIPREL;
      } else {
        out.base = rmLow | ((rex & 1) << 3);
      }
      if (out.base === 4 || out.base === 5) defaultSeg = Seg.SS;
      const dispBytes = mod === 1 ? 1 : mod === 2 || (mod === 0 && baseLow === 5) ? 4 : 0;
      if (dispBytes === 1) {
        const d = fetch(pos);
        if (d < 0) return false;
        pos++;
        out.disp = (d << 24) >> 24;
      } else if (dispBytes === 4) {
        let d = 0;
        for (let k = 0; k < 4; k++) {
          const x = fetch(pos + k);
          if (x < 0) return false;
          d |= x << (8 * k);
        }
        pos += 4;
        out.disp = d;
      }
    }
    // In 64-bit mode FF /2, /4 (near CALL/JMP) are 64-bit; /6 (PUSH) defaults to 64 (SDM Vol. 2 2.2.1.7).
    if (mode === CodeMode.M64 && op === 0xff) {
      const r = regField & 7;
      if (r === 2 || r === 4) osize = 8;
      else if (r === 6 && !(rex & 8)) osize = opsizePrefix ? 2 : 8;
    }
  } else {
    // Registers coded in the opcode byte (50-5F, 90-97, B0-BF, C8-CF) take REX.B through `rm`.
    out.rm = (rex & 1) << 3;
  }
  out.seg = seg >= 0 ? seg : defaultSeg;

  // Immediates.
  let immBytes = 0;
  let signExtend = true;
  if (attrs & IB) immBytes = 1;
  else if (attrs & IW) {
    immBytes = 2;
    signExtend = false;
  } else if (attrs & IZ) immBytes = osize === 2 ? 2 : 4;
  else if (attrs & IV) immBytes = osize;
  else if (attrs & G3 && (out.reg & 6) === 0) immBytes = osize === 1 ? 1 : osize === 2 ? 2 : 4;
  else if (attrs & MO) {
    immBytes = asize;
    signExtend = false;
  }
  if (attrs & (AP | EN)) {
    const first = attrs & EN ? 2 : osize === 2 ? 2 : 4;
    let v = 0;
    for (let k = 0; k < first; k++) {
      const x = fetch(pos + k);
      if (x < 0) return false;
      v |= x << (8 * k);
    }
    pos += first;
    const n2 = attrs & EN ? 1 : 2;
    let w = 0;
    for (let k = 0; k < n2; k++) {
      const x = fetch(pos + k);
      if (x < 0) return false;
      w |= x << (8 * k);
    }
    pos += n2;
    out.imm = v;
    out.imm2 = w;
  } else if (immBytes) {
    let lo = 0;
    let hi = 0;
    for (let k = 0; k < immBytes; k++) {
      const x = fetch(pos + k);
      if (x < 0) return false;
      if (k < 4) lo |= x << (8 * k);
      else hi |= x << (8 * (k - 4));
    }
    pos += immBytes;
    if (immBytes === 1) lo = signExtend ? (lo << 24) >> 24 : lo;
    else if (immBytes === 2) lo = signExtend ? (lo << 16) >> 16 : lo & 0xffff;
    if (immBytes < 8) hi = signExtend ? lo >> 31 : 0;
    if (attrs & MO && immBytes === 4) hi = 0;
    out.imm = lo;
    out.immHi = hi;
  }
  if (pos > MAX_LEN) return finishInvalid(out, mode, pos);
  if (flags & InsnFlag.LOCK && !lockable(op, out.mod, out.reg & 7)) flags |= InsnFlag.UD;
  out.len = pos;
  out.osize = osize;
  out.flags = flags;
  // Invalid encodings dispatch to the #UD handler; the table has no handler at 0x1ff.
  if (flags & InsnFlag.UD) out.op = UD_OP;
  return true;
}

/** Whether LOCK may prefix this instruction: a read-modify-write of memory (SDM Vol. 2 LOCK). */
function lockable(op: number, mod: number, reg: number): boolean {
  if (mod === 3) return false;
  if (op < 0x40) return (op & 7) < 2 && (op & 0x38) !== 0x38;
  switch (op) {
    case 0x80:
    case 0x81:
    case 0x82:
    case 0x83:
      return reg !== 7;
    case 0x86:
    case 0x87:
    case 0x1ab:
    case 0x1b3:
    case 0x1bb:
    case 0x1b0:
    case 0x1b1:
    case 0x1c0:
    case 0x1c1:
      return true;
    case 0xf6:
    case 0xf7:
      return reg === 2 || reg === 3;
    case 0xfe:
    case 0xff:
      return reg < 2;
    case 0x1ba:
      return reg >= 5;
    case 0x1c7:
      return reg === 1;
    default:
      return false;
  }
}

/** The dispatch index of invalid instructions (0F FF is UD0: undefined in every mode). */
export const UD_OP = 0x1ff;

function finishInvalid(out: Insn, mode: number, len: number): boolean {
  // An instruction longer than 15 bytes raises #GP(0) (SDM Vol. 2 2.3.11); flagged UD|LOCK is "too long".
  out.op = UD_OP;
  out.mode = mode;
  out.handler = -1;
  out.len = Math.min(len, MAX_LEN);
  out.flags = InsnFlag.UD | InsnFlag.LOCK;
  return true;
}
