/**
 * The dispatch table: one handler per opcode (index = opcode, + 256 for the 0F map), every handler with the
 * same signature, so the run loop makes one indexed call per instruction. Group opcodes pick their operation
 * from ModRM.reg inside their handler. Opcodes without an entry raise #UD.
 */
import { larLsl } from './access-rights.js';
import { aluClassic, aluGroup1, incDecReg, incDecRm, testAccImm, testNotNeg, testRmReg } from './alu.js';
import { bcd } from './bcd.js';
import { bitScan, bitTest, cmpxchg, group9, xadd } from './bits.js';
import {
  bound,
  branchIndirect,
  callRel,
  enter,
  farDirect,
  int1,
  int3,
  intN,
  into,
  iret,
  jcc,
  jmpRel,
  leave,
  loop,
  retFar,
  retNear,
} from './control.js';
import type { Cpu } from './cpu.js';
import type { Insn } from './decode.js';
import { raise, Vector } from './exceptions.js';
import {
  aluRegImm32,
  aluRegImm64,
  aluRegReg32,
  aluRegReg64,
  Fast,
  incDecReg32or64,
  jccZero,
  movLoad,
  movRegReg,
  movStore,
  shiftReg32,
  specialize,
} from './fast.js';
import { fwait } from './fpu/checks.js';
import { group15 } from './fpu/save.js';
import { x87 } from './fpu/x87.js';
import { inPort, insPort, outPort, outsPort } from './io.js';
import {
  arplOrMovsxd,
  bswap,
  cmov,
  convertAcc,
  convertAccToDx,
  lea,
  loadFarPointer,
  movBe,
  movExtend,
  movFromSeg,
  movMoffs,
  movRegImm,
  movRegRm,
  movRmImm,
  movRmReg,
  movToSeg,
  popa,
  popReg,
  popRm,
  popSeg,
  pusha,
  pushImm,
  pushReg,
  pushRm,
  pushSeg,
  setcc,
  xchgAcc,
  xchgRmReg,
  xlat,
} from './move.js';
import { imulReg, mulDivGroup } from './muldiv.js';
import { doubleShift, shiftGroup } from './shift.js';
import { sse } from './simd/sse.js';
import { sse3Byte } from './simd/sse-3byte.js';
import { stringCompare, stringMove } from './string.js';
import {
  cacheOp,
  cli,
  clts,
  cpuid,
  flagOp,
  group6,
  group7,
  hlt,
  lahfSahf,
  movCr,
  movDr,
  msrAccess,
  nop,
  popf,
  pushf,
  rdpmc,
  rdtsc,
  sti,
  syscall,
  sysenter,
  sysexit,
  sysret,
  undefinedOpcode,
} from './system.js';

/** An instruction handler: reads and writes the CPU, records faults and exits, never throws. */
export type Handler = (c: Cpu, i: Insn) => void;

/** Group 3 (F6, F7): TEST, NOT, NEG, MUL, IMUL, DIV, IDIV. */
function group3(c: Cpu, i: Insn): void {
  if ((i.reg & 7) < 4) testNotNeg(c, i);
  else mulDivGroup(c, i);
}

/** Group 4 (FE): INC, DEC r/m8. */
function group4(c: Cpu, i: Insn): void {
  if ((i.reg & 7) < 2) incDecRm(c, i);
  else raise(c, Vector.UD, -1);
}

/** Group 5 (FF): INC, DEC, CALL, CALLF, JMP, JMPF, PUSH. */
function group5(c: Cpu, i: Insn): void {
  const r = i.reg & 7;
  if (r < 2) incDecRm(c, i);
  else if (r < 6) branchIndirect(c, i);
  else if (r === 6) pushRm(c, i);
  else raise(c, Vector.UD, -1);
}

