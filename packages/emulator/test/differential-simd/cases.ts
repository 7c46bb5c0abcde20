/**
 * Generated MMX, SSE..SSE4.2 and x87 snippets for the differential tests against the host CPU. Each snippet
 * loads its vector or x87 operands from the data buffer (RBX = DATA_ADDR), runs one instruction form
 * (register, memory, RIP-relative or absolute, REX-extended registers, every mandatory prefix the family has),
 * and stores the results and MXCSR (or the whole x87 state with FNSAVE) back into the buffer, which the test
 * compares byte for byte with the registers and flags. MXCSR masks every exception (an unmasked one would
 * kill the native runner); its rounding mode, DAZ and FZ are random. Deterministic for a seed.
 */
import type { DiffCase } from '../differential/cases.js';
import { CODE_ADDR, DATA_ADDR, DATA_SIZE } from '../differential/cases.js';
import { seededRandom as rng } from '../support/seeded-random.js';

export { CODE_ADDR, DATA_ADDR, DATA_SIZE };

const CF = 0x1;
const PF = 0x4;
const AF = 0x10;
const ZF = 0x40;
const SF = 0x80;
const OF = 0x800;
const ALL = CF | PF | AF | ZF | SF | OF;

/** What the operand lanes hold, so special values reach each family. */
type Lanes = 'int' | 'f32' | 'f64' | 'str';

/** One instruction of the generic xmm/mm, xmm/mm-or-memory shape. */
interface VecSpec {
  name: string;
  /** Prefix (0 none) and opcode bytes after 0F. */
  pfx: number;
  op: number[];
  imm?: boolean;
  lanes: Lanes;
  /** MMX registers instead of XMM. */
  mmx?: boolean;
  /** Only the memory form exists (LDDQU): register forms are #UD. */
  memOnly?: boolean;
  /** Explicit string lengths in EAX/EDX (PCMPESTRx): small values, sometimes negative or large. */
  lengths?: boolean;
  /** The flags this instruction defines (others unchanged: compared too). */
  flags?: number;
}

const P66 = 0x66;
const F2 = 0xf2;
const F3 = 0xf3;

function v(name: string, pfx: number, op: number[], lanes: Lanes, extra: Partial<VecSpec> = {}): VecSpec {
  return { name, pfx, op, lanes, ...extra };
}

/** Packed-integer opcodes with MMX and SSE2 forms (0F map). */
const PACKED_INT: [string, number][] = [
  ['punpcklbw', 0x60],
  ['punpcklwd', 0x61],
  ['punpckldq', 0x62],
  ['packsswb', 0x63],
  ['pcmpgtb', 0x64],
  ['pcmpgtw', 0x65],
  ['pcmpgtd', 0x66],
  ['packuswb', 0x67],
  ['punpckhbw', 0x68],
  ['punpckhwd', 0x69],
  ['punpckhdq', 0x6a],
  ['packssdw', 0x6b],
  ['pcmpeqb', 0x74],
  ['pcmpeqw', 0x75],
  ['pcmpeqd', 0x76],
  ['psrlw', 0xd1],
  ['psrld', 0xd2],
  ['psrlq', 0xd3],
  ['paddq', 0xd4],
  ['pmullw', 0xd5],
  ['psubusb', 0xd8],
  ['psubusw', 0xd9],
  ['pminub', 0xda],
  ['pand', 0xdb],
  ['paddusb', 0xdc],
  ['paddusw', 0xdd],
  ['pmaxub', 0xde],
  ['pandn', 0xdf],
  ['pavgb', 0xe0],
  ['psraw', 0xe1],
  ['psrad', 0xe2],
  ['pavgw', 0xe3],
  ['pmulhuw', 0xe4],
  ['pmulhw', 0xe5],
  ['psubsb', 0xe8],
  ['psubsw', 0xe9],
  ['pminsw', 0xea],
  ['por', 0xeb],
  ['paddsb', 0xec],
  ['paddsw', 0xed],
  ['pmaxsw', 0xee],
  ['pxor', 0xef],
  ['psllw', 0xf1],
  ['pslld', 0xf2],
  ['psllq', 0xf3],
  ['pmuludq', 0xf4],
  ['pmaddwd', 0xf5],
  ['psadbw', 0xf6],
  ['psubb', 0xf8],
  ['psubw', 0xf9],
  ['psubd', 0xfa],
  ['psubq', 0xfb],
  ['paddb', 0xfc],
  ['paddw', 0xfd],
  ['paddd', 0xfe],
];

