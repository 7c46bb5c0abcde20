/**
 * The SSE forms the WebAssembly tier compiles, with WebAssembly's 128-bit SIMD: moves between XMM registers,
 * general registers and memory, the bitwise operations, packed integer add, subtract and compare for
 * equality, the unpacks, PSHUFD, PSHUFB, shifts by an immediate and PMOVMSKB. They are what SSE2 and SSSE3
 * code in the kernel (the BLAKE2s of its random number generator) and in C libraries (string functions) use
 * most. Each does exactly what simd/'s handlers do for the same form; anything else (MMX forms, floating
 * point, MXCSR) stays with the interpreter.
 *
 * XMM registers are read and written in place in the vCPU's area (layout.ts's FX): a block keeps none in
 * locals, so nothing is stored back at its exits. Before a trace's first vector instruction the block checks
 * that SSE instructions run (Area.SSE_READY, the glue's copy of fpu/checks.ts's `sseReady`) and marks the SSE
 * component in use in XSTATE_BV, as that check does; otherwise it leaves to the handler, which raises the #UD
 * or #NM.
 */
import type { Insn } from '../decode.js';
import { Fx } from '../fpu/image.js';
import { Pfx, prefixOf } from '../simd/operands.js';
import { type Code, Op, Simd } from './encoder.js';
import { Area } from './layout.js';

/** The vector forms (0: not compiled). */
export const VF = {
  NONE: 0,
  /** MOVD/MOVQ xmm, r/m32 or r/m64 (66 0F 6E): the upper bits cleared. */
  MOVD_IN: 1,
  /** MOVD/MOVQ r/m32 or r/m64, xmm (66 0F 7E). */
  MOVD_OUT: 2,
  /** MOVQ xmm, xmm/m64 (F3 0F 7E): the upper half cleared. */
  MOVQ_IN: 3,
  /** MOVQ xmm/m64, xmm (66 0F D6): a register destination's upper half cleared. */
  MOVQ_OUT: 4,
  /** MOVUPS, MOVUPD, MOVAPS, MOVAPD, MOVDQU, MOVDQA into an XMM register. */
  LOAD: 5,
  /** The same from an XMM register into another or memory. */
  STORE: 6,
  /** dst = op(dst, src): ANDPS/PD, ORPS/PD, XORPS/PD, PAND, POR, PXOR, PADDx, PSUBx, PCMPEQx. */
  BINARY: 7,
  /** dst = ~dst & src: ANDNPS/PD, PANDN. */
  ANDN: 8,
  /** PUNPCKL/H BW, WD, DQ, QDQ. */
  UNPACK: 9,
  PSHUFD: 10,
  PSHUFB: 11,
  /** PSRLW/D/Q, PSRAW/D, PSLLW/D/Q by an immediate (66 0F 71-73). */
  SHIFT: 12,
  /** PSRLDQ, PSLLDQ (66 0F 73 /3 /7). */
  BYTE_SHIFT: 13,
  /** PMOVMSKB r, xmm (66 0F D7). */
  PMOVMSKB: 14,
} as const;

/** The form of `i` (64-bit mode, no LOCK), or VF.NONE when the tier leaves it to the interpreter. */
export function vectorForm(i: Insn): number {
  const op = i.op;
  const p = prefixOf(i);
  if (op === 0x200) return p === Pfx.P66 ? VF.PSHUFB : VF.NONE;
  if (op < 0x100 || op > 0x1ff) return VF.NONE;
  const b = op & 0xff;
  const x66 = p === Pfx.P66;
  const ps = p === Pfx.NONE || x66;
  switch (b) {
    case 0x10:
    case 0x28:
      return ps ? VF.LOAD : VF.NONE;
    case 0x11:
    case 0x29:
      return ps ? VF.STORE : VF.NONE;
    case 0x6f:
      return x66 || p === Pfx.F3 ? VF.LOAD : VF.NONE;
    case 0x7f:
      return x66 || p === Pfx.F3 ? VF.STORE : VF.NONE;
    case 0x6e:
      return x66 ? VF.MOVD_IN : VF.NONE;
    case 0x7e:
      return x66 ? VF.MOVD_OUT : p === Pfx.F3 ? VF.MOVQ_IN : VF.NONE;
    case 0xd6:
      return x66 ? VF.MOVQ_OUT : VF.NONE;
    case 0x54:
    case 0x56:
    case 0x57:
      return ps ? VF.BINARY : VF.NONE;
    case 0x55:
      return ps ? VF.ANDN : VF.NONE;
    case 0xdb:
    case 0xeb:
    case 0xef:
    case 0xfc:
    case 0xfd:
    case 0xfe:
    case 0xd4:
    case 0xf8:
    case 0xf9:
    case 0xfa:
    case 0xfb:
    case 0x74:
    case 0x75:
    case 0x76:
      return x66 ? VF.BINARY : VF.NONE;
    case 0xdf:
      return x66 ? VF.ANDN : VF.NONE;
    case 0x60:
    case 0x61:
    case 0x62:
    case 0x68:
    case 0x69:
    case 0x6a:
    case 0x6c:
    case 0x6d:
      return x66 ? VF.UNPACK : VF.NONE;
    case 0x70:
      return x66 ? VF.PSHUFD : VF.NONE;
    case 0x71:
    case 0x72:
    case 0x73: {
      if (!x66 || i.mod !== 3) return VF.NONE;
      const ext = i.reg & 7;
      if (ext === 2 || ext === 6 || (ext === 4 && b !== 0x73)) return VF.SHIFT;
      return b === 0x73 && (ext === 3 || ext === 7) ? VF.BYTE_SHIFT : VF.NONE;
    }
    case 0xd7:
      return x66 && i.mod === 3 ? VF.PMOVMSKB : VF.NONE;
    default:
      return VF.NONE;
  }
}

