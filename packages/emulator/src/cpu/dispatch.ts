/**
 * The dispatch table: one handler per opcode (index = opcode, + 256 for the 0F map), every handler with the
 * same signature, so the run loop makes one indexed call per instruction. Group opcodes pick their operation
 * from ModRM.reg inside their handler. Opcodes without an entry raise #UD.
 */
import { aluClassic, aluGroup1, incDecReg, incDecRm, testAccImm, testNotNeg, testRmReg } from './alu.js';
import { bcd } from './bcd.js';
import { bitScan, bitTest, cmpxchg, group9, xadd } from './bits.js';
import {
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

/** Handlers indexed by dispatch index. */
export const HANDLERS: Handler[] = new Array(768).fill(undefinedOpcode);

function set(ops: number[], h: Handler): void {
  for (const op of ops) HANDLERS[op] = h;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, k) => from + k);
}

for (let base = 0; base < 0x40; base += 8) set(range(base, base + 5), aluClassic);
set([0x06, 0x0e, 0x16, 0x1e, 0x1a0, 0x1a8], pushSeg);
set([0x07, 0x17, 0x1f, 0x1a1, 0x1a9], popSeg);
set([0x27, 0x2f, 0x37, 0x3f, 0xd4, 0xd5], bcd);
set(range(0x40, 0x4f), incDecReg);
set(range(0x50, 0x57), pushReg);
set(range(0x58, 0x5f), popReg);
set([0x60], pusha);
set([0x61], popa);
set([0x63], arplOrMovsxd);
set([0x68, 0x6a], pushImm);
set([0x69, 0x6b, 0x1af], imulReg);
set([0x6c, 0x6d], insPort);
set([0x6e, 0x6f], outsPort);
set(range(0x70, 0x7f), jcc);
set(range(0x80, 0x83), aluGroup1);
set([0x84, 0x85], testRmReg);
set([0x86, 0x87], xchgRmReg);
set([0x88, 0x89], movRmReg);
set([0x8a, 0x8b], movRegRm);
set([0x8c], movFromSeg);
set([0x8d], lea);
set([0x8e], movToSeg);
set([0x8f], popRm);
set(range(0x90, 0x97), xchgAcc);
set([0x98], convertAcc);
set([0x99], convertAccToDx);
set([0x9a, 0xea], farDirect);
set([0x9b], nop);
set([0x9c], pushf);
set([0x9d], popf);
set([0x9e, 0x9f], lahfSahf);
set(range(0xa0, 0xa3), movMoffs);
set([0xa4, 0xa5, 0xaa, 0xab, 0xac, 0xad], stringMove);
set([0xa6, 0xa7, 0xae, 0xaf], stringCompare);
set([0xa8, 0xa9], testAccImm);
set(range(0xb0, 0xbf), movRegImm);
set([0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3], shiftGroup);
set([0xc2, 0xc3], retNear);
set([0xc4, 0xc5, 0x1b2, 0x1b4, 0x1b5], loadFarPointer);
set([0xc6, 0xc7], movRmImm);
set([0xc8], enter);
set([0xc9], leave);
set([0xca, 0xcb], retFar);
set([0xcc], int3);
set([0xcd], intN);
set([0xce], into);
set([0xcf], iret);
set([0xd7], xlat);
set(range(0xe0, 0xe3), loop);
set([0xe4, 0xe5, 0xec, 0xed], inPort);
set([0xe6, 0xe7, 0xee, 0xef], outPort);
set([0xe8], callRel);
set([0xe9, 0xeb], jmpRel);
set([0xf1], int1);
set([0xf4], hlt);
set([0xf5, 0xf8, 0xf9, 0xfc, 0xfd], flagOp);
set([0xf6, 0xf7], group3);
set([0xfa], cli);
set([0xfb], sti);
set([0xfe], group4);
set([0xff], group5);

set([0x100], group6);
set([0x101], group7);
set([0x105], syscall);
set([0x106], clts);
set([0x107], sysret);
set([0x108, 0x109], cacheOp);
set([0x10d, ...range(0x118, 0x11f)], nop);
set([0x120, 0x122], movCr);
set([0x121, 0x123], movDr);
set([0x130, 0x132], msrAccess);
set([0x131], rdtsc);
set([0x134], sysenter);
set([0x135], sysexit);
set(range(0x140, 0x14f), cmov);
set(range(0x180, 0x18f), jcc);
set(range(0x190, 0x19f), setcc);
set([0x1a2], cpuid);
set([0x1a3, 0x1ab, 0x1b3, 0x1bb, 0x1ba], bitTest);
set([0x1a4, 0x1a5, 0x1ac, 0x1ad], doubleShift);
set([0x1b0, 0x1b1], cmpxchg);
set([0x1b6, 0x1b7, 0x1be, 0x1bf], movExtend);
set([0x1bc, 0x1bd], bitScan);
set([0x1c0, 0x1c1], xadd);
set([0x1c7], group9);
set(range(0x1c8, 0x1cf), bswap);
set([0x2f0, 0x2f1], movBe);
HANDLERS[0x1ff] = undefinedOpcode;
HANDLERS[0x10b] = undefinedOpcode;