/** Floating-point arithmetic 0F 51-5F in its four prefixes. */
const FLOAT_ARITH: [string, number][] = [
  ['sqrt', 0x51],
  ['add', 0x58],
  ['mul', 0x59],
  ['sub', 0x5c],
  ['min', 0x5d],
  ['div', 0x5e],
  ['max', 0x5f],
];

/** The vector specs of every family. */
export function vectorSpecs(): VecSpec[] {
  const s: VecSpec[] = [];
  for (const [name, op] of PACKED_INT) {
    s.push(v(name, P66, [op], 'int'));
    s.push(v(`${name} (mmx)`, 0, [op], 'int', { mmx: true }));
  }
  s.push(v('punpcklqdq', P66, [0x6c], 'int'), v('punpckhqdq', P66, [0x6d], 'int'));
  for (const [name, op] of FLOAT_ARITH) {
    s.push(v(`${name}ps`, 0, [op], 'f32'), v(`${name}pd`, P66, [op], 'f64'));
    s.push(v(`${name}ss`, F3, [op], 'f32'), v(`${name}sd`, F2, [op], 'f64'));
  }
  s.push(
    v('andps', 0, [0x54], 'f32'),
    v('andpd', P66, [0x54], 'f64'),
    v('andnps', 0, [0x55], 'f32'),
    v('orpd', P66, [0x56], 'f64'),
    v('xorps', 0, [0x57], 'f32'),
    v('unpcklps', 0, [0x14], 'f32'),
    v('unpckhps', 0, [0x15], 'f32'),
    v('unpcklpd', P66, [0x14], 'f64'),
    v('unpckhpd', P66, [0x15], 'f64'),
    v('shufps', 0, [0xc6], 'f32', { imm: true }),
    v('shufpd', P66, [0xc6], 'f64', { imm: true }),
    v('cmpps', 0, [0xc2], 'f32', { imm: true }),
    v('cmppd', P66, [0xc2], 'f64', { imm: true }),
    v('cmpss', F3, [0xc2], 'f32', { imm: true }),
    v('cmpsd', F2, [0xc2], 'f64', { imm: true }),
    v('ucomiss', 0, [0x2e], 'f32', { flags: ALL }),
    v('comiss', 0, [0x2f], 'f32', { flags: ALL }),
    v('ucomisd', P66, [0x2e], 'f64', { flags: ALL }),
    v('comisd', P66, [0x2f], 'f64', { flags: ALL }),
    v('cvtps2pd', 0, [0x5a], 'f32'),
    v('cvtpd2ps', P66, [0x5a], 'f64'),
    v('cvtss2sd', F3, [0x5a], 'f32'),
    v('cvtsd2ss', F2, [0x5a], 'f64'),
    v('cvtdq2ps', 0, [0x5b], 'int'),
    v('cvtps2dq', P66, [0x5b], 'f32'),
    v('cvttps2dq', F3, [0x5b], 'f32'),
    v('cvttpd2dq', P66, [0xe6], 'f64'),
    v('cvtdq2pd', F3, [0xe6], 'int'),
    v('cvtpd2dq', F2, [0xe6], 'f64'),
    v('movaps', 0, [0x28], 'int'),
    v('movapd', P66, [0x28], 'int'),
    v('movups', 0, [0x10], 'int'),
    v('movss', F3, [0x10], 'f32'),
    v('movsd', F2, [0x10], 'f64'),
    v('movdqa', P66, [0x6f], 'int'),
    v('movdqu', F3, [0x6f], 'int'),
    v('movq xmm', F3, [0x7e], 'int'),
    v('lddqu', F2, [0xf0], 'int', { memOnly: true }),
    v('movsldup', F3, [0x12], 'f32'),
    v('movshdup', F3, [0x16], 'f32'),
    v('movddup', F2, [0x12], 'f64'),
    v('movhlps/movlps', 0, [0x12], 'int'),
    v('movlhps/movhps', 0, [0x16], 'int'),
    v('pshufd', P66, [0x70], 'int', { imm: true }),
    v('pshufhw', F3, [0x70], 'int', { imm: true }),
    v('pshuflw', F2, [0x70], 'int', { imm: true }),
    v('pshufw', 0, [0x70], 'int', { imm: true, mmx: true }),
    v('movq mm', 0, [0x6f], 'int', { mmx: true }),
    v('haddps', F2, [0x7c], 'f32'),
    v('hsubps', F2, [0x7d], 'f32'),
    v('haddpd', P66, [0x7c], 'f64'),
    v('hsubpd', P66, [0x7d], 'f64'),
    v('addsubps', F2, [0xd0], 'f32'),
    v('addsubpd', P66, [0xd0], 'f64'),
  );
  // SSSE3: MMX and XMM forms.
  const ssse3: [string, number][] = [
    ['pshufb', 0x00],
    ['phaddw', 0x01],
    ['phaddd', 0x02],
    ['phaddsw', 0x03],
    ['pmaddubsw', 0x04],
    ['phsubw', 0x05],
    ['phsubd', 0x06],
    ['phsubsw', 0x07],
    ['psignb', 0x08],
    ['psignw', 0x09],
    ['psignd', 0x0a],
    ['pmulhrsw', 0x0b],
    ['pabsb', 0x1c],
    ['pabsw', 0x1d],
    ['pabsd', 0x1e],
  ];
  for (const [name, op] of ssse3) {
    s.push(v(name, P66, [0x38, op], 'int'), v(`${name} (mmx)`, 0, [0x38, op], 'int', { mmx: true }));
  }
  s.push(
    v('palignr', P66, [0x3a, 0x0f], 'int', { imm: true }),
    v('palignr (mmx)', 0, [0x3a, 0x0f], 'int', { imm: true, mmx: true }),
  );
  // SSE4.1 and SSE4.2 (66 only).
  const sse41: [string, number, Lanes][] = [
    ['pblendvb', 0x10, 'int'],
    ['blendvps', 0x14, 'f32'],
    ['blendvpd', 0x15, 'f64'],
    ['pmovsxbw', 0x20, 'int'],
    ['pmovsxbd', 0x21, 'int'],
    ['pmovsxbq', 0x22, 'int'],
    ['pmovsxwd', 0x23, 'int'],
    ['pmovsxwq', 0x24, 'int'],
    ['pmovsxdq', 0x25, 'int'],
    ['pmuldq', 0x28, 'int'],
    ['pcmpeqq', 0x29, 'int'],
    ['packusdw', 0x2b, 'int'],
    ['pmovzxbw', 0x30, 'int'],
    ['pmovzxbd', 0x31, 'int'],
    ['pmovzxbq', 0x32, 'int'],
    ['pmovzxwd', 0x33, 'int'],
    ['pmovzxwq', 0x34, 'int'],
    ['pmovzxdq', 0x35, 'int'],
    ['pcmpgtq', 0x37, 'int'],
    ['pminsb', 0x38, 'int'],
    ['pminsd', 0x39, 'int'],
    ['pminuw', 0x3a, 'int'],
    ['pminud', 0x3b, 'int'],
    ['pmaxsb', 0x3c, 'int'],
    ['pmaxsd', 0x3d, 'int'],
    ['pmaxuw', 0x3e, 'int'],
    ['pmaxud', 0x3f, 'int'],
    ['pmulld', 0x40, 'int'],
    ['phminposuw', 0x41, 'int'],
  ];
  for (const [name, op, lanes] of sse41) s.push(v(name, P66, [0x38, op], lanes));
  s.push(v('ptest', P66, [0x38, 0x17], 'int', { flags: ALL }));
  const sse41imm: [string, number, Lanes][] = [
    ['roundps', 0x08, 'f32'],
    ['roundpd', 0x09, 'f64'],
    ['roundss', 0x0a, 'f32'],
    ['roundsd', 0x0b, 'f64'],
    ['blendps', 0x0c, 'f32'],
    ['blendpd', 0x0d, 'f64'],
    ['pblendw', 0x0e, 'int'],
    ['insertps', 0x21, 'f32'],
    ['dpps', 0x40, 'f32'],
    ['dppd', 0x41, 'f64'],
    ['mpsadbw', 0x42, 'int'],
  ];
  for (const [name, op, lanes] of sse41imm) s.push(v(name, P66, [0x3a, op], lanes, { imm: true }));
  for (const [name, op] of [
    ['pcmpestrm', 0x60],
    ['pcmpestri', 0x61],
    ['pcmpistrm', 0x62],
    ['pcmpistri', 0x63],
  ] as const) {
    s.push(v(name, P66, [0x3a, op], 'str', { imm: true, flags: ALL, lengths: true }));
  }
  return s;
}