/** What vector code needs of the block compiler (block-compiler.ts's `Compiler`). */
export interface VectorHost {
  readonly c: Code;
  /** Side exit at instruction k when the i32 on the stack is not 0. */
  sideIf(k: number): void;
  /** Instruction k's memory operand of `size` bytes: its address in the WebAssembly memory left in ADDR. */
  operand(k: number, size: number, write: boolean): void;
  /** Pushes instruction k's r/m operand (memory or a general register) at `size`, zero-extended to an i64. */
  source(k: number, size: number): void;
  /** Writes the i64 the callback pushes to general register n at `size` (4: zero-extended). */
  setReg(n: number, size: number, value: () => void): void;
  /** Stores the low `size` bytes of the i64 the callback pushes at ADDR. */
  store(size: number, value: () => void): void;
}

/** The block function's locals vector code uses (block-compiler.ts's numbering). */
export interface VectorLocals {
  readonly base: number;
  readonly lin: number;
  readonly addr: number;
}

/** Where XMM register n is in the area. */
function xmm(n: number): number {
  return Area.FX + Fx.XMM0 + 16 * n;
}

const ZERO = new Uint8Array(16);
/** PSHUFB's index mask (see its case). */
const PSHUFB_MASK = new Uint8Array(16).fill(0x8f);

/** The WebAssembly operation of a BINARY form's opcode (after 0F). */
function binaryOp(b: number): number {
  switch (b) {
    case 0x54:
    case 0xdb:
      return Simd.V128_AND;
    case 0x56:
    case 0xeb:
      return Simd.V128_OR;
    case 0x57:
    case 0xef:
      return Simd.V128_XOR;
    case 0xfc:
      return Simd.I8X16_ADD;
    case 0xfd:
      return Simd.I16X8_ADD;
    case 0xfe:
      return Simd.I32X4_ADD;
    case 0xd4:
      return Simd.I64X2_ADD;
    case 0xf8:
      return Simd.I8X16_SUB;
    case 0xf9:
      return Simd.I16X8_SUB;
    case 0xfa:
      return Simd.I32X4_SUB;
    case 0xfb:
      return Simd.I64X2_SUB;
    case 0x74:
      return Simd.I8X16_EQ;
    case 0x75:
      return Simd.I16X8_EQ;
    default:
      return Simd.I32X4_EQ;
  }
}

/**
 * The shuffle lanes of an unpack (SDM Vol. 2 PUNPCKLBW..PUNPCKHQDQ): units of `unit` bytes from the low or
 * high halves of the destination (lanes 0-15) and the source (16-31), interleaved.
 */
function unpackLanes(b: number): number[] {
  const unit = b === 0x60 || b === 0x68 ? 1 : b === 0x61 || b === 0x69 ? 2 : b === 0x62 || b === 0x6a ? 4 : 8;
  const from = b >= 0x68 && b !== 0x6c ? 8 : 0;
  const lanes: number[] = [];
  for (let at = from; at < from + 8; at += unit) {
    for (let k = 0; k < unit; k++) lanes.push(at + k);
    for (let k = 0; k < unit; k++) lanes.push(16 + at + k);
  }
  return lanes;
}

/** PSHUFD's lanes: doubleword n of the result is doubleword `imm >> 2n & 3` of the source. */
function pshufdLanes(imm: number): number[] {
  const lanes: number[] = [];
  for (let n = 0; n < 4; n++) {
    const from = ((imm >> (2 * n)) & 3) * 4;
    lanes.push(from, from + 1, from + 2, from + 3);
  }
  return lanes;
}

