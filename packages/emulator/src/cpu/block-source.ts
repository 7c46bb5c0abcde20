/**
 * The JavaScript source of a block (blocks.ts): the body `buildBlock` hands to `new Function`, the hottest forms
 * written out inline (operands as constants, flags kept in locals while the block knows them), every other
 * instruction a call of its handler exactly as the run loop would make it. Functions are called by the names
 * blocks.ts's HELPERS gives them, which `new Function` binds.
 */
import { carryExpr, conditionExpr, Known } from './block-conditions.js';
import { aluRegOnly, deadFlags, FlagUse, flagUse, handlerOf, imulForm, shiftCount } from './block-flags.js';
import { type Insn, InsnFlag, NO_REG } from './decode.js';
import { H } from './dispatch.js';
import { Fast } from './fast.js';
import { LazyOp } from './flags.js';
import { SegAcc } from './segments.js';
import { ARITH_FLAGS, CodeMode, Flag, Seg, Stop } from './state.js';
import { TLB_BITS, TLB_ENTRIES } from './wasm/layout.js';

/** General handlers a block calls directly (a monomorphic call) instead of through `dispatch`, by HELPERS name. */
const DIRECT: Record<number, string> = {
  [H.ALU_CLASSIC]: 'aluClassic',
  [H.ALU_GROUP1]: 'aluGroup1',
  [H.INC_DEC_REG]: 'incDecReg',
  [H.TEST_RM_REG]: 'testRmReg',
  [H.LEA]: 'lea',
  [H.MOV_EXTEND]: 'movExtend',
  [H.MOV_REG_IMM]: 'movRegImm',
  [H.MOV_REG_RM]: 'movRegRm',
  [H.MOV_RM_IMM]: 'movRmImm',
  [H.MOV_RM_REG]: 'movRmReg',
  [H.POP_REG]: 'popReg',
  [H.PUSH_IMM]: 'pushImm',
  [H.PUSH_REG]: 'pushReg',
  [H.STRING_COMPARE]: 'stringCompare',
  [H.STRING_MOVE]: 'stringMove',
  [H.CALL_REL]: 'callRel',
  [H.RET_NEAR]: 'retNear',
  [Fast.ALU_RR64]: 'aluRegReg64',
  [Fast.ALU_RI64]: 'aluRegImm64',
  [Fast.INC_DEC_R]: 'incDecReg32or64',
  [Fast.MOV_LOAD]: 'movLoad',
  [Fast.MOV_STORE]: 'movStore',
  [Fast.SHIFT_R32]: 'shiftReg32',
};

/** Readonly array fields of the CPU that generated code reads through locals (field, local name). */
const HOISTED: [string, string][] = [
  ['segAcc', 'sAcc'],
  ['segLimit', 'sLim'],
  ['segBase', 'sBase'],
  ['segAttr', 'sAttr'],
  ['tlbView', 'tView'],
  ['tlbOff', 'tOff'],
  ['tlbBytes', 'tBytes'],
];

/** Generated code reading byte register `n` as decode.ts numbers them (16..19: AH, CH, DH, BH). */
function byteReg(n: number): string {
  return n < 16 ? `(r[${n << 1}] & 0xff)` : `((r[${(n - 16) << 1}] >>> 8) & 0xff)`;
}

/** SS attribute bit B (32-bit stack) and the segment access bits, as numbers for generated code. */
const SS_B = 0x4000;
const CANON = 140737488355328;

/**
 * Writes the body of a block. `at[k]` is instruction k's offset from the entry RIP; the instruction after k
 * is at `at[k + 1]`, which is not k's own end when k is a direct JMP or CALL the trace follows.
 */
export class BlockSource {
  private out: string[] = [];
  /** The last flag-setting inline instruction: its kind and the suffix of its locals (d, s, v). */
  private known: number = Known.NONE;
  private knownAt = -1;
  /**
   * By instruction: its flags are overwritten before anything reads them or the block can be left, so it need
   * not record them (most flag results in compiled code: an ADD's flags before the next CMP, IMUL's and the
   * shifts' in multiply loops).
   */
  private readonly dead: boolean[] = [];

  constructor(
    private readonly mode: number,
    private readonly insns: Insn[],
    private readonly at: number[],
  ) {}

  /** RIP at offset `d` from the entry RIP, wrapped as the run loop wraps it. */
  private ipAt(d: number): string {
    if (d === 0) return 'ip0';
    if (this.mode === CodeMode.M64) return `(ip0 + ${d})`;
    return this.mode === CodeMode.M32 ? `((ip0 + ${d}) >>> 0)` : `((ip0 + ${d}) & 0xffff)`;
  }

  /** RIP of instruction k. */
  private ip(k: number): string {
    return this.ipAt(this.at[k]);
  }

  /** The address right after instruction k's bytes (the next RIP the run loop gives its handler). */
  private fall(k: number): string {
    return this.ipAt(this.at[k] + this.insns[k].len);
  }

  /** Where the trace goes after instruction k: the next instruction, or after the block for the last. */
  private traceNext(k: number): string {
    return k + 1 < this.insns.length ? this.ip(k + 1) : this.fall(k);
  }

  private isLast(k: number): boolean {
    return k === this.insns.length - 1;
  }

  /** Instruction k stopped inside inline code: leave the state the run loop has after dispatching it. */
  private stopInline(k: number): string {
    return `{ c.rip = ${this.ip(k)}; c.nextIp = ${this.fall(k)}; c.retired = r0 + ${k}; return; }`;
  }

  generate(): string {
    const n = this.insns.length;
    deadFlags(this.insns, this.mode, this.dead);
    // A branch back to the entry goes round inside the function while the next pass fits under `lim`.
    this.out.push('const r = c.r; const ip0 = c.rip; let r0 = c.retired;', 'for (;;) {');
    for (let k = 0; k < n; k++) {
      if (!this.inline(k)) {
        // The flag analysis took this instruction for inline code that cannot leave the block.
        if (flagUse(this.insns[k], this.mode) !== FlagUse.USE)
          throw new Error(`blocks: no inline form for op ${this.insns[k].op}`);
        this.callHandler(k, this.traceNext(k));
        this.known = Known.NONE;
      }
    }
    this.out.push('return;', '}');
    // The CPU's segment and TLB arrays never change identity (readonly fields): read each once, as locals, so
    // the accesses after a slow-path call do not load them again.
    let body = this.out.join('\n');
    const hoisted: string[] = [];
    for (const [field, local] of HOISTED) {
      if (!body.includes(`c.${field}[`)) continue;
      body = body.replaceAll(`c.${field}[`, `${local}[`);
      hoisted.push(`const ${local} = c.${field};`);
    }
    return `${hoisted.join(' ')}\n${body}`;
  }

  /**
   * Instruction k through its handler, exactly as the run loop runs it: RIP, next RIP and the retired count set
   * first; a stop returns to the loop; a next RIP other than `expected` ends the block there.
   */
  private callHandler(k: number, expected: string): void {
    const i = this.insns[k];
    const fn = DIRECT[handlerOf(i)] ?? 'dispatch';
    this.out.push(
      `c.rip = ${this.ip(k)}; c.nextIp = ${this.fall(k)}; c.retired = r0 + ${k};`,
      `${fn}(c, i${k});`,
      'if (c.stop !== 0) return;',
      this.isLast(k)
        ? `c.rip = c.nextIp; c.retired = r0 + ${k + 1};`
        : `if (c.nextIp !== ${expected}) { c.rip = c.nextIp; c.retired = r0 + ${k + 1}; return; }`,
    );
  }

  /** Ends the block after inline instruction `k` when it is the last one. */
  private fallThrough(k: number): void {
    if (this.isLast(k)) this.out.push(`c.rip = ${this.fall(k)}; c.retired = r0 + ${k + 1};`);
  }