const FLOAT32_SPECIAL = [
  0, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fa00001,
  0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff, 0xff7fffff, 0x4b000000, 0x4f000000, 0xcf000000, 0x5f000000,
  0x3f000000, 0x3fc00000, 0x40490fdb,
];
const FLOAT64_SPECIAL: [number, number][] = [
  [0, 0],
  [0, 0x80000000],
  [0, 0x3ff00000],
  [0, 0xbff00000],
  [0, 0x7ff00000],
  [0, 0xfff00000],
  [0, 0x7ff80000],
  [1, 0x7ff00000],
  [5, 0xfff40000],
  [1, 0],
  [0xffffffff, 0x800fffff],
  [0, 0x00100000],
  [0xffffffff, 0x7fefffff],
  [0, 0x41e00000],
  [0, 0xc1e00000],
  [0, 0x43e00000],
  [0, 0x3fe00000],
  [0, 0x3ff80000],
  [0x54442d18, 0x400921fb],
];

function fillLanes(rand: () => number, lanes: Lanes, out: Uint8Array, at: number): void {
  const view = new DataView(out.buffer);
  if (lanes === 'int' || lanes === 'str') {
    for (let k = 0; k < 16; k++) {
      const r = rand();
      out[at + k] = r < 0.2 ? 0 : r < 0.3 ? 0xff : r < 0.4 ? 0x80 : r < 0.5 ? 0x7f : (rand() * 256) | 0;
    }
    if (lanes === 'str')
      for (let k = 0; k < 16; k++) out[at + k] = rand() < 0.15 ? 0 : 0x61 + ((rand() * 6) | 0);
    return;
  }
  if (lanes === 'f32') {
    for (let k = 0; k < 4; k++) {
      const r = rand();
      let bits: number;
      if (r < 0.4) bits = FLOAT32_SPECIAL[(rand() * FLOAT32_SPECIAL.length) | 0];
      else {
        const f = new Float32Array([(rand() - 0.5) * 2 ** ((rand() * 40 - 20) | 0)]);
        bits = new Uint32Array(f.buffer)[0];
      }
      view.setUint32(at + 4 * k, bits >>> 0, true);
    }
    return;
  }
  for (let k = 0; k < 2; k++) {
    const r = rand();
    if (r < 0.4) {
      const [lo, hi] = FLOAT64_SPECIAL[(rand() * FLOAT64_SPECIAL.length) | 0];
      view.setUint32(at + 8 * k, lo >>> 0, true);
      view.setUint32(at + 8 * k + 4, hi >>> 0, true);
    } else view.setFloat64(at + 8 * k, (rand() - 0.5) * 2 ** ((rand() * 80 - 40) | 0), true);
  }
}