/** PSRLDQ's (right) or PSLLDQ's lanes over the source (0-15) and a zero vector (16): bytes shifted by `count`. */
function byteShiftLanes(count: number, right: boolean): number[] {
  const lanes: number[] = [];
  for (let n = 0; n < 16; n++) {
    const from = right ? n + count : n - count;
    lanes.push(from >= 0 && from < 16 ? from : 16);
  }
  return lanes;
}

/** Whether `i`'s memory operand must be 16-byte aligned (#GP otherwise): all but MOVUPS/PD and MOVDQU. */
function alignedOperand(i: Insn): boolean {
  const b = i.op & 0xff;
  if (i.op === 0x200) return true;
  if (b === 0x10 || b === 0x11) return false;
  return !((b === 0x6f || b === 0x7f) && prefixOf(i) === Pfx.F3);
}

/** Writes vector instructions into a block (one per trace: it remembers whether the SSE check is written). */
export class VectorCompiler {
  /** Whether the SSE check has been written on the way here (at the trace's first vector instruction). */
  checked = false;

  constructor(
    private readonly h: VectorHost,
    private readonly l: VectorLocals,
  ) {}

  /** Instruction k, `i`, of form `form` (`vectorForm`). */
  insn(k: number, i: Insn, form: number): void {
    if (!this.checked) {
      this.checked = true;
      this.ready(k);
    }
    const { c } = this.h;
    const base = this.l.base;
    const reg = i.reg;
    const mem = i.mod !== 3;
    const b = i.op & 0xff;
    switch (form) {
      case VF.MOVD_IN: {
        const size = i.osize === 8 ? 8 : 4;
        if (mem) this.h.operand(k, size, false);
        c.get(base);
        if (mem) c.get(this.l.addr).mem(size === 8 ? Op.I64_LOAD : Op.I64_LOAD32_U, 0, 0);
        else this.h.source(k, size);
        this.storeQuads(reg);
        return;
      }
      case VF.MOVD_OUT: {
        const size = i.osize === 8 ? 8 : 4;
        const value = () => c.get(base).mem(size === 8 ? Op.I64_LOAD : Op.I64_LOAD32_U, 0, xmm(reg));
        if (mem) {
          this.h.operand(k, size, true);
          this.h.store(size, value);
        } else this.h.setReg(i.rm, size, value);
        return;
      }
      case VF.MOVQ_IN:
        if (mem) this.h.operand(k, 8, false);
        c.get(base);
        if (mem) c.get(this.l.addr).mem(Op.I64_LOAD, 0, 0);
        else c.get(base).mem(Op.I64_LOAD, 0, xmm(i.rm));
        this.storeQuads(reg);
        return;
      case VF.MOVQ_OUT:
        if (mem) {
          this.h.operand(k, 8, true);
          this.h.store(8, () => c.get(base).mem(Op.I64_LOAD, 0, xmm(reg)));
        } else {
          c.get(base).get(base).mem(Op.I64_LOAD, 0, xmm(reg));
          this.storeQuads(i.rm);
        }
        return;
      case VF.LOAD:
        this.address(k, i, false);
        c.get(base);
        this.source(i);
        c.simdMem(Simd.V128_STORE, 4, xmm(reg));
        return;
      case VF.STORE:
        if (mem) {
          this.address(k, i, true);
          c.get(this.l.addr).get(base).simdMem(Simd.V128_LOAD, 4, xmm(reg)).simdMem(Simd.V128_STORE, 0, 0);
        } else
          c.get(base).get(base).simdMem(Simd.V128_LOAD, 4, xmm(reg)).simdMem(Simd.V128_STORE, 4, xmm(i.rm));
        return;
      case VF.BINARY:
      case VF.ANDN:
      case VF.UNPACK:
      case VF.PSHUFB:
        this.address(k, i, false);
        c.get(base);
        if (form === VF.ANDN) {
          // ~dst & src is WebAssembly's andnot(src, dst).
          this.source(i);
          c.get(base).simdMem(Simd.V128_LOAD, 4, xmm(reg)).simd(Simd.V128_ANDNOT);
        } else {
          c.get(base).simdMem(Simd.V128_LOAD, 4, xmm(reg));
          this.source(i);
          if (form === VF.BINARY) c.simd(binaryOp(b));
          else if (form === VF.UNPACK) c.shuffle(unpackLanes(b));
          else {
            // PSHUFB zeroes a byte whose index has bit 7 set, else takes index & 15; swizzle zeroes indices
            // of 16 and up, so the index masked with 8Fh does both.
            c.v128(PSHUFB_MASK).simd(Simd.V128_AND).simd(Simd.I8X16_SWIZZLE);
          }
        }
        c.simdMem(Simd.V128_STORE, 4, xmm(reg));
        return;
      case VF.PSHUFD:
        this.address(k, i, false);
        c.get(base);
        this.source(i);
        this.source(i);
        c.shuffle(pshufdLanes(i.imm & 0xff)).simdMem(Simd.V128_STORE, 4, xmm(reg));
        return;
      case VF.SHIFT:
        this.shift(i, b);
        return;
      case VF.BYTE_SHIFT: {
        const count = Math.min(i.imm & 0xff, 16);
        c.get(base).get(base).simdMem(Simd.V128_LOAD, 4, xmm(i.rm)).v128(ZERO);
        c.shuffle(byteShiftLanes(count, (i.reg & 7) === 3)).simdMem(Simd.V128_STORE, 4, xmm(i.rm));
        return;
      }
      default:
        // PMOVMSKB: the top bit of each byte, zero-extended into the general register.
        this.h.setReg(reg, 8, () =>
          c.get(base).simdMem(Simd.V128_LOAD, 4, xmm(i.rm)).simd(Simd.I8X16_BITMASK).op(Op.I64_EXTEND_I32_U),
        );
    }
  }