  /** Writes instruction `k` inline; false when it has no inline form. */
  private inline(k: number): boolean {
    const i = this.insns[k];
    if (i.flags & InsnFlag.UD) return false;
    const h = handlerOf(i);
    const op = i.op;
    const legacy = this.mode !== CodeMode.M64;
    switch (h) {
      case Fast.ALU_RR32: {
        const toReg = (op & 2) !== 0;
        const dn = (toReg ? i.reg : i.rm) << 1;
        const sn = (toReg ? i.rm : i.reg) << 1;
        this.alu32(k, (op >> 3) & 7, dn, `r[${sn}]`);
        break;
      }
      case Fast.ALU_RI32:
        this.alu32(k, i.reg & 7, i.rm << 1, `${i.imm | 0}`);
        break;
      case Fast.ALU_RR64: {
        const toReg = (op & 2) !== 0;
        const dn = (toReg ? i.reg : i.rm) << 1;
        const sn = (toReg ? i.rm : i.reg) << 1;
        this.alu64(k, (op >> 3) & 7, dn, `r[${sn}]`, `r[${sn + 1}]`);
        break;
      }
      case Fast.ALU_RI64:
        this.alu64(k, i.reg & 7, i.rm << 1, `${i.imm | 0}`, `${i.imm >> 31}`);
        break;
      case Fast.MOV_RR: {
        const toReg = (op & 2) !== 0;
        const dn = (toReg ? i.reg : i.rm) << 1;
        const sn = (toReg ? i.rm : i.reg) << 1;
        this.out.push(`r[${dn + 1}] = ${i.osize === 8 ? `r[${sn + 1}]` : '0'}; r[${dn}] = r[${sn}];`);
        break;
      }
      case Fast.INC_DEC_R: {
        if (i.osize === 8) {
          this.incDec64(k);
          break;
        }
        if (i.osize !== 4) return false;
        const opcodeForm = op !== 0xff;
        const n = (opcodeForm ? op & 7 : i.rm) << 1;
        const dec = opcodeForm ? (op & 8) !== 0 : (i.reg & 1) !== 0;
        this.out.push(
          `const d${k} = r[${n}]; const v${k} = (d${k} ${dec ? '-' : '+'} 1) | 0; r[${n}] = v${k}; r[${n + 1}] = 0;`,
        );
        if (!this.dead[k])
          this.out.push(
            `c.flags = (c.flags & ${~Flag.CF}) | ${this.cfExpr()};`,
            `c.lazyOp = ${dec ? LazyOp.SUB : LazyOp.ADD}; c.lazySize = 4; c.lazyRes = v${k}; c.lazyResHi = 0;`,
            `c.lazyDst = d${k}; c.lazyDstHi = 0; c.lazySrc = 1; c.lazySrcHi = 0; c.lazyMask = ${ARITH_FLAGS & ~Flag.CF};`,
          );
        this.known = Known.RESULT;
        this.knownAt = k;
        break;
      }
      case H.ALU_CLASSIC: {
        // The accumulator with an immediate and the byte forms between registers (aluRegOnly); ALU r, m (all
        // eight) and CMP m, r for 32- and 64-bit operands: the load inline, then as the register form.
        const form = op & 7;
        const kind = (op >> 3) & 7;
        if (i.flags & InsnFlag.LOCK) return false;
        if (aluRegOnly(i)) {
          if (form === 4) this.alu8(k, kind, byteReg(0), `${i.imm & 0xff}`, 0);
          else if (form === 5 && i.osize === 4) this.alu32(k, kind, 0, `${i.imm | 0}`);
          else if (form === 5) this.alu64(k, kind, 0, `${i.imm | 0}`, `${i.immHi | 0}`);
          else if (form === 2) this.alu8(k, kind, byteReg(i.regB), byteReg(i.rmB), i.regB);
          else this.alu8(k, kind, byteReg(i.rmB), byteReg(i.regB), i.rmB);
          break;
        }
        if (i.mod === 3 || (i.osize !== 4 && i.osize !== 8 && i.osize !== 1)) return false;
        if (i.osize === 8 && this.mode !== CodeMode.M64) return false;
        const size = i.osize;
        if (form === 2 || form === 3) {
          if (!this.loadOperand(k, size)) return false;
          if (size === 1) this.alu8(k, kind, byteReg(i.regB), `m${k}a`, i.regB);
          else if (size === 4) this.alu32(k, kind, i.reg << 1, `m${k}a`);
          else this.alu64(k, kind, i.reg << 1, `m${k}a`, `mh${k}a`);
        } else if ((form === 0 || form === 1) && kind === 7) {
          if (!this.loadOperand(k, size)) return false;
          const n = i.reg << 1;
          if (size === 1) this.alu8(k, 7, `m${k}a`, byteReg(i.regB), -1);
          else if (size === 4) this.alu32(k, 7, 0, `r[${n}]`, `m${k}a`);
          else this.alu64(k, 7, 0, `r[${n}]`, `r[${n + 1}]`, false, [`m${k}a`, `mh${k}a`]);
        } else return false;
        break;
      }
      case H.ALU_GROUP1: {
        // Group 1 on a byte register; CMP m8/m32/m64, imm (80, 81, 83 /7): the load inline.
        const kind = i.reg & 7;
        const size = i.osize;
        if (i.flags & InsnFlag.LOCK) return false;
        if (size === 1 && i.mod === 3) {
          this.alu8(k, kind, byteReg(i.rmB), `${i.imm & 0xff}`, i.rmB);
          break;
        }
        if (kind !== 7 || i.mod === 3 || (size !== 1 && size !== 4 && size !== 8)) return false;
        if (size === 8 && this.mode !== CodeMode.M64) return false;
        if (!this.loadOperand(k, size)) return false;
        if (size === 1) this.alu8(k, 7, `m${k}a`, `${i.imm & 0xff}`, -1);
        else if (size === 4) this.alu32(k, 7, 0, `${i.imm | 0}`, `m${k}a`);
        else this.alu64(k, 7, 0, `${i.imm | 0}`, `${i.imm >> 31}`, false, [`m${k}a`, `mh${k}a`]);
        break;
      }
      case H.GROUP3: {
        // TEST r/m8 and r/m32, imm; NOT and NEG of a 32- or 64-bit register (alu.ts's testNotNeg).
        const kind = i.reg & 7;
        const size = i.osize;
        if (i.flags & InsnFlag.LOCK) return false;
        if (kind < 2 && (size === 1 || size === 4)) {
          let v: string;
          if (i.mod === 3) v = size === 1 ? byteReg(i.rmB) : `r[${i.rm << 1}]`;
          else {
            if (!this.loadOperand(k, size)) return false;
            v = `m${k}a`;
          }
          if (size === 1) this.test8(k, v, `${i.imm & 0xff}`);
          else this.alu32(k, 4, 0, `${i.imm | 0}`, v);
          break;
        }
        if ((kind !== 2 && kind !== 3) || i.mod !== 3 || (size !== 4 && size !== 8)) return false;
        const n = i.rm << 1;
        if (kind === 2)
          this.out.push(`r[${n}] = ~r[${n}]; r[${n + 1}] = ${size === 8 ? `~r[${n + 1}]` : '0'};`);
        else if (size === 4) this.alu32(k, 5, n, `r[${n}]`, '0', true);
        else this.alu64(k, 5, n, `r[${n}]`, `r[${n + 1}]`, true, ['0', '0']);
        break;
      }
      case H.MOV_RM_REG: {
        // MOV m8, r8 and MOV m16, r16 (the 32- and 64-bit stores are Fast.MOV_STORE).
        if (i.mod === 3 || (i.osize !== 1 && i.osize !== 2)) return false;
        const v = i.osize === 1 ? byteReg(i.regB) : `(r[${i.reg << 1}] & 0xffff)`;
        if (!this.storeOperand(k, i.osize, v)) return false;
        break;
      }
      case H.MOV_RM_IMM: {
        // MOV r/m, imm (C6, C7 /0).
        if ((i.reg & 7) !== 0) return false;
        const size = i.osize;
        if (i.mod === 3) {
          if (size === 1) this.out.push(this.setByte(i.rmB, `${i.imm & 0xff}`));
          else if (size === 4 || size === 8)
            this.out.push(
              `r[${i.rm << 1}] = ${i.imm | 0}; r[${(i.rm << 1) + 1}] = ${size === 8 ? i.immHi | 0 : 0};`,
            );
          else return false;
          break;
        }
        const v = size === 1 ? `${i.imm & 0xff}` : size === 2 ? `${i.imm & 0xffff}` : `${i.imm | 0}`;
        if (!this.storeOperand(k, size, v, `${i.immHi | 0}`)) return false;
        break;
      }
      case H.TEST_RM_REG: {
        // TEST r/m32, r32 (and r/m64, r64 and r8, r8 between registers): AND's flags, nothing written.
        if (op === 0x84) {
          if (i.mod !== 3) return false;
          this.test8(k, byteReg(i.regB), byteReg(i.rmB));
          break;
        }
        if (i.osize === 8 && i.mod === 3) {
          const sn = i.reg << 1;
          this.alu64(k, 4, i.rm << 1, `r[${sn}]`, `r[${sn + 1}]`, false);
          break;
        }
        if (i.osize !== 4) return false;
        if (i.mod === 3) this.alu32(k, 4, 0, `r[${i.reg << 1}]`, `r[${i.rm << 1}]`);
        else {
          if (!this.loadOperand(k, 4)) return false;
          this.alu32(k, 4, 0, `r[${i.reg << 1}]`, `m${k}a`);
        }
        break;
      }
      case H.LEA: {
        // LEA r32, m (8D), and LEA r64/r32, m with 64-bit addressing: the effective address, no memory access.
        if (i.mod === 3) return false;
        if (!legacy) {
          if (i.asize !== 8 || (i.osize !== 4 && i.osize !== 8)) return false;
          const n = i.reg << 1;
          this.out.push(
            `${this.address64(k)} r[${n}] = el${k} | 0; r[${n + 1}] = ${i.osize === 8 ? `eh${k}` : '0'};`,
          );
          break;
        }
        if (i.osize !== 4) return false;
        this.out.push(`r[${i.reg << 1}] = ${this.effective(i)} | 0; r[${(i.reg << 1) + 1}] = 0;`);
        break;
      }
      case H.MOV_EXTEND: {
        // MOVZX/MOVSX r32, r/m8 or r/m16 (0F B6, B7, BE, BF), as move.ts's movExtend.
        if (op === 0x63 || i.osize !== 4) return false;
        const from = op & 1 ? 2 : 1;
        const signed = op >= 0x1be;
        let v: string;
        if (i.mod === 3) {
          if (from === 2) v = `(r[${i.rm << 1}] & 0xffff)`;
          else v = i.rmB < 16 ? `(r[${i.rmB << 1}] & 0xff)` : `((r[${(i.rmB - 16) << 1}] >>> 8) & 0xff)`;
        } else {
          if (!this.loadOperand(k, from)) return false;
          v = `m${k}a`;
        }
        if (signed) v = from === 1 ? `((${v} << 24) >> 24)` : `((${v} << 16) >> 16)`;
        this.out.push(`r[${i.reg << 1}] = ${v}; r[${(i.reg << 1) + 1}] = 0;`);
        break;
      }
      case H.ARPL_OR_MOVSXD: {
        // MOVSXD r64, r/m32 (REX.W 63) in 64-bit mode.
        if (legacy || i.osize !== 8) return false;
        const n = i.reg << 1;
        if (i.mod !== 3) {
          if (!this.loadOperand(k, 4)) return false;
          this.out.push(`r[${n}] = m${k}a; r[${n + 1}] = m${k}a >> 31;`);
          break;
        }
        this.out.push(`{ const x${k} = r[${i.rm << 1}]; r[${n}] = x${k}; r[${n + 1}] = x${k} >> 31; }`);
        break;
      }
      case H.IMUL_REG:
        if (!imulForm(i)) return false;
        this.imul(k);
        break;
      case Fast.SHIFT_R32:
      case H.SHIFT_GROUP:
        if (shiftCount(i) < 0) return false;
        this.shift(k);
        break;
      case H.CMOV: {
        // CMOVcc r, r: 32-bit forms zero-extend the destination whatever the condition (move.ts's cmov).
        if (i.mod !== 3 || (i.osize !== 4 && i.osize !== 8)) return false;
        const dn = i.reg << 1;
        const sn = i.rm << 1;
        const high = i.osize === 8 ? `r[${sn + 1}]` : '0';
        this.out.push(
          `if (${this.conditionExpr(op & 0xf)}) { const x${k} = r[${sn}]; r[${dn + 1}] = ${high}; r[${dn}] = x${k}; }`,
          i.osize === 4 ? `else r[${dn + 1}] = 0;` : '',
        );
        break;
      }
      case H.SETCC: {
        // SETcc r8 (AH..BH among them).
        if (i.mod !== 3) return false;
        const b = i.rmB;
        const v = `(${this.conditionExpr(op & 0xf)} ? 1 : 0)`;
        this.out.push(
          b < 16
            ? `r[${b << 1}] = (r[${b << 1}] & ~0xff) | ${v};`
            : `r[${(b - 16) << 1}] = (r[${(b - 16) << 1}] & ~0xff00) | (${v} << 8);`,
        );
        break;
      }
      case H.NOP:
        // NOP and the hint NOPs (0F 0D, 0F 18..1F): nothing, not even the memory operand is read.
        break;
      case H.MOV_REG_IMM: {
        if (op < 0xb8 || (i.osize !== 4 && i.osize !== 8)) return false;
        const n = ((op & 7) | (i.rm & 8)) << 1;
        this.out.push(`r[${n}] = ${i.imm | 0}; r[${n + 1}] = ${i.osize === 8 ? i.immHi | 0 : 0};`);
        break;
      }
      case Fast.MOV_LOAD:
      case Fast.MOV_STORE:
        if (!this.memory(k, h === Fast.MOV_STORE)) return false;
        break;
      case H.PUSH_REG:
      case H.POP_REG: {
        const n = ((op & 7) | (i.rm & 8)) << 1;
        if (!legacy && i.osize === 8) {
          this.out.push(`let ok${k} = false;`);
          if (h === H.PUSH_REG) this.push64(k, `r[${n}]`, `r[${n + 1}]`, '');
          else this.pop64(k, `${this.popSp64(k)} r[${n}] = m${k}; r[${n + 1}] = mh${k}; ok${k} = true;`);
          this.withFallback(k, this.traceNext(k));
          break;
        }
        if (!legacy || i.osize !== 4) return false;
        if (h === H.PUSH_REG) {
          this.out.push(`let ok${k} = false;`);
          this.push(k, `r[${n}]`, '');
        } else this.pop(k, `r[${n}] = m${k}; r[${n + 1}] = 0;`);
        this.withFallback(k, this.traceNext(k));
        break;
      }
      case H.GROUP7: {
        // INVLPG m (0F 01 /7) at CPL 0, as system.ts's group7 runs it; anything else through the handler.
        if (!legacy || i.mod === 3 || (i.reg & 7) !== 7 || i.flags & InsnFlag.RIPREL) return false;
        this.out.push(
          'if (c.cpl !== 0) {',
          `c.rip = ${this.ip(k)}; c.nextIp = ${this.fall(k)}; c.retired = r0 + ${k}; dispatch(c, i${k}); return;`,
          '}',
          `if (c.flushPage((c.segBase[${i.seg}] + ${this.effective(i)}) >>> 0)) { c.stop |= ${Stop.RESYNC}; ${this.stopInline(k)} }`,
        );
        break;
      }
      case H.STRING_MOVE:
      case H.STRING_COMPARE:
        if (!this.string(k)) return false;
        break;
      case Fast.JCC_Z:
      case H.JCC:
        this.jcc(k);
        return true;
      case H.JMP_REL:
        this.jump(k);
        return true;
      case H.CALL_REL:
        this.call(k);
        return true;
      case H.RET_NEAR:
        this.ret(k);
        return true;
      default:
        return false;
    }
    if (this.loaded) {
      // A page walk's accessed bit written into a code page can end the block without a fault (RESYNC):
      // checked once the instruction is complete, so the run loop retires it.
      this.out.push(`if (c.stop !== 0) ${this.stopInline(k)}`);
      this.loaded = false;
    }
    this.fallThrough(k);
    return true;
  }