// Fixed snippet parts (RBX = DATA_ADDR): operands at +0x00 (dst), +0x10 (src), memory operand at +0x40,
// results at +0x80 (dst) and +0x90 (src), MXCSR after at +0xF0, default MXCSR at +0xF4, test MXCSR at +0xF8.
const LDMXCSR = [0x0f, 0xae, 0x93, 0xf8, 0, 0, 0];
const STMXCSR = [0x0f, 0xae, 0x9b, 0xf0, 0, 0, 0];
const RESTORE = [0x0f, 0xae, 0x93, 0xf4, 0, 0, 0];

function xmmLoad(reg: number, disp: number): number[] {
  const rex = reg >= 8 ? [0x44] : [];
  return [0xf3, ...rex, 0x0f, 0x6f, 0x83 | ((reg & 7) << 3), disp, 0, 0, 0];
}
function xmmStore(reg: number, disp: number): number[] {
  const rex = reg >= 8 ? [0x44] : [];
  return [0xf3, ...rex, 0x0f, 0x7f, 0x83 | ((reg & 7) << 3), disp, 0, 0, 0];
}
function mmLoad(reg: number, disp: number): number[] {
  return [0x0f, 0x6f, 0x83 | (reg << 3), disp, 0, 0, 0];
}
function mmStore(reg: number, disp: number): number[] {
  return [0x0f, 0x7f, 0x83 | (reg << 3), disp, 0, 0, 0];
}