  /** The SSE check and XSTATE_BV's SSE bit (fpu/checks.ts's `sseReady`), before instruction k. */
  private ready(k: number): void {
    const { c } = this.h;
    const base = this.l.base;
    c.get(base).mem(Op.I32_LOAD, 2, Area.SSE_READY).op(Op.I32_EQZ);
    this.h.sideIf(k);
    const bv = Area.FX + Fx.XSTATE_BV;
    c.get(base).get(base).mem(Op.I32_LOAD8_U, 0, bv).i32(2).op(Op.I32_OR).mem(Op.I32_STORE8, 0, bv);
  }

  /** Stores the i64 on the stack (above the area's base) as XMM n's low half, and clears its high half. */
  private storeQuads(n: number): void {
    const { c } = this.h;
    c.mem(Op.I64_STORE, 3, xmm(n));
    c.get(this.l.base)
      .i64(0)
      .mem(Op.I64_STORE, 3, xmm(n) + 8);
  }

  /**
   * Instruction k's 128-bit memory operand, before anything is pushed: its address in ADDR, or a side exit
   * (also when the form needs 16-byte alignment and the linear address lacks it: the handler's #GP).
   */
  private address(k: number, i: Insn, write: boolean): void {
    if (i.mod === 3) return;
    const { c } = this.h;
    if (alignedOperand(i)) {
      this.h.operand(k, 16, write);
      c.get(this.l.lin).op(Op.I32_WRAP_I64).i32(15).op(Op.I32_AND);
      this.h.sideIf(k);
    } else this.h.operand(k, 16, write);
  }

  /** Pushes the 128-bit r/m operand: XMM rm, or the memory at ADDR (`address` checked it). */
  private source(i: Insn): void {
    const { c } = this.h;
    if (i.mod === 3) c.get(this.l.base).simdMem(Simd.V128_LOAD, 4, xmm(i.rm));
    else c.get(this.l.addr).simdMem(Simd.V128_LOAD, 0, 0);
  }

  /**
   * PSRLx, PSRAx, PSLLx by an immediate: WebAssembly's shifts take the count modulo the lane width, the SSE
   * ones clear the lanes (logical) or fill them with the sign (arithmetic) from the width on.
   */
  private shift(i: Insn, b: number): void {
    const { c } = this.h;
    const base = this.l.base;
    const ext = i.reg & 7;
    const width = b === 0x71 ? 16 : b === 0x72 ? 32 : 64;
    const count = i.imm & 0xff;
    const at = xmm(i.rm);
    c.get(base);
    if (ext !== 4 && count >= width) {
      c.v128(ZERO).simdMem(Simd.V128_STORE, 4, at);
      return;
    }
    const ops =
      width === 16
        ? [Simd.I16X8_SHR_U, Simd.I16X8_SHR_S, Simd.I16X8_SHL]
        : width === 32
          ? [Simd.I32X4_SHR_U, Simd.I32X4_SHR_S, Simd.I32X4_SHL]
          : [Simd.I64X2_SHR_U, Simd.I64X2_SHR_U, Simd.I64X2_SHL];
    c.get(base)
      .simdMem(Simd.V128_LOAD, 4, at)
      .i32(Math.min(count, width - 1));
    c.simd(ops[ext === 2 ? 0 : ext === 4 ? 1 : 2]).simdMem(Simd.V128_STORE, 4, at);
  }
}