  /** A 32-bit ALU operation (ADD, OR, ADC, SBB, AND, SUB, XOR, CMP) of register `dn` and `src`, as fast.ts's alu32. */
  private alu32(
    k: number,
    kind: number,
    dn: number,
    src: string,
    dst: string | null = null,
    write = dst === null,
  ): void {
    const d = `d${k}`;
    const s = `s${k}`;
    const v = `v${k}`;
    // `dst` (a memory operand already read): CMP or TEST, which write nothing back.
    const lines = [`const ${d} = ${dst ?? `r[${dn}]`}; const ${s} = ${src};`];
    let lazy: string;
    let known: number;
    switch (kind) {
      case 0:
        lines.push(`const ${v} = (${d} + ${s}) | 0;`);
        lazy = `${LazyOp.ADD}`;
        known = Known.ADD;
        break;
      case 1:
      case 4:
      case 6:
        lines.push(`const ${v} = ${d} ${kind === 1 ? '|' : kind === 4 ? '&' : '^'} ${s};`);
        lazy = `${LazyOp.LOGIC}`;
        known = Known.LOGIC;
        break;
      case 2:
      case 3:
        lines.push(
          `const cin${k} = ${this.cfExpr()};`,
          `const ${v} = (${d} ${kind === 2 ? '+' : '-'} ${s} ${kind === 2 ? '+' : '-'} cin${k}) | 0;`,
        );
        lazy =
          kind === 2
            ? `cin${k} ? ${LazyOp.ADC1} : ${LazyOp.ADD}`
            : `cin${k} ? ${LazyOp.SBB1} : ${LazyOp.SUB}`;
        known = Known.RESULT;
        break;
      default:
        lines.push(`const ${v} = (${d} - ${s}) | 0;`);
        lazy = `${LazyOp.SUB}`;
        known = Known.SUB;
    }
    this.known = known;
    this.knownAt = k;
    if (kind !== 7 && write) lines.push(`r[${dn}] = ${v}; r[${dn + 1}] = 0;`);
    if (!this.dead[k])
      lines.push(
        `c.lazyOp = ${lazy}; c.lazySize = 4; c.lazyRes = ${v}; c.lazyDst = ${d}; c.lazySrc = ${s}; c.lazyMask = ${ARITH_FLAGS};`,
      );
    this.out.push(lines.join(' '));
  }