function randomRegs(rand: () => number): bigint[] {
  const regs: bigint[] = [];
  for (let n = 0; n < 16; n++) {
    const hi = BigInt((rand() * 2 ** 32) >>> 0);
    const lo = BigInt((rand() * 2 ** 32) >>> 0);
    regs.push((hi << 32n) | lo);
  }
  regs[3] = BigInt(DATA_ADDR);
  regs[4] = 0x8000n;
  return regs;
}

function flagsIn(rand: () => number): number {
  return (((rand() * 0x10000) | 0) & (CF | PF | AF | ZF | SF | OF)) | 0x2;
}

/** The memory-operand forms a vector instruction is tried in. */
const FORMS = ['reg', 'rex', 'mem', 'riprel'] as const;

function testMxcsr(rand: () => number): number {
  // All exceptions masked; random rounding control, sometimes DAZ and FZ.
  let m = 0x1f80 | (((rand() * 4) | 0) << 13);
  if (rand() < 0.15) m |= 0x40;
  if (rand() < 0.15) m |= 0x8000;
  return rand() < 0.5 ? 0x1f80 : m;
}

function vectorCase(
  spec: VecSpec,
  form: (typeof FORMS)[number],
  rand: () => number,
  mode: 32 | 64,
): DiffCase | null {
  if (mode === 32 && form === 'rex') return null;
  if (spec.mmx && form === 'rex') return null;
  if (spec.memOnly && (form === 'reg' || form === 'rex')) return null;
  const data = new Uint8Array(DATA_SIZE);
  fillLanes(rand, spec.lanes, data, 0);
  fillLanes(rand, spec.lanes, data, 0x10);
  fillLanes(rand, spec.lanes, data, 0x40);
  fillLanes(rand, spec.lanes, data, 0x20);
  const view = new DataView(data.buffer);
  view.setUint32(0xf4, 0x1f80, true);
  view.setUint32(0xf8, testMxcsr(rand), true);
  const dst = form === 'rex' ? 8 : 0;
  const src = form === 'rex' ? 9 : 1;
  const code: number[] = [...LDMXCSR];
  if (spec.mmx) code.push(...mmLoad(0, 0), ...mmLoad(1, 0x10));
  else {
    // XMM0 is an implicit operand of some (BLENDV, PBLENDVB) and a result of others (PCMPxSTRM).
    if (dst !== 0) code.push(...xmmLoad(0, 0x20));
    code.push(...xmmLoad(dst, 0), ...xmmLoad(src, 0x10));
  }
  const prefix = spec.pfx ? [spec.pfx] : [];
  const rex = form === 'rex' ? [0x45] : [];
  const imm = spec.imm ? [(rand() * 256) | 0] : [];
  const opBytes = [0x0f, ...spec.op];
  if (form === 'reg' || form === 'rex')
    code.push(...prefix, ...rex, ...opBytes, 0xc0 | ((dst & 7) << 3) | (src & 7), ...imm);
  else if (form === 'mem') code.push(...prefix, ...opBytes, 0x43, 0x40, ...imm);
  else {
    // RIP-relative in 64-bit mode, an absolute disp32 in 32-bit mode: both address DATA_ADDR + 0x40.
    const end = code.length + prefix.length + opBytes.length + 1 + 4 + imm.length;
    const target = DATA_ADDR + 0x40;
    const disp = mode === 64 ? target - (CODE_ADDR + end) : target;
    code.push(
      ...prefix,
      ...opBytes,
      0x05,
      disp & 0xff,
      (disp >> 8) & 0xff,
      (disp >> 16) & 0xff,
      (disp >>> 24) & 0xff,
      ...imm,
    );
  }
  if (spec.mmx) code.push(...mmStore(0, 0x80), ...mmStore(1, 0x90), 0x0f, 0x77);
  else code.push(...xmmStore(dst, 0x80), ...xmmStore(src, 0x90), ...xmmStore(0, 0xa0));
  code.push(...STMXCSR, ...RESTORE);
  const regs = randomRegs(rand);
  if (spec.lengths) {
    const len = () =>
      BigInt.asUintN(64, BigInt(rand() < 0.8 ? ((rand() * 40) | 0) - 20 : (rand() * 2 ** 31) | 0));
    regs[0] = len();
    regs[2] = len();
  }
  return {
    name: `${spec.name} ${form}`,
    code: new Uint8Array(code),
    regs,
    flags: flagsIn(rand),
    data,
    flagMask: ALL,
    mode,
  };
}