/** Handler ids: one per handler function, the cases of {@link dispatch}. */
export const H = {
  UNDEFINED_OPCODE: 0,
  ALU_CLASSIC: 1,
  PUSH_SEG: 2,
  POP_SEG: 3,
  BCD: 4,
  INC_DEC_REG: 5,
  PUSH_REG: 6,
  POP_REG: 7,
  PUSHA: 8,
  POPA: 9,
  ARPL_OR_MOVSXD: 10,
  PUSH_IMM: 11,
  IMUL_REG: 12,
  INS_PORT: 13,
  OUTS_PORT: 14,
  JCC: 15,
  ALU_GROUP1: 16,
  TEST_RM_REG: 17,
  XCHG_RM_REG: 18,
  MOV_RM_REG: 19,
  MOV_REG_RM: 20,
  MOV_FROM_SEG: 21,
  LEA: 22,
  MOV_TO_SEG: 23,
  POP_RM: 24,
  XCHG_ACC: 25,
  CONVERT_ACC: 26,
  CONVERT_ACC_TO_DX: 27,
  FAR_DIRECT: 28,
  NOP: 29,
  PUSHF: 30,
  POPF: 31,
  LAHF_SAHF: 32,
  MOV_MOFFS: 33,
  STRING_MOVE: 34,
  STRING_COMPARE: 35,
  TEST_ACC_IMM: 36,
  MOV_REG_IMM: 37,
  SHIFT_GROUP: 38,
  RET_NEAR: 39,
  LOAD_FAR_POINTER: 40,
  MOV_RM_IMM: 41,
  ENTER: 42,
  LEAVE: 43,
  RET_FAR: 44,
  INT3: 45,
  INT_N: 46,
  INTO: 47,
  IRET: 48,
  XLAT: 49,
  LOOP: 50,
  IN_PORT: 51,
  OUT_PORT: 52,
  CALL_REL: 53,
  JMP_REL: 54,
  INT1: 55,
  HLT: 56,
  FLAG_OP: 57,
  GROUP3: 58,
  CLI: 59,
  STI: 60,
  GROUP4: 61,
  GROUP5: 62,
  GROUP6: 63,
  GROUP7: 64,
  SYSCALL: 65,
  CLTS: 66,
  SYSRET: 67,
  CACHE_OP: 68,
  MOV_CR: 69,
  MOV_DR: 70,
  MSR_ACCESS: 71,
  RDTSC: 72,
  SYSENTER: 73,
  SYSEXIT: 74,
  CMOV: 75,
  SETCC: 76,
  CPUID: 77,
  BIT_TEST: 78,
  DOUBLE_SHIFT: 79,
  CMPXCHG: 80,
  MOV_EXTEND: 81,
  BIT_SCAN: 82,
  XADD: 83,
  GROUP9: 84,
  BSWAP: 85,
  MOV_BE: 86,
  LAR_LSL: 87,
  BOUND: 88,
  SSE: 89,
  X87: 90,
  FWAIT: 91,
  GROUP15: 92,
  SSE_3BYTE: 93,
  RDPMC: 94,
} as const;

/** The handler id of each dispatch index (opcode, + 256 for 0F, + 512 for 0F 38, + 768 for 0F 3A). */
export const OP_HANDLER = new Uint8Array(1024);

function set(ops: number[], id: number): void {
  for (const op of ops) OP_HANDLER[op] = id;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, k) => from + k);
}