  /** A 64-bit ALU operation on register `dn` and `src:srcHi` in 32-bit halves, as fast.ts's alu64. */
  private alu64(
    k: number,
    kind: number,
    dn: number,
    src: string,
    srcHi: string,
    write = true,
    dst: [string, string] | null = null,
  ): void {
    const [dLo, dHi] = dst ?? [`r[${dn}]`, `r[${dn + 1}]`];
    const lines = [
      `const d${k} = ${dLo}; const dh${k} = ${dHi}; const s${k} = ${src}; const sh${k} = ${srcHi};`,
    ];
    let lazy: string;
    switch (kind) {
      case 0:
      case 2: {
        const cin = kind === 2 ? ` + cin${k}` : '';
        if (kind === 2) lines.push(`const cin${k} = ${this.cfExpr()};`);
        // The carry out of the low halves in integer compares (no float sum): with a carry in, v <= d.
        const carry =
          kind === 2
            ? `(cin${k} ? (v${k} >>> 0) <= (d${k} >>> 0) : (v${k} >>> 0) < (d${k} >>> 0))`
            : `(v${k} >>> 0) < (d${k} >>> 0)`;
        lines.push(
          `const v${k} = (d${k} + s${k}${cin}) | 0;`,
          `const vh${k} = (dh${k} + sh${k} + (${carry} ? 1 : 0)) | 0;`,
        );
        lazy = kind === 2 ? `cin${k} ? ${LazyOp.ADC1} : ${LazyOp.ADD}` : `${LazyOp.ADD}`;
        break;
      }
      case 1:
      case 4:
      case 6: {
        const o = kind === 1 ? '|' : kind === 4 ? '&' : '^';
        lines.push(`const v${k} = d${k} ${o} s${k}; const vh${k} = dh${k} ${o} sh${k};`);
        lazy = `${LazyOp.LOGIC}`;
        break;
      }
      default: {
        const cin = kind === 3 ? ` - cin${k}` : '';
        if (kind === 3) lines.push(`const cin${k} = ${this.cfExpr()};`);
        // The borrow of the low halves: with a borrow in, d <= s.
        const borrow =
          kind === 3
            ? `(cin${k} ? (d${k} >>> 0) <= (s${k} >>> 0) : (d${k} >>> 0) < (s${k} >>> 0))`
            : `(d${k} >>> 0) < (s${k} >>> 0)`;
        lines.push(
          `const v${k} = (d${k} - s${k}${cin}) | 0;`,
          `const vh${k} = (dh${k} - sh${k} - (${borrow} ? 1 : 0)) | 0;`,
        );
        lazy = kind === 3 ? `cin${k} ? ${LazyOp.SBB1} : ${LazyOp.SUB}` : `${LazyOp.SUB}`;
      }
    }
    if (kind !== 7 && write) lines.push(`r[${dn}] = v${k}; r[${dn + 1}] = vh${k};`);
    if (!this.dead[k])
      lines.push(
        `c.lazyOp = ${lazy}; c.lazySize = 8; c.lazyRes = v${k}; c.lazyResHi = vh${k}; c.lazyDst = d${k}; c.lazyDstHi = dh${k};`,
        `c.lazySrc = s${k}; c.lazySrcHi = sh${k}; c.lazyMask = ${ARITH_FLAGS};`,
      );
    this.out.push(lines.join(' '));
    this.known =
      kind === 0
        ? Known.ADD64
        : kind === 5 || kind === 7
          ? Known.SUB64
          : kind === 1 || kind === 4 || kind === 6
            ? Known.LOGIC64
            : Known.RESULT64;
    this.knownAt = k;
  }

  /**
   * IMUL r, r or r, r, imm on 32- or 64-bit registers (muldiv.ts's imulReg): the truncated product inline when
   * its flags die in the block, else imulReg itself (CF and OF need the full product).
   */
  private imul(k: number): void {
    const i = this.insns[k];
    this.known = Known.NONE;
    if (!this.dead[k]) {
      this.out.push(`imulReg(c, i${k});`);
      return;
    }
    const dn = i.reg << 1;
    const an = (i.op === 0x1af ? i.reg : i.rm) << 1;
    const bn = i.rm << 1;
    const b = i.op === 0x1af ? `r[${bn}]` : `${i.imm | 0}`;
    if (i.osize === 4) {
      this.out.push(`r[${dn}] = Math.imul(r[${an}], ${b}); r[${dn + 1}] = 0;`);
      return;
    }
    const bh = i.op === 0x1af ? `r[${bn + 1}]` : `${i.imm >> 31}`;
    this.out.push(
      `{ const a${k} = r[${an}]; const ah${k} = r[${an + 1}]; const b${k} = ${b}; const bh${k} = ${bh};`,
      `r[${dn + 1}] = (mulHighU32(a${k}, b${k}) + Math.imul(a${k}, bh${k}) + Math.imul(ah${k}, b${k})) | 0;`,
      `r[${dn}] = Math.imul(a${k}, b${k}); }`,
    );
  }

  /**
   * SHL, SHR, SAL or SAR of a 32- or 64-bit register by a constant count, with flags as fast.ts's shiftReg32
   * (32-bit) and shift.ts's shiftOp (64-bit) set them: CF, OF and AF eagerly, ZF, SF and PF from the result.
   */
  private shift(k: number): void {
    const i = this.insns[k];
    const count = shiftCount(i);
    const n = i.rm << 1;
    const kind = i.reg & 7;
    const left = kind === 4 || kind === 6;
    const arith = kind === 7;
    if (count === 0) {
      // No flags change; a 32-bit destination is still zero-extended.
      if (i.osize === 4) this.out.push(`r[${n + 1}] = 0;`);
      return;
    }
    this.known = Known.NONE;
    const lines = [`const d${k} = r[${n}]; const dh${k} = r[${n + 1}];`];
    let cf: string;
    let of: string;
    if (i.osize === 4) {
      const v = left ? `d${k} << ${count}` : arith ? `d${k} >> ${count}` : `(d${k} >>> ${count}) | 0`;
      lines.push(`const v${k} = ${v}; const vh${k} = 0;`);
      cf = left ? `((d${k} >>> ${32 - count}) & 1)` : `((d${k} ${arith ? '>>' : '>>>'} ${count - 1}) & 1)`;
      of = left ? `((v${k} >>> 31) ^ ${cf})` : arith ? '0' : `(d${k} >>> 31)`;
    } else if (left) {
      lines.push(
        count < 32
          ? `const v${k} = d${k} << ${count}; const vh${k} = (dh${k} << ${count}) | (d${k} >>> ${32 - count});`
          : `const v${k} = 0; const vh${k} = d${k} << ${count - 32};`,
      );
      // CF: bit 64 - count of the source.
      cf = count > 32 ? `((d${k} >>> ${64 - count}) & 1)` : `((dh${k} >>> ${32 - count}) & 1)`;
      of = `((vh${k} >>> 31) ^ ${cf})`;
    } else {
      const sr = arith ? '>>' : '>>>';
      lines.push(
        count < 32
          ? `const v${k} = (d${k} >>> ${count}) | (dh${k} << ${32 - count}); const vh${k} = (dh${k} ${sr} ${count}) | 0;`
          : `const v${k} = (dh${k} ${sr} ${count - 32}) | 0; const vh${k} = ${arith ? `dh${k} >> 31` : '0'};`,
      );
      // CF: bit count - 1 of the source.
      cf = count <= 32 ? `((d${k} >>> ${count - 1}) & 1)` : `((dh${k} >>> ${count - 33}) & 1)`;
      of = arith ? '0' : `(dh${k} >>> 31)`;
    }
    lines.push(`r[${n}] = v${k}; r[${n + 1}] = vh${k};`);
    if (!this.dead[k]) {
      lines.push(
        `c.flags = (c.flags & ${~(Flag.CF | Flag.OF | Flag.AF)}) | ${cf} | (${of} << 11);`,
        `c.lazyOp = ${LazyOp.RESULT}; c.lazySize = ${i.osize}; c.lazyRes = v${k}; c.lazyResHi = vh${k};`,
        `c.lazyDst = 0; c.lazyDstHi = 0; c.lazySrc = 0; c.lazySrcHi = 0; c.lazyMask = ${Flag.ZF | Flag.SF | Flag.PF};`,
      );
    }
    this.out.push(lines.join(' '));
  }

  /** Generated code writing `v` (0..255) to byte register `n` as decode.ts numbers them (16..19: AH..BH). */
  private setByte(n: number, v: string): string {
    return n < 16
      ? `r[${n << 1}] = (r[${n << 1}] & ~0xff) | ${v};`
      : `r[${(n - 16) << 1}] = (r[${(n - 16) << 1}] & ~0xff00) | (${v} << 8);`;
  }

  /**
   * An 8-bit ALU operation of `dst` and `src` (each 0..255) as alu.ts's compute and record do it, the result
   * written to byte register `target` unless it is -1 or the operation is CMP.
   */
  private alu8(k: number, kind: number, dst: string, src: string, target: number): void {
    const lines = [`const d${k} = ${dst}; const s${k} = ${src};`];
    let lazy: string;
    if (kind === 1 || kind === 4 || kind === 6) {
      lines.push(`const v${k} = d${k} ${kind === 1 ? '|' : kind === 4 ? '&' : '^'} s${k};`);
      lazy = `${LazyOp.LOGIC}`;
    } else {
      const add = kind === 0 || kind === 2;
      const carry = kind === 2 || kind === 3;
      if (carry) lines.push(`const cin${k} = ${this.cfExpr()};`);
      lines.push(
        `const v${k} = (d${k} ${add ? '+' : '-'} s${k}${carry ? ` ${add ? '+' : '-'} cin${k}` : ''}) & 0xff;`,
      );
      lazy = carry
        ? `cin${k} ? ${add ? LazyOp.ADC1 : LazyOp.SBB1} : ${add ? LazyOp.ADD : LazyOp.SUB}`
        : `${add ? LazyOp.ADD : LazyOp.SUB}`;
    }
    if (kind !== 7 && target >= 0) lines.push(this.setByte(target, `v${k}`));
    if (!this.dead[k])
      lines.push(
        `c.lazyOp = ${lazy}; c.lazySize = 1; c.lazyRes = v${k}; c.lazyDst = d${k}; c.lazySrc = s${k}; c.lazyMask = ${ARITH_FLAGS};`,
      );
    this.out.push(lines.join(' '));
    // Conditions on a byte result: only the logical ones have an inline form (conditionExpr's LOGIC8).
    this.known = kind === 1 || kind === 4 || kind === 6 ? Known.LOGIC8 : Known.NONE;
    this.knownAt = k;
  }