/** Instructions with a general-purpose register side, as whole snippets (operands from the buffer). */
function gprCases(rand: () => number, mode: 32 | 64): DiffCase[] {
  const list: [string, number[], Lanes, number?][] = [
    ['pmovmskb eax, xmm1', [0x66, 0x0f, 0xd7, 0xc1], 'int'],
    ['pmovmskb eax, mm1', [0x0f, 0xd7, 0xc1], 'int'],
    ['movmskps eax, xmm1', [0x0f, 0x50, 0xc1], 'f32'],
    ['movmskpd eax, xmm1', [0x66, 0x0f, 0x50, 0xc1], 'f64'],
    ['movd eax, xmm1', [0x66, 0x0f, 0x7e, 0xc8], 'int'],
    ['movd xmm0, ecx', [0x66, 0x0f, 0x6e, 0xc1], 'int'],
    ['movd [rbx+0x40], xmm1', [0x66, 0x0f, 0x7e, 0x4b, 0x40], 'int'],
    ['movd xmm0, [rbx+0x40]', [0x66, 0x0f, 0x6e, 0x43, 0x40], 'int'],
    ['movd mm0, ecx', [0x0f, 0x6e, 0xc1], 'int'],
    ['pextrw eax, xmm1, 5', [0x66, 0x0f, 0xc5, 0xc1, 0x05], 'int'],
    ['pinsrw xmm0, ecx, 3', [0x66, 0x0f, 0xc4, 0xc1, 0x03], 'int'],
    ['pinsrw xmm0, [rbx+0x40], 6', [0x66, 0x0f, 0xc4, 0x43, 0x40, 0x06], 'int'],
    ['cvtsi2sd xmm0, ecx', [0xf2, 0x0f, 0x2a, 0xc1], 'f64'],
    ['cvtsi2ss xmm0, ecx', [0xf3, 0x0f, 0x2a, 0xc1], 'f32'],
    ['cvttsd2si eax, xmm1', [0xf2, 0x0f, 0x2c, 0xc1], 'f64'],
    ['cvtsd2si eax, xmm1', [0xf2, 0x0f, 0x2d, 0xc1], 'f64'],
    ['cvttss2si eax, xmm1', [0xf3, 0x0f, 0x2c, 0xc1], 'f32'],
    ['cvtss2si eax, [rbx+0x40]', [0xf3, 0x0f, 0x2d, 0x43, 0x40], 'f32'],
    ['cvtpi2ps xmm0, mm1', [0x0f, 0x2a, 0xc1], 'int'],
    ['cvtpi2pd xmm0, [rbx+0x40]', [0x66, 0x0f, 0x2a, 0x43, 0x40], 'int'],
    ['cvttps2pi mm0, xmm1', [0x0f, 0x2c, 0xc1], 'f32'],
    ['cvtpd2pi mm0, xmm1', [0x66, 0x0f, 0x2d, 0xc1], 'f64'],
    ['movq2dq xmm0, mm1', [0xf3, 0x0f, 0xd6, 0xc1], 'int'],
    ['movdq2q mm0, xmm1', [0xf2, 0x0f, 0xd6, 0xc1], 'int'],
    ['movq xmm1, xmm0 (66 D6)', [0x66, 0x0f, 0xd6, 0xc1], 'int'],
    ['movq [rbx+0x40], xmm0', [0x66, 0x0f, 0xd6, 0x43, 0x40], 'int'],
    ['movhps [rbx+0x40], xmm1', [0x0f, 0x17, 0x4b, 0x40], 'int'],
    ['movlpd [rbx+0x40], xmm1', [0x66, 0x0f, 0x13, 0x4b, 0x40], 'int'],
    ['movhpd xmm0, [rbx+0x40]', [0x66, 0x0f, 0x16, 0x43, 0x40], 'int'],
    ['movss [rbx+0x40], xmm1', [0xf3, 0x0f, 0x11, 0x4b, 0x40], 'int'],
    ['movsd xmm1, xmm0 (11)', [0xf2, 0x0f, 0x11, 0xc1], 'int'],
    ['movaps [rbx+0x40], xmm1', [0x0f, 0x29, 0x4b, 0x40], 'int'],
    ['movntdq [rbx+0x40], xmm1', [0x66, 0x0f, 0xe7, 0x4b, 0x40], 'int'],
    ['movntps [rbx+0x40], xmm1', [0x0f, 0x2b, 0x4b, 0x40], 'int'],
    ['movnti [rbx+0x40], ecx', [0x0f, 0xc3, 0x4b, 0x40], 'int'],
    ['movntq [rbx+0x40], mm1', [0x0f, 0xe7, 0x4b, 0x40], 'int'],
    ['movdqu [rbx+0x41], xmm1', [0xf3, 0x0f, 0x7f, 0x4b, 0x41], 'int'],
    ['movdqa [rbx+0x40], xmm1', [0x66, 0x0f, 0x7f, 0x4b, 0x40], 'int'],
    ['psrldq xmm1, imm', [0x66, 0x0f, 0x73, 0xd9, 0x05], 'int'],
    ['pslldq xmm1, imm', [0x66, 0x0f, 0x73, 0xf9, 0x03], 'int'],
    ['psrlw xmm1, imm', [0x66, 0x0f, 0x71, 0xd1, 0x03], 'int'],
    ['psraw xmm1, imm', [0x66, 0x0f, 0x71, 0xe1, 0x0f], 'int'],
    ['psllw mm1, imm', [0x0f, 0x71, 0xf1, 0x05], 'int'],
    ['psrad xmm1, imm', [0x66, 0x0f, 0x72, 0xe1, 0x21], 'int'],
    ['pslld xmm1, imm', [0x66, 0x0f, 0x72, 0xf1, 0x07], 'int'],
    ['psrlq xmm1, imm', [0x66, 0x0f, 0x73, 0xd1, 0x21], 'int'],
    ['psllq mm1, imm', [0x0f, 0x73, 0xf1, 0x3f], 'int'],
    ['rcpps-free: sqrtss xmm1, [rbx+0x40]', [0xf3, 0x0f, 0x51, 0x4b, 0x40], 'f32'],
    ['popcnt eax, ecx', [0xf3, 0x0f, 0xb8, 0xc1], 'int', ALL],
    ['popcnt ax, [rbx+0x40]', [0x66, 0xf3, 0x0f, 0xb8, 0x43, 0x40], 'int', ALL],
    ['maskmovdqu xmm0, xmm1', [0x66, 0x0f, 0xf7, 0xc1], 'int'],
    ['pextrb eax, xmm1, 13', [0x66, 0x0f, 0x3a, 0x14, 0xc8, 0x0d], 'int'],
    ['pextrb [rbx+0x40], xmm1, 3', [0x66, 0x0f, 0x3a, 0x14, 0x4b, 0x40, 0x03], 'int'],
    ['pextrw [rbx+0x40], xmm1, 6', [0x66, 0x0f, 0x3a, 0x15, 0x4b, 0x40, 0x06], 'int'],
    ['pextrd eax, xmm1, 2', [0x66, 0x0f, 0x3a, 0x16, 0xc8, 0x02], 'int'],
    ['extractps eax, xmm1, 3', [0x66, 0x0f, 0x3a, 0x17, 0xc8, 0x03], 'f32'],
    ['extractps [rbx+0x40], xmm1, 1', [0x66, 0x0f, 0x3a, 0x17, 0x4b, 0x40, 0x01], 'f32'],
    ['pinsrb xmm0, ecx, 9', [0x66, 0x0f, 0x3a, 0x20, 0xc1, 0x09], 'int'],
    ['pinsrb xmm0, [rbx+0x40], 15', [0x66, 0x0f, 0x3a, 0x20, 0x43, 0x40, 0x0f], 'int'],
    ['pinsrd xmm0, ecx, 1', [0x66, 0x0f, 0x3a, 0x22, 0xc1, 0x01], 'int'],
    ['movntdqa xmm0, [rbx+0x40]', [0x66, 0x0f, 0x38, 0x2a, 0x43, 0x40], 'int'],
    ['crc32 ecx, al', [0xf2, 0x0f, 0x38, 0xf0, 0xc8], 'int'],
    ['crc32 ecx, ax', [0x66, 0xf2, 0x0f, 0x38, 0xf1, 0xc8], 'int'],
    ['crc32 ecx, eax', [0xf2, 0x0f, 0x38, 0xf1, 0xc8], 'int'],
    ['crc32 ecx, [rbx+0x40]', [0xf2, 0x0f, 0x38, 0xf1, 0x4b, 0x40], 'int'],
    ['crc32 ecx, byte [rbx+0x41]', [0xf2, 0x0f, 0x38, 0xf0, 0x4b, 0x41], 'int'],
  ];
  if (mode === 64) {
    list.push(
      ['movq rax, xmm1', [0x66, 0x48, 0x0f, 0x7e, 0xc8], 'int'],
      ['movq xmm0, rcx', [0x66, 0x48, 0x0f, 0x6e, 0xc1], 'int'],
      ['movq r9, xmm10', [0x66, 0x4d, 0x0f, 0x7e, 0xd1], 'int'],
      ['cvtsi2sd xmm0, rcx', [0xf2, 0x48, 0x0f, 0x2a, 0xc1], 'f64'],
      ['cvtsi2ss xmm0, rcx', [0xf3, 0x48, 0x0f, 0x2a, 0xc1], 'f32'],
      ['cvttsd2si rax, xmm1', [0xf2, 0x48, 0x0f, 0x2c, 0xc1], 'f64'],
      ['cvtsd2si rax, xmm1', [0xf2, 0x48, 0x0f, 0x2d, 0xc1], 'f64'],
      ['cvtss2si rax, xmm1', [0xf3, 0x48, 0x0f, 0x2d, 0xc1], 'f32'],
      ['popcnt rax, rcx', [0xf3, 0x48, 0x0f, 0xb8, 0xc1], 'int', ALL],
      ['pextrq rax, xmm1, 1', [0x66, 0x48, 0x0f, 0x3a, 0x16, 0xc8, 0x01], 'int'],
      ['pextrq [rbx+0x40], xmm1, 0', [0x66, 0x48, 0x0f, 0x3a, 0x16, 0x4b, 0x40, 0x00], 'int'],
      ['pinsrq xmm0, rcx, 1', [0x66, 0x48, 0x0f, 0x3a, 0x22, 0xc1, 0x01], 'int'],
      ['pextrb r9d, xmm10, 7', [0x66, 0x45, 0x0f, 0x3a, 0x14, 0xd1, 0x07], 'int'],
      ['crc32 rcx, rax', [0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xc8], 'int'],
      ['crc32 rcx, byte [rbx+0x40]', [0xf2, 0x48, 0x0f, 0x38, 0xf0, 0x4b, 0x40], 'int'],
      ['crc32 r8d, sil', [0xf2, 0x44, 0x0f, 0x38, 0xf0, 0xc6], 'int'],
    );
  }
  const out: DiffCase[] = [];
  for (const [name, bytes, lanes, flagMask] of list) {
    for (let rep = 0; rep < 3; rep++) {
      const data = new Uint8Array(DATA_SIZE);
      fillLanes(rand, lanes, data, 0);
      fillLanes(rand, lanes, data, 0x10);
      fillLanes(rand, lanes, data, 0x40);
      const view = new DataView(data.buffer);
      view.setUint32(0xf4, 0x1f80, true);
      view.setUint32(0xf8, testMxcsr(rand), true);
      const regs = randomRegs(rand);
      // Some integer sources are small, some special.
      if (rand() < 0.3) regs[1] = BigInt((rand() * 1000) | 0);
      if (rand() < 0.2) regs[1] = 0x8000000000000000n;
      // MASKMOVDQU stores at DS:RDI.
      regs[7] = BigInt(DATA_ADDR + 0x40);
      const code = [
        ...LDMXCSR,
        ...xmmLoad(0, 0),
        ...xmmLoad(1, 0x10),
        ...(mode === 64 ? xmmLoad(10, 0x10) : []),
        ...mmLoad(0, 0),
        ...mmLoad(1, 0x10),
        ...bytes,
        ...xmmStore(0, 0x80),
        ...xmmStore(1, 0x90),
        ...mmStore(0, 0xa0),
        0x0f,
        0x77,
        ...STMXCSR,
        ...RESTORE,
      ];
      out.push({
        name,
        code: new Uint8Array(code),
        regs,
        flags: flagsIn(rand),
        data,
        flagMask: flagMask ?? ALL,
        mode,
      });
    }
  }
  return out;
}

/** Every vector case for `mode`: each spec in each form, `reps` times with fresh operands. */
export function generateSimdCases(seed: number, reps: number, mode: 32 | 64): DiffCase[] {
  const rand = rng(seed);
  const cases: DiffCase[] = [];
  for (const spec of vectorSpecs()) {
    for (const form of FORMS) {
      for (let r = 0; r < reps; r++) {
        const c = vectorCase(spec, form, rand, mode);
        if (c) cases.push(c);
      }
    }
  }
  cases.push(...gprCases(rand, mode));
  return cases;
}