for (let base = 0; base < 0x40; base += 8) set(range(base, base + 5), H.ALU_CLASSIC);
set([0x06, 0x0e, 0x16, 0x1e, 0x1a0, 0x1a8], H.PUSH_SEG);
set([0x07, 0x17, 0x1f, 0x1a1, 0x1a9], H.POP_SEG);
set([0x27, 0x2f, 0x37, 0x3f, 0xd4, 0xd5], H.BCD);
set(range(0x40, 0x4f), H.INC_DEC_REG);
set(range(0x50, 0x57), H.PUSH_REG);
set(range(0x58, 0x5f), H.POP_REG);
set([0x60], H.PUSHA);
set([0x61], H.POPA);
set([0x62], H.BOUND);
set([0x63], H.ARPL_OR_MOVSXD);
set([0x68, 0x6a], H.PUSH_IMM);
set([0x69, 0x6b, 0x1af], H.IMUL_REG);
set([0x6c, 0x6d], H.INS_PORT);
set([0x6e, 0x6f], H.OUTS_PORT);
set(range(0x70, 0x7f), H.JCC);
set(range(0x80, 0x83), H.ALU_GROUP1);
set([0x84, 0x85], H.TEST_RM_REG);
set([0x86, 0x87], H.XCHG_RM_REG);
set([0x88, 0x89], H.MOV_RM_REG);
set([0x8a, 0x8b], H.MOV_REG_RM);
set([0x8c], H.MOV_FROM_SEG);
set([0x8d], H.LEA);
set([0x8e], H.MOV_TO_SEG);
set([0x8f], H.POP_RM);
set(range(0x90, 0x97), H.XCHG_ACC);
set([0x98], H.CONVERT_ACC);
set([0x99], H.CONVERT_ACC_TO_DX);
set([0x9a, 0xea], H.FAR_DIRECT);
set([0x9b], H.FWAIT);
set(range(0xd8, 0xdf), H.X87);
set([0x9c], H.PUSHF);
set([0x9d], H.POPF);
set([0x9e, 0x9f], H.LAHF_SAHF);
set(range(0xa0, 0xa3), H.MOV_MOFFS);
set([0xa4, 0xa5, 0xaa, 0xab, 0xac, 0xad], H.STRING_MOVE);
set([0xa6, 0xa7, 0xae, 0xaf], H.STRING_COMPARE);
set([0xa8, 0xa9], H.TEST_ACC_IMM);
set(range(0xb0, 0xbf), H.MOV_REG_IMM);
set([0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3], H.SHIFT_GROUP);
set([0xc2, 0xc3], H.RET_NEAR);
set([0xc4, 0xc5, 0x1b2, 0x1b4, 0x1b5], H.LOAD_FAR_POINTER);
set([0xc6, 0xc7], H.MOV_RM_IMM);
set([0xc8], H.ENTER);
set([0xc9], H.LEAVE);
set([0xca, 0xcb], H.RET_FAR);
set([0xcc], H.INT3);
set([0xcd], H.INT_N);
set([0xce], H.INTO);
set([0xcf], H.IRET);
set([0xd7], H.XLAT);
set(range(0xe0, 0xe3), H.LOOP);
set([0xe4, 0xe5, 0xec, 0xed], H.IN_PORT);
set([0xe6, 0xe7, 0xee, 0xef], H.OUT_PORT);
set([0xe8], H.CALL_REL);
set([0xe9, 0xeb], H.JMP_REL);
set([0xf1], H.INT1);
set([0xf4], H.HLT);
set([0xf5, 0xf8, 0xf9, 0xfc, 0xfd], H.FLAG_OP);
set([0xf6, 0xf7], H.GROUP3);
set([0xfa], H.CLI);
set([0xfb], H.STI);
set([0xfe], H.GROUP4);
set([0xff], H.GROUP5);

set([0x100], H.GROUP6);
set([0x102, 0x103], H.LAR_LSL);
set([0x101], H.GROUP7);
set([0x105], H.SYSCALL);
set([0x106], H.CLTS);
set([0x107], H.SYSRET);
set([0x108, 0x109], H.CACHE_OP);
set([0x10d, ...range(0x118, 0x11f)], H.NOP);
set([0x120, 0x122], H.MOV_CR);
set([0x121, 0x123], H.MOV_DR);
set([0x130, 0x132], H.MSR_ACCESS);
set([0x131], H.RDTSC);
set([0x133], H.RDPMC);
set([0x134], H.SYSENTER);
set([0x135], H.SYSEXIT);
set(range(0x140, 0x14f), H.CMOV);
set(range(0x180, 0x18f), H.JCC);
set(range(0x190, 0x19f), H.SETCC);
set([0x1a2], H.CPUID);
set([0x1a3, 0x1ab, 0x1b3, 0x1bb, 0x1ba], H.BIT_TEST);
set([0x1a4, 0x1a5, 0x1ac, 0x1ad], H.DOUBLE_SHIFT);
set([0x1b0, 0x1b1], H.CMPXCHG);
set([0x1b6, 0x1b7, 0x1be, 0x1bf], H.MOV_EXTEND);
set([0x1bc, 0x1bd], H.BIT_SCAN);
set([0x1c0, 0x1c1], H.XADD);
set([0x1c7], H.GROUP9);
set(range(0x1c8, 0x1cf), H.BSWAP);
set([0x2f0, 0x2f1], H.MOV_BE);
// MMX, SSE..SSE4.2 (simd/), group 15's FXSAVE/XSAVE/LDMXCSR/fences (fpu/save.ts).
set(
  [...range(0x110, 0x117), ...range(0x128, 0x12f), ...range(0x150, 0x17f), 0x1b8, ...range(0x1c2, 0x1c6)],
  H.SSE,
);
set(range(0x1d0, 0x1fe), H.SSE);
set([0x1ae], H.GROUP15);
set([...range(0x200, 0x2ef), ...range(0x300, 0x3ff)], H.SSE_3BYTE);