  /** Writes `size` bytes (`lo`, and `hi` for 8) to instruction k's memory operand, as operands.ts's writeRm. */
  private storeOperand(k: number, size: number, lo: string, hi = '0'): boolean {
    if (size === 8 && this.mode !== CodeMode.M64) return false;
    return this.operand(k, size, true, this.store(k, `${k}a`, size, lo, hi));
  }

  /** TEST of two byte operands (`a`, `b`, each 0..255): AND's flags on 8 bits (alu.ts's testRmReg). */
  private test8(k: number, a: string, b: string): void {
    this.out.push(`const d${k} = ${a}; const s${k} = ${b}; const v${k} = d${k} & s${k};`);
    if (!this.dead[k])
      this.out.push(
        `c.lazyOp = ${LazyOp.LOGIC}; c.lazySize = 1; c.lazyRes = v${k}; c.lazyDst = d${k}; c.lazySrc = s${k}; c.lazyMask = ${ARITH_FLAGS};`,
      );
    this.known = Known.LOGIC8;
    this.knownAt = k;
  }

  /** INC/DEC of a 64-bit register, as fast.ts's incDecReg32or64 (CF kept). */
  private incDec64(k: number): void {
    const i = this.insns[k];
    const opcodeForm = i.op !== 0xff;
    const n = (opcodeForm ? i.op & 7 : i.rm) << 1;
    const dec = opcodeForm ? (i.op & 8) !== 0 : (i.reg & 1) !== 0;
    this.out.push(
      `const d${k} = r[${n}]; const dh${k} = r[${n + 1}]; const v${k} = (d${k} ${dec ? '-' : '+'} 1) | 0;`,
      // The low half wraps when DEC starts at 0 or INC ends at 0.
      dec
        ? `const vh${k} = (dh${k} - (d${k} === 0 ? 1 : 0)) | 0;`
        : `const vh${k} = (dh${k} + (v${k} === 0 ? 1 : 0)) | 0;`,
      `r[${n}] = v${k}; r[${n + 1}] = vh${k};`,
    );
    if (!this.dead[k])
      this.out.push(
        `c.flags = (c.flags & ${~Flag.CF}) | ${this.cfExpr()};`,
        `c.lazyOp = ${dec ? LazyOp.SUB : LazyOp.ADD}; c.lazySize = 8; c.lazyRes = v${k}; c.lazyResHi = vh${k};`,
        `c.lazyDst = d${k}; c.lazyDstHi = dh${k}; c.lazySrc = 1; c.lazySrcHi = 0; c.lazyMask = ${ARITH_FLAGS & ~Flag.CF};`,
      );
    this.known = Known.RESULT64;
    this.knownAt = k;
  }

  /** CF as 0 or 1 from the last inline instruction (block-conditions.ts). */
  private cfExpr(): string {
    return carryExpr(this.known, this.knownAt);
  }

  /** Condition `cc` after the last inline instruction (block-conditions.ts). */
  private conditionExpr(cc: number): string {
    return conditionExpr(this.known, this.knownAt, cc);
  }

  /** The branch target of relative instruction k (JMP, CALL, Jcc) truncated to its operand size. */
  private target(k: number): string {
    const i = this.insns[k];
    const disp = this.at[k] + i.len + (i.imm | 0);
    const size = i.osize;
    if (size === 8) return `ip0 + ${disp}`;
    return size === 4 ? `(ip0 + ${disp}) >>> 0` : `(ip0 + ${disp}) & 0xffff`;
  }

  /** Whether branch target `t` passes the CS limit check (outside 64-bit mode) or the canonical check (in it). */
  private targetOk(t: string): string {
    return this.mode === CodeMode.M64 ? `${t} >= ${-CANON} && ${t} < ${CANON}` : `${t} <= c.segLimit[1]`;
  }

  /** Whether the trace goes on at k's branch target (a direct JMP or CALL it follows). */
  private follows(k: number): boolean {
    if (this.isLast(k)) return false;
    const i = this.insns[k];
    return this.at[k + 1] === this.at[k] + i.len + (i.imm | 0);
  }

  /** Jcc: a side exit when taken, else on to the next instruction. */
  private jcc(k: number): void {
    const i = this.insns[k];
    this.out.push(
      `if (${this.conditionExpr(i.op & 0xf)}) {`,
      `const t${k} = ${this.target(k)};`,
      `if (${this.targetOk(`t${k}`)}) ${this.taken(k)}`,
      `c.rip = ${this.ip(k)}; c.nextIp = ${this.fall(k)}; c.retired = r0 + ${k};`,
      `branch(c, t${k}, ${i.osize}); return;`,
      '}',
    );
    this.fallThrough(k);
  }

  /**
   * A taken branch of instruction k to `t{k}` (checked): back to the entry it starts the next pass when that
   * fits under `lim` (the run loop's slice), anywhere else it ends the block.
   */
  private taken(k: number): string {
    const i = this.insns[k];
    if (this.at[k] + i.len + (i.imm | 0) !== 0)
      return `{ c.rip = t${k}; c.retired = r0 + ${k + 1}; return; }`;
    return `{ r0 += ${k + 1}; if (r0 + ${this.insns.length} <= lim) continue; c.rip = t${k}; c.retired = r0; return; }`;
  }

  /** JMP rel: on along the trace when it follows the target, else the block ends there. */
  private jump(k: number): void {
    const i = this.insns[k];
    this.out.push(`const t${k} = ${this.target(k)};`);
    if (this.follows(k)) {
      this.out.push(
        `if (!(${this.targetOk(`t${k}`)})) { c.rip = ${this.ip(k)}; c.nextIp = ${this.fall(k)}; c.retired = r0 + ${k}; branch(c, t${k}, ${i.osize}); return; }`,
      );
      return;
    }
    this.out.push(
      `if (${this.targetOk(`t${k}`)}) ${this.taken(k)}`,
      `c.rip = ${this.ip(k)}; c.nextIp = ${this.fall(k)}; c.retired = r0 + ${k};`,
      `branch(c, t${k}, ${i.osize}); return;`,
    );
    this.known = Known.NONE;
  }

  /** CALL rel: the push inline on a 32-bit stack, else control.ts's callRel. */
  private call(k: number): void {
    const i = this.insns[k];
    const follows = this.follows(k);
    if (this.mode !== CodeMode.M64 && i.osize === 4) {
      this.out.push(
        `const t${k} = ${this.target(k)};`,
        `let ok${k} = false;`,
        `if (t${k} <= c.segLimit[1]) {`,
      );
      this.push(k, this.fall(k), '');
      this.out.push('}');
      if (follows) this.withFallback(k, this.ip(k + 1));
      else {
        this.out.push(`if (ok${k}) { c.rip = t${k}; c.retired = r0 + ${k + 1}; return; }`);
        this.callHandler(k, '');
      }
      return;
    }
    this.out.push(`let ok${k} = false;`);
    if (this.mode === CodeMode.M64 && i.osize === 8) {
      this.out.push(
        `const t${k} = ${this.target(k)};`,
        `if (${this.targetOk(`t${k}`)}) {`,
        `const ra${k} = ${this.fall(k)}; const rah${k} = Math.floor(ra${k} / 4294967296);`,
      );
      this.push64(k, `(ra${k} - rah${k} * 4294967296) | 0`, `rah${k} | 0`, '');
      this.out.push('}');
      if (!follows) this.out.push(`if (ok${k}) { c.rip = t${k}; c.retired = r0 + ${k + 1}; return; }`);
    }
    if (follows) this.withFallback(k, this.ip(k + 1));
    else this.callHandler(k, '');
  }

  /** Code that pops 8 bytes off the stack: RSP's halves plus 8 (after `pop64` read the value). */
  private popSp64(k: number): string {
    return `r[8] = nl${k} | 0; r[9] = (r[9] + (nl${k} >= 4294967296 ? 1 : 0)) | 0;`;
  }

  /**
   * An 8-byte push of `lo:hi` in 64-bit mode when the new RSP is canonical and its page is in the TLB for
   * writes (operands.ts's push, linearOf's canonical check, mmu.ts's write fast path); sets `ok{k}`.
   */
  private push64(k: number, lo: string, hi: string, then: string): void {
    this.out.push(
      `{ const w${k} = ${lo}; const wh${k} = ${hi}; const nl${k} = (r[8] >>> 0) - 8;`,
      `const sph${k} = (r[9] - (nl${k} < 0 ? 1 : 0)) | 0; const sp${k} = sph${k} * 4294967296 + (nl${k} >>> 0);`,
      `if (sp${k} >= ${-CANON} && sp${k} + 8 <= ${CANON}) {`,
      `const p${k} = Math.floor(sp${k} / 4096); const x${k} = ${tlbIndexOf(`p${k}`)}; const o${k} = sp${k} & 4095;`,
      `if (c.tlbW[x${k}] === p${k} && o${k} <= 4088) { const a${k} = c.tlbOff[x${k}] + o${k};`,
      `c.tlbView[x${k}].setInt32(a${k}, w${k}, true); c.tlbView[x${k}].setInt32(a${k} + 4, wh${k}, true);`,
      `r[8] = nl${k} | 0; r[9] = sph${k}; ok${k} = true; ${then} } } }`,
    );
  }

  /**
   * Reads the 8 bytes at RSP in 64-bit mode into `m{k}` (low) and `mh{k}` when RSP is canonical and its page is
   * in the TLB for reads; `then` runs with them (and `nl{k}`, RSP's low half plus 8) and must update RSP and
   * set `ok{k}` itself.
   */
  private pop64(k: number, then: string): void {
    this.out.push(
      `{ const sp${k} = r[9] * 4294967296 + (r[8] >>> 0);`,
      `if (sp${k} >= ${-CANON} && sp${k} + 8 <= ${CANON}) {`,
      `const p${k} = Math.floor(sp${k} / 4096); const x${k} = ${tlbIndexOf(`p${k}`)}; const o${k} = sp${k} & 4095;`,
      `if (c.tlbR[x${k}] === p${k} && o${k} <= 4088) { const a${k} = c.tlbOff[x${k}] + o${k};`,
      `const m${k} = c.tlbView[x${k}].getInt32(a${k}, true); const mh${k} = c.tlbView[x${k}].getInt32(a${k} + 4, true);`,
      `const nl${k} = (r[8] >>> 0) + 8; ${then} } } }`,
    );
  }

  /**
   * RET near: the pop inline on a 32-bit stack, else control.ts's retNear. Inside a trace (the RET of a CALL it
   * followed) it goes on when the popped address is the one after that CALL; otherwise the block ends.
   */
  private ret(k: number): void {
    const i = this.insns[k];
    if (!this.isLast(k)) {
      const expected = this.ip(k + 1);
      this.out.push(`let ok${k} = false;`);
      if (this.mode !== CodeMode.M64 && i.osize === 4) {
        this.pop(
          k,
          `const t${k} = m${k} >>> 0; if (t${k} <= c.segLimit[1]) { r[8] = (sp${k} + 4) | 0; r[9] = 0; if (t${k} !== ${expected}) { c.rip = t${k}; c.retired = r0 + ${k + 1}; return; } ok${k} = true; }`,
          'own',
        );
      } else if (this.mode === CodeMode.M64 && i.osize === 8) {
        this.pop64(
          k,
          `const t${k} = mh${k} * 4294967296 + (m${k} >>> 0); if (${this.targetOk(`t${k}`)}) { ${this.popSp64(k)} if (t${k} !== ${expected}) { c.rip = t${k}; c.retired = r0 + ${k + 1}; return; } ok${k} = true; }`,
        );
      }
      this.withFallback(k, expected);
      return;
    }
    if (this.mode === CodeMode.M64 && i.osize === 8 && i.op === 0xc3) {
      this.out.push(`let ok${k} = false;`);
      this.pop64(
        k,
        `const t${k} = mh${k} * 4294967296 + (m${k} >>> 0); if (${this.targetOk(`t${k}`)}) { ${this.popSp64(k)} c.rip = t${k}; c.retired = r0 + ${k + 1}; return; }`,
      );
    }
    if (this.mode !== CodeMode.M64 && i.osize === 4 && i.op === 0xc3) {
      this.out.push(`let ok${k} = false;`);
      this.pop(
        k,
        `const t${k} = m${k} >>> 0; if (t${k} <= c.segLimit[1]) { c.rip = t${k}; c.retired = r0 + ${k + 1}; `,
        true,
      );
    }
    this.callHandler(k, '');
  }

  /**
   * After an inline fast path that sets `ok{k}`, the handler for the cases it does not take (a 16-bit stack,
   * a TLB miss, a fault to raise); then the trace goes on at `expected`.
   */
  private withFallback(k: number, expected: string): void {
    const i = this.insns[k];
    const fn = DIRECT[handlerOf(i)] ?? 'dispatch';
    this.out.push(
      `if (!ok${k}) {`,
      `c.rip = ${this.ip(k)}; c.nextIp = ${this.fall(k)}; c.retired = r0 + ${k};`,
      `${fn}(c, i${k});`,
      'if (c.stop !== 0) return;',
      `if (c.nextIp !== ${expected}) { c.rip = c.nextIp; c.retired = r0 + ${k + 1}; return; }`,
      '}',
    );
  }

  /**
   * A 4-byte push of `value` on a 32-bit stack outside 64-bit mode when SS allows it and the page is in the
   * TLB for writes (operands.ts's push and mmu.ts's write, their fast paths); sets `ok{k}` when it pushed.
   */
  private push(k: number, value: string, then: string): void {
    this.out.push(
      `if ((c.segAttr[2] & ${SS_B}) !== 0 && (c.segAcc[2] & ${SegAcc.WRITE | SegAcc.EXPAND_DOWN}) === ${SegAcc.WRITE}) {`,
      `const w${k} = ${value}; const sp${k} = ((r[8] >>> 0) - 4) >>> 0;`,
      `if (sp${k} + 3 <= c.segLimit[2]) {`,
      `const l${k} = (c.segBase[2] + sp${k}) >>> 0; const p${k} = l${k} >>> 12; const x${k} = ${tlbIndexOf(`p${k}`)}; const o${k} = l${k} & 4095;`,
      `if (c.tlbW[x${k}] === p${k} && o${k} <= 4092) { c.tlbView[x${k}].setInt32(c.tlbOff[x${k}] + o${k}, w${k}, true); r[8] = sp${k} | 0; r[9] = 0; ok${k} = true; ${then} }`,
      '}}',
    );
  }

  /**
   * A 4-byte pop into `m{k}` on a 32-bit stack, as `push`; `then` runs with the value (it must set `ok{k}`
   * itself when `open` is set: then it also gets to close the brace, for RET's target check).
   */
  private pop(k: number, then: string, open: boolean | 'own' = false): void {
    if (open === 'own') {
      // `then` pops (sets ESP) and sets `ok{k}` itself.
      this.out.push(
        `if ((c.segAttr[2] & ${SS_B}) !== 0 && (c.segAcc[2] & ${SegAcc.READ | SegAcc.EXPAND_DOWN}) === ${SegAcc.READ}) {`,
        `const sp${k} = r[8] >>> 0;`,
        `if (sp${k} + 3 <= c.segLimit[2]) {`,
        `const l${k} = (c.segBase[2] + sp${k}) >>> 0; const p${k} = l${k} >>> 12; const x${k} = ${tlbIndexOf(`p${k}`)}; const o${k} = l${k} & 4095;`,
        `if (c.tlbR[x${k}] === p${k} && o${k} <= 4092) { const m${k} = c.tlbView[x${k}].getInt32(c.tlbOff[x${k}] + o${k}, true); ${then} }`,
        '}}',
      );
      return;
    }
    if (!open) this.out.push(`let ok${k} = false;`);
    this.out.push(
      `if ((c.segAttr[2] & ${SS_B}) !== 0 && (c.segAcc[2] & ${SegAcc.READ | SegAcc.EXPAND_DOWN}) === ${SegAcc.READ}) {`,
      `const sp${k} = r[8] >>> 0;`,
      `if (sp${k} + 3 <= c.segLimit[2]) {`,
      `const l${k} = (c.segBase[2] + sp${k}) >>> 0; const p${k} = l${k} >>> 12; const x${k} = ${tlbIndexOf(`p${k}`)}; const o${k} = l${k} & 4095;`,
      `if (c.tlbR[x${k}] === p${k} && o${k} <= 4092) { const m${k} = c.tlbView[x${k}].getInt32(c.tlbOff[x${k}] + o${k}, true);`,
      open
        ? `${then} r[8] = (sp${k} + 4) | 0; r[9] = 0; return; } }`
        : `r[8] = (sp${k} + 4) | 0; r[9] = 0; ${then} ok${k} = true; }`,
      '}}',
    );
  }

  /**
   * Code leaving in `l{tag}` the linear address of `size` bytes at offset `off` of segment `seg` outside 64-bit
   * mode: the common segment (no expand-down, within the limit) inline, else operands.ts's linearOf, which
   * raises the fault.
   */
  private linear(k: number, tag: string, seg: number, off: string, size: number, write: boolean): string[] {
    if (this.mode === CodeMode.M64) {
      // 64-bit mode: FS/GS add their base, and the address must be canonical (linearOf raises otherwise).
      return [
        `const e${tag} = ${off};`,
        `const l${tag} = ${seg >= Seg.FS ? `c.segBase[${seg}] + e${tag}` : `e${tag}`};`,
        `if (l${tag} < ${-CANON} || l${tag} + ${size} > ${CANON}) { linearOf(c, ${seg}, e${tag}, ${size}, ${write}); ${this.stopInline(k)} }`,
      ];
    }
    const need = write ? SegAcc.WRITE : SegAcc.READ;
    return [
      `const e${tag} = ${off};`,
      `let l${tag};`,
      `if ((c.segAcc[${seg}] & ${need | SegAcc.EXPAND_DOWN}) === ${need} && e${tag} + ${size - 1} <= c.segLimit[${seg}]) l${tag} = (c.segBase[${seg}] + e${tag}) >>> 0;`,
      `else { l${tag} = linearOf(c, ${seg}, e${tag}, ${size}, ${write}); if ((c.stop & ${Stop.ABORT}) !== 0) ${this.stopInline(k)} }`,
    ];
  }