/**
 * The handlers of the instructions an ordinary guest does not run all the time (system, I/O, x87, SSE, BCD, far
 * transfers, ...), by handler id: {@link dispatch} calls them through this table, every other id falls to
 * undefinedOpcode. Kept out of dispatch's switch because a case the guest reaches for the first time after V8
 * optimized dispatch is a call without feedback, which throws the optimized code away (a soft deopt) and costs
 * another compile of the whole switch: a Linux boot reached new cases about 20 times.
 */
export const OTHER_HANDLERS: readonly Handler[] = (() => {
  const table = new Array<Handler>(Math.max(...Object.values(H), ...Object.values(Fast)) + 1).fill(
    undefinedOpcode,
  );
  const entries: [number, Handler][] = [
    [H.PUSH_SEG, pushSeg],
    [H.POP_SEG, popSeg],
    [H.BCD, bcd],
    [H.PUSHA, pusha],
    [H.POPA, popa],
    [H.IMUL_REG, imulReg],
    [H.INS_PORT, insPort],
    [H.OUTS_PORT, outsPort],
    [H.XCHG_RM_REG, xchgRmReg],
    [H.MOV_FROM_SEG, movFromSeg],
    [H.MOV_TO_SEG, movToSeg],
    [H.POP_RM, popRm],
    [H.XCHG_ACC, xchgAcc],
    [H.CONVERT_ACC, convertAcc],
    [H.CONVERT_ACC_TO_DX, convertAccToDx],
    [H.FAR_DIRECT, farDirect],
    [H.PUSHF, pushf],
    [H.POPF, popf],
    [H.LAHF_SAHF, lahfSahf],
    [H.MOV_MOFFS, movMoffs],
    [H.STRING_COMPARE, stringCompare],
    [H.LOAD_FAR_POINTER, loadFarPointer],
    [H.ENTER, enter],
    [H.LEAVE, leave],
    [H.RET_FAR, retFar],
    [H.INT3, int3],
    [H.INT_N, intN],
    [H.INTO, into],
    [H.IRET, iret],
    [H.XLAT, xlat],
    [H.LOOP, loop],
    [H.IN_PORT, inPort],
    [H.OUT_PORT, outPort],
    [H.INT1, int1],
    [H.HLT, hlt],
    [H.FLAG_OP, flagOp],
    [H.CLI, cli],
    [H.STI, sti],
    [H.GROUP4, group4],
    [H.GROUP6, group6],
    [H.GROUP7, group7],
    [H.SYSCALL, syscall],
    [H.CLTS, clts],
    [H.SYSRET, sysret],
    [H.CACHE_OP, cacheOp],
    [H.MOV_CR, movCr],
    [H.MOV_DR, movDr],
    [H.MSR_ACCESS, msrAccess],
    [H.RDTSC, rdtsc],
    [H.SYSENTER, sysenter],
    [H.SYSEXIT, sysexit],
    [H.CPUID, cpuid],
    [H.BIT_TEST, bitTest],
    [H.DOUBLE_SHIFT, doubleShift],
    [H.CMPXCHG, cmpxchg],
    [H.BIT_SCAN, bitScan],
    [H.XADD, xadd],
    [H.GROUP9, group9],
    [H.BSWAP, bswap],
    [H.MOV_BE, movBe],
    [H.LAR_LSL, larLsl],
    [H.BOUND, bound],
    [H.SSE, sse],
    [H.X87, x87],
    [H.FWAIT, (c) => fwait(c)],
    [H.GROUP15, group15],
    [H.SSE_3BYTE, sse3Byte],
    [H.RDPMC, rdpmc],
  ];
  for (const [id, handler] of entries) table[id] = handler;
  return table;
})();