  /** The linear page number of `lin` as mmu.ts computes it (64-bit addresses may be negative or above 2^32). */
  private pageOf(lin: string): string {
    return this.mode === CodeMode.M64 ? `Math.floor(${lin} / 4096)` : `${lin} >>> 12`;
  }

  /** Code reading `size` bytes at linear `l{tag}` into `m{tag}`: the TLB hit inline (mmu.ts's read), else `c.read`. */
  private load(k: number, tag: string, size: number): string[] {
    const at = `c.tlbOff[x${tag}] + o${tag}`;
    const get =
      size === 1
        ? `m${tag} = c.tlbBytes[x${tag}][${at}];`
        : size === 2
          ? `m${tag} = c.tlbView[x${tag}].getUint16(${at}, true);`
          : size === 4
            ? `m${tag} = c.tlbView[x${tag}].getInt32(${at}, true);`
            : `{ const a${tag} = ${at}; m${tag} = c.tlbView[x${tag}].getInt32(a${tag}, true); mh${tag} = c.tlbView[x${tag}].getInt32(a${tag} + 4, true); }`;
    // An 8-byte value comes back in halves: `m{tag}` low, `mh{tag}` high (mmu.ts's read leaves it in `c.hi`).
    return [
      `const p${tag} = ${this.pageOf(`l${tag}`)}; const x${tag} = ${tlbIndexOf(`p${tag}`)}; const o${tag} = l${tag} & 4095;`,
      size === 8 ? `let m${tag}; let mh${tag} = 0;` : `let m${tag};`,
      `if (c.tlbR[x${tag}] === p${tag} && o${tag} <= ${4096 - size}) ${get}`,
      `else { m${tag} = c.read(l${tag}, ${size}); if ((c.stop & ${Stop.ABORT}) !== 0) ${this.stopInline(k)}${size === 8 ? ` mh${tag} = c.hi;` : ''} }`,
    ];
  }

  /** Code writing `value` (`size` bytes) at linear `l{tag}`: the TLB hit inline (mmu.ts's write), else `c.write`. */
  private store(k: number, tag: string, size: number, value: string, hi = '0'): string[] {
    const at = `c.tlbOff[x${tag}] + o${tag}`;
    const put =
      size === 1
        ? `c.tlbBytes[x${tag}][${at}] = ${value};`
        : size === 2
          ? `c.tlbView[x${tag}].setUint16(${at}, ${value}, true);`
          : size === 4
            ? `c.tlbView[x${tag}].setInt32(${at}, ${value}, true);`
            : `{ const a${tag} = ${at}; c.tlbView[x${tag}].setInt32(a${tag}, ${value}, true); c.tlbView[x${tag}].setInt32(a${tag} + 4, ${hi}, true); }`;
    return [
      `const p${tag} = ${this.pageOf(`l${tag}`)}; const x${tag} = ${tlbIndexOf(`p${tag}`)}; const o${tag} = l${tag} & 4095;`,
      `if (c.tlbW[x${tag}] === p${tag} && o${tag} <= ${4096 - size}) ${put}`,
      `else { c.write(l${tag}, ${size}, ${value}, ${hi}); if ((c.stop & ${Stop.ABORT}) !== 0) ${this.stopInline(k)} }`,
    ];
  }

  /**
   * LODS, STOS, MOVS, CMPS, SCAS without a REP prefix, byte or dword, 32-bit addresses (64-bit in 64-bit mode): as
   * string.ts runs one element (registers change only after every access succeeded; an MMIO write or a write
   * into code still steps the indexes, then the block ends).
   */
  private string(k: number): boolean {
    const i = this.insns[k];
    const size = i.osize;
    const wide = this.mode === CodeMode.M64;
    if (i.asize === (wide ? 8 : 4) && (i.op & 0xfe) === 0xa4 && i.flags & (InsnFlag.REP | InsnFlag.REPNE)) {
      // REP MOVS: all at once when it fits in a page each way, else string.ts's element loop.
      this.out.push(
        `c.rip = ${this.ip(k)}; c.nextIp = ${this.fall(k)}; c.retired = r0 + ${k};`,
        `if (!${wide ? 'repMoveAll64' : 'repMoveAll32'}(c, ${i.segOverride ? i.seg : Seg.DS}, ${size})) {`,
        `stringMove(c, i${k});`,
        'if (c.stop !== 0) return;',
        `if (c.nextIp !== ${this.traceNext(k)}) { c.rip = c.nextIp; c.retired = r0 + ${k + 1}; return; }`,
        '}',
      );
      return true;
    }
    if (i.asize !== (wide ? 8 : 4) || (size !== 1 && size !== 4) || i.flags & (InsnFlag.REP | InsnFlag.REPNE))
      return false;
    const op = i.op & 0xfe;
    const src = i.segOverride ? i.seg : Seg.DS;
    // string.ts's indexOf and stepIndex for the address size.
    const index = (n: number) =>
      wide
        ? `(r[${2 * n + 1}] === 0 ? r[${2 * n}] >>> 0 : r[${2 * n + 1}] * 4294967296 + (r[${2 * n}] >>> 0))`
        : `r[${2 * n}] >>> 0`;
    const step = (n: number) =>
      wide
        ? `{ const q = (r[${2 * n}] >>> 0) + dl${k}; r[${2 * n}] = q | 0; if (q >= 4294967296) r[${2 * n + 1}] = (r[${2 * n + 1}] + 1) | 0; else if (q < 0) r[${2 * n + 1}] = (r[${2 * n + 1}] - 1) | 0; }`
        : `r[${2 * n}] = (r[${2 * n}] + dl${k}) | 0; r[${2 * n + 1}] = 0;`;
    const esi = index(6);
    const edi = index(7);
    const lines = [`const dl${k} = (c.flags & ${Flag.DF}) !== 0 ? ${-size} : ${size};`];
    const stepSi = step(6);
    const stepDi = step(7);
    const acc = size === 1 ? 'r[0] & 0xff' : 'r[0]';
    const setAcc = (v: string) => (size === 1 ? `r[0] = (r[0] & -256) | ${v};` : `r[0] = ${v}; r[1] = 0;`);
    const compare = (a: string, b: string) =>
      size === 4
        ? `const v${k} = (${a} - ${b}) | 0; c.lazyOp = ${LazyOp.SUB}; c.lazySize = 4; c.lazyRes = v${k}; c.lazyDst = ${a}; c.lazySrc = ${b}; c.lazyMask = ${ARITH_FLAGS};`
        : `c.lazyOp = ${LazyOp.SUB}; c.lazySize = 1; c.lazyRes = (${a} - ${b}) & 0xff; c.lazyDst = ${a}; c.lazySrc = ${b}; c.lazyMask = ${ARITH_FLAGS};`;
    switch (op) {
      case 0xac: // LODS
        lines.push(...this.linear(k, `${k}a`, src, esi, size, false), ...this.load(k, `${k}a`, size));
        lines.push(setAcc(`m${k}a`), stepSi);
        break;
      case 0xaa: // STOS
        lines.push(...this.linear(k, `${k}b`, Seg.ES, edi, size, true), ...this.store(k, `${k}b`, size, acc));
        lines.push(stepDi);
        break;
      case 0xa4: // MOVS
        lines.push(...this.linear(k, `${k}a`, src, esi, size, false), ...this.load(k, `${k}a`, size));
        lines.push(
          ...this.linear(k, `${k}b`, Seg.ES, edi, size, true),
          ...this.store(k, `${k}b`, size, `m${k}a`),
        );
        lines.push(stepSi, stepDi);
        break;
      case 0xa6: // CMPS
        lines.push(...this.linear(k, `${k}a`, src, esi, size, false), ...this.load(k, `${k}a`, size));
        lines.push(...this.linear(k, `${k}b`, Seg.ES, edi, size, false), ...this.load(k, `${k}b`, size));
        lines.push(`const d${k} = m${k}a; const s${k} = m${k}b;`, compare(`d${k}`, `s${k}`), stepSi, stepDi);
        break;
      case 0xae: // SCAS
        lines.push(...this.linear(k, `${k}b`, Seg.ES, edi, size, false), ...this.load(k, `${k}b`, size));
        lines.push(`const d${k} = ${acc}; const s${k} = m${k}b;`, compare(`d${k}`, `s${k}`), stepDi);
        break;
      default:
        return false;
    }
    lines.push(`if (c.stop !== 0) ${this.stopInline(k)}`);
    this.out.push(lines.join('\n'));
    if (op === 0xa6 || op === 0xae) {
      this.known = size === 4 ? Known.SUB : Known.NONE;
      this.knownAt = k;
    }
    return true;
  }

  /**
   * MOV r, m and MOV m, r of 4 or 8 bytes in 64-bit mode with 64-bit addressing (not RIP-relative): the address
   * summed in 32-bit halves as operands.ts's effectiveAddress sums it, the canonical check of its linearOf, and
   * the TLB probe of mmu.ts's read/write; a non-canonical address goes through linearOf, which raises.
   */
  private memory64(k: number, store: boolean): boolean {
    const i = this.insns[k];
    const size = i.osize;
    if (i.asize !== 8 || (size !== 4 && size !== 8)) return false;
    const seg = i.seg;
    const n = i.reg << 1;
    const stop = this.stopInline(k);
    const lin = seg >= Seg.FS ? `c.segBase[${seg}] + ea${k}` : `ea${k}`;
    const lines = [
      this.address64(k),
      `const ea${k} = ${this.canonical64(k)};`,
      `const l${k} = ${lin};`,
      `if (l${k} < ${-CANON} || l${k} + ${size} > ${CANON}) { linearOf(c, ${seg}, ea${k}, ${size}, ${store}); ${stop} }`,
      `const p${k} = Math.floor(l${k} / 4096); const x${k} = ${tlbIndexOf(`p${k}`)}; const o${k} = l${k} & 4095;`,
    ];
    if (store) {
      lines.push(
        `if (c.tlbW[x${k}] === p${k} && o${k} <= ${4096 - size}) { const a${k} = c.tlbOff[x${k}] + o${k};`,
        size === 8
          ? `c.tlbView[x${k}].setInt32(a${k}, r[${n}], true); c.tlbView[x${k}].setInt32(a${k} + 4, r[${n + 1}], true); }`
          : `c.tlbView[x${k}].setInt32(a${k}, r[${n}], true); }`,
        `else { c.write(l${k}, ${size}, r[${n}], r[${n + 1}]); if (c.stop !== 0) ${stop} }`,
      );
    } else {
      lines.push(
        `let m${k}; let mh${k} = 0;`,
        `if (c.tlbR[x${k}] === p${k} && o${k} <= ${4096 - size}) { const a${k} = c.tlbOff[x${k}] + o${k}; m${k} = c.tlbView[x${k}].getInt32(a${k}, true);${size === 8 ? ` mh${k} = c.tlbView[x${k}].getInt32(a${k} + 4, true);` : ''} }`,
        `else { m${k} = c.read(l${k}, ${size}); if ((c.stop & ${Stop.ABORT}) !== 0) ${stop}${size === 8 ? ` mh${k} = c.hi;` : ''} }`,
        `r[${n}] = m${k}; r[${n + 1}] = mh${k}; if (c.stop !== 0) ${stop}`,
      );
    }
    this.out.push(lines.join('\n'));
    return true;
  }

  /**
   * Code leaving instruction k's 64-bit effective address (SDM Vol. 1 3.7.5) in 32-bit halves `el{k}` (0 to
   * 2^32 - 1) and `eh{k}` (an int32), summed as operands.ts's effectiveAddress sums it, RIP-relative included.
   */
  private address64(k: number): string {
    const i = this.insns[k];
    const lo = [`${i.disp >>> 0}`];
    const hi = [`${i.disp >> 31}`];
    const pre: string[] = [];
    if (i.flags & InsnFlag.RIPREL) {
      // RIP-relative: from the next instruction's RIP, a canonical address held as a signed number.
      pre.push(`const ni${k} = ${this.fall(k)}; const nih${k} = Math.floor(ni${k} / 4294967296);`);
      lo.push(`(ni${k} - nih${k} * 4294967296)`);
      hi.push(`nih${k}`);
    }
    if (i.base !== NO_REG) {
      lo.push(`(r[${i.base << 1}] >>> 0)`);
      hi.push(`r[${(i.base << 1) + 1}]`);
    }
    if (i.index !== NO_REG) {
      const x = i.index << 1;
      const sc = i.scale;
      lo.push(sc ? `((r[${x}] << ${sc}) >>> 0)` : `(r[${x}] >>> 0)`);
      hi.push(sc ? `((r[${x + 1}] << ${sc}) | (r[${x}] >>> ${32 - sc}))` : `r[${x + 1}]`);
    }
    pre.push(
      `const es${k} = ${lo.join(' + ')}; const eh${k} = (${hi.join(' + ')} + Math.floor(es${k} / 4294967296)) | 0; const el${k} = es${k} >>> 0;`,
    );
    return pre.join(' ');
  }

  /** The address `address64` left, as a number, or 2^60 (non-canonical) when it is far outside 48 bits. */
  private canonical64(k: number): string {
    return `eh${k} >= -65536 && eh${k} < 65536 ? eh${k} * 4294967296 + el${k} : 1152921504606846976`;
  }

  /**
   * Code reading instruction k's memory operand (`size` bytes) into `m{k}a`: readRm's segment check (the
   * canonical check in 64-bit mode, 64-bit addressing only) and read, inline on the common path. False when
   * the form is not handled here.
   */
  private loadOperand(k: number, size: number): boolean {
    return this.operand(k, size, false, this.load(k, `${k}a`, size));
  }

  /**
   * Instruction k's memory operand: its linear address in `l{k}a` (the segment check, or the canonical check in
   * 64-bit mode with 64-bit addressing only), then `access`, the load or store code. False when the addressing
   * form is not handled here. A store into a code page, or a page walk's accessed bit written into one, ends the
   * block once the instruction is complete (`inline` checks `stop`).
   */
  private operand(k: number, size: number, write: boolean, access: string[]): boolean {
    const i = this.insns[k];
    let lines: string[];
    if (this.mode === CodeMode.M64) {
      if (i.asize !== 8) return false;
      lines = [
        `${this.address64(k)} const ea${k} = ${this.canonical64(k)};`,
        ...this.linear(k, `${k}a`, i.seg, `ea${k}`, size, write),
      ];
    } else {
      if (i.flags & InsnFlag.RIPREL) return false;
      lines = this.linear(k, `${k}a`, i.seg, this.effective(i), size, write);
    }
    this.out.push([...lines, ...access].join('\n'));
    this.loaded = true;
    return true;
  }

  /** Set by `operand`: the instruction's end must check `stop` (see `inline`). */
  private loaded = false;

  /** The effective address of `i`'s memory operand outside 64-bit mode (operands.ts's effectiveAddress). */
  private effective(i: Insn): string {
    const parts = [`${i.disp | 0}`];
    if (i.base !== NO_REG) parts.push(`r[${i.base << 1}]`);
    if (i.index !== NO_REG) parts.push(i.scale ? `(r[${i.index << 1}] << ${i.scale})` : `r[${i.index << 1}]`);
    return i.asize === 4 ? `((${parts.join(' + ')}) >>> 0)` : `((${parts.join(' + ')}) & 0xffff)`;
  }

  /**
   * MOV r32, m32 and MOV m32, r32 outside 64-bit mode, with the segment check and the TLB probe inline (the
   * checks of operands.ts's linearOf and mmu.ts's read/write; their slow paths are called as they are).
   */
  private memory(k: number, store: boolean): boolean {
    const i = this.insns[k];
    if (this.mode === CodeMode.M64) return this.memory64(k, store);
    if (i.osize !== 4 || i.flags & InsnFlag.RIPREL) return false;
    const ea = this.effective(i);
    const seg = i.seg;
    const need = store ? SegAcc.WRITE : SegAcc.READ;
    const n = i.reg << 1;
    const stop = this.stopInline(k);
    const lines = [
      `const ea${k} = ${ea};`,
      `let l${k};`,
      `if ((c.segAcc[${seg}] & ${need | SegAcc.EXPAND_DOWN}) === ${need} && ea${k} + 3 <= c.segLimit[${seg}]) l${k} = (c.segBase[${seg}] + ea${k}) >>> 0;`,
      `else { l${k} = linearOf(c, ${seg}, ea${k}, 4, ${store}); if (c.stop !== 0) ${stop} }`,
      `const p${k} = l${k} >>> 12; const x${k} = ${tlbIndexOf(`p${k}`)}; const o${k} = l${k} & 4095;`,
    ];
    if (store) {
      lines.push(
        `if (c.tlbW[x${k}] === p${k} && o${k} <= 4092) c.tlbView[x${k}].setInt32(c.tlbOff[x${k}] + o${k}, r[${n}], true);`,
        `else { c.write(l${k}, 4, r[${n}], r[${n + 1}]); if (c.stop !== 0) ${stop} }`,
      );
    } else {
      lines.push(
        `let m${k};`,
        `if (c.tlbR[x${k}] === p${k} && o${k} <= 4092) m${k} = c.tlbView[x${k}].getInt32(c.tlbOff[x${k}] + o${k}, true);`,
        `else { m${k} = c.read(l${k}, 4); if ((c.stop & ${Stop.ABORT}) !== 0) ${stop} }`,
        // A page walk's accessed bit written into a code page can end the block without a fault (RESYNC).
        `r[${n}] = m${k}; r[${n + 1}] = 0; if (c.stop !== 0) ${stop}`,
      );
    }
    this.out.push(lines.join('\n'));
    return true;
  }
}

/** mmu.ts's `tlbIndex` of the page number in variable `p`, as generated code computes it. */
function tlbIndexOf(p: string): string {
  return `(${p} ^ (${p} >> ${TLB_BITS})) & ${TLB_ENTRIES - 1}`;
}