/**
 * Runs one decoded instruction. The integer instructions every guest runs all the time are a switch of direct
 * calls rather than an indexed call through a table of functions: every call site here has one target, so V8
 * keeps them monomorphic (and inlines the small ones), where a single call site for all handlers would be
 * megamorphic on every instruction. The rest go through {@link OTHER_HANDLERS}' one call site, so that a guest
 * reaching one of them late does not make V8 compile this function again.
 *
 * The case labels are number literals (the comment names the id): V8 compiles a switch over literals into a
 * jump table, but `case H.X:` reads each label from the module's object at run time, one compare after
 * another (measured with `pnpm bench`: 5-20% on every loop). A label that disagreed with `H`/`Fast` would
 * send opcodes to the wrong handler, which the conformance and differential tests catch at once.
 */
export function dispatch(c: Cpu, i: Insn): void {
  let h = i.handler;
  if (h < 0) {
    h = specialize(i);
    if (h < 0) h = OP_HANDLER[i.op];
    i.handler = h;
  }
  switch (h) {
    case 100: // Fast.ALU_RR32
      aluRegReg32(c, i);
      return;
    case 101: // Fast.ALU_RR64
      aluRegReg64(c, i);
      return;
    case 102: // Fast.ALU_RI32
      aluRegImm32(c, i);
      return;
    case 103: // Fast.ALU_RI64
      aluRegImm64(c, i);
      return;
    case 104: // Fast.MOV_RR
      movRegReg(c, i);
      return;
    case 105: // Fast.INC_DEC_R
      incDecReg32or64(c, i);
      return;
    case 106: // Fast.JCC_Z
      jccZero(c, i);
      return;
    case 107: // Fast.MOV_LOAD
      movLoad(c, i);
      return;
    case 108: // Fast.MOV_STORE
      movStore(c, i);
      return;
    case 109: // Fast.SHIFT_R32
      shiftReg32(c, i);
      return;
    case 1: // H.ALU_CLASSIC
      aluClassic(c, i);
      return;
    case 5: // H.INC_DEC_REG
      incDecReg(c, i);
      return;
    case 6: // H.PUSH_REG
      pushReg(c, i);
      return;
    case 7: // H.POP_REG
      popReg(c, i);
      return;
    case 10: // H.ARPL_OR_MOVSXD
      arplOrMovsxd(c, i);
      return;
    case 11: // H.PUSH_IMM
      pushImm(c, i);
      return;
    case 15: // H.JCC
      jcc(c, i);
      return;
    case 16: // H.ALU_GROUP1
      aluGroup1(c, i);
      return;
    case 17: // H.TEST_RM_REG
      testRmReg(c, i);
      return;
    case 19: // H.MOV_RM_REG
      movRmReg(c, i);
      return;
    case 20: // H.MOV_REG_RM
      movRegRm(c, i);
      return;
    case 22: // H.LEA
      lea(c, i);
      return;
    case 29: // H.NOP
      nop(c, i);
      return;
    case 34: // H.STRING_MOVE
      stringMove(c, i);
      return;
    case 36: // H.TEST_ACC_IMM
      testAccImm(c, i);
      return;
    case 37: // H.MOV_REG_IMM
      movRegImm(c, i);
      return;
    case 38: // H.SHIFT_GROUP
      shiftGroup(c, i);
      return;
    case 39: // H.RET_NEAR
      retNear(c, i);
      return;
    case 41: // H.MOV_RM_IMM
      movRmImm(c, i);
      return;
    case 53: // H.CALL_REL
      callRel(c, i);
      return;
    case 54: // H.JMP_REL
      jmpRel(c, i);
      return;
    case 58: // H.GROUP3
      group3(c, i);
      return;
    case 62: // H.GROUP5
      group5(c, i);
      return;
    case 75: // H.CMOV
      cmov(c, i);
      return;
    case 76: // H.SETCC
      setcc(c, i);
      return;
    case 81: // H.MOV_EXTEND
      movExtend(c, i);
      return;
    default:
      OTHER_HANDLERS[h](c, i);
  }
}
