/**
 * Packed integer instructions of MMX and SSE2 (SDM Vol. 2; opcodes 0F 60-76 and 0F D1-FE), one body for both
 * widths: `n` is 8 for an MMX register and 16 for an XMM register, `d` and `s` are byte offsets of the
 * destination and source in the XSAVE image (simd/operands.ts). Lane-wise operations work in place (each lane
 * reads both operands before it writes); operations that move lanes build the result in scratch first.
 */
import type { Cpu } from '../cpu.js';
import { Fx } from '../fpu/image.js';

function satS8(v: number): number {
  return v > 127 ? 127 : Math.max(v, -128);
}
function satU8(v: number): number {
  return v > 255 ? 255 : Math.max(v, 0);
}
function satS16(v: number): number {
  return v > 32767 ? 32767 : Math.max(v, -32768);
}
function satU16(v: number): number {
  return v > 65535 ? 65535 : Math.max(v, 0);
}

/** The high 32 bits of the unsigned product of two 32-bit values (exact, no doubles above 2^53). */
export function mulHiU32(a: number, b: number): number {
  const aL = a & 0xffff;
  const aH = a >>> 16;
  const bL = b & 0xffff;
  const bH = b >>> 16;
  const ll = aL * bL;
  const lh = aL * bH;
  const hl = aH * bL;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (aH * bH + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0;
}

/** Copies `n` bytes of scratch TMP to `d`. */
function commitTmp(c: Cpu, d: number, n: number): void {
  const w = c.fxI32;
  const t = Fx.TMP >> 2;
  const k = d >> 2;
  for (let j = 0; j < n >> 2; j++) w[k + j] = w[t + j];
}

/** Interleaves the low (`high` false) or high halves of d and s in lanes of `lane` bytes (PUNPCK*). */
function unpack(c: Cpu, d: number, s: number, n: number, lane: number, high: boolean): void {
  const b = c.fxU8;
  const half = n >> 1;
  const from = high ? half : 0;
  let o = Fx.TMP;
  for (let k = 0; k < half; k += lane) {
    for (let j = 0; j < lane; j++) b[o + j] = b[d + from + k + j];
    for (let j = 0; j < lane; j++) b[o + lane + j] = b[s + from + k + j];
    o += 2 * lane;
  }
  commitTmp(c, d, n);
}

/** The 64-bit shift count of a register or memory source (PSRLW xmm, xmm/m128 and kin). */
function shiftCount(c: Cpu, s: number): number {
  const w = c.fxI32;
  return w[(s >> 2) + 1] !== 0 ? 0xffff : w[s >> 2] >>> 0 > 0xffff ? 0xffff : w[s >> 2];
}

/** Shift kinds of {@link shiftLanes}. */
export const Shift = { SRL: 0, SRA: 1, SLL: 2 } as const;

/** Shifts every `bits`-wide lane of `d` (n bytes) by `count` (PSRLW/D/Q, PSRAW/D, PSLLW/D/Q). */
export function shiftLanes(c: Cpu, d: number, n: number, bits: number, kind: number, count: number): void {
  if (bits === 16) {
    const a = c.fxI16;
    const k0 = d >> 1;
    for (let k = k0; k < k0 + (n >> 1); k++) {
      if (kind === Shift.SRA) a[k] = a[k] >> Math.min(count, 15);
      else if (count > 15) a[k] = 0;
      else a[k] = kind === Shift.SRL ? (a[k] & 0xffff) >>> count : a[k] << count;
    }
  } else if (bits === 32) {
    const a = c.fxI32;
    const k0 = d >> 2;
    for (let k = k0; k < k0 + (n >> 2); k++) {
      if (kind === Shift.SRA) a[k] = a[k] >> Math.min(count, 31);
      else if (count > 31) a[k] = 0;
      else a[k] = kind === Shift.SRL ? a[k] >>> count : a[k] << count;
    }
  } else {
    const a = c.fxI32;
    const k0 = d >> 2;
    for (let k = k0; k < k0 + (n >> 2); k += 2) {
      const lo = a[k];
      const hi = a[k + 1];
      if (count > 63) {
        a[k] = 0;
        a[k + 1] = 0;
      } else if (count === 0) {
        // Unchanged.
      } else if (kind === Shift.SLL) {
        if (count >= 32) {
          a[k + 1] = lo << (count - 32);
          a[k] = 0;
        } else {
          a[k + 1] = (hi << count) | (lo >>> (32 - count));
          a[k] = lo << count;
        }
      } else if (count >= 32) {
        a[k] = hi >>> (count - 32);
        a[k + 1] = 0;
      } else {
        a[k] = (lo >>> count) | (hi << (32 - count));
        a[k + 1] = hi >>> count;
      }
    }
  }
}

/** Shifts the whole 128-bit register by `count` bytes (PSRLDQ, PSLLDQ). */
export function shiftBytes(c: Cpu, d: number, count: number, left: boolean): void {
  const b = c.fxU8;
  const t = Fx.TMP;
  for (let k = 0; k < 16; k++) {
    const from = left ? k - count : k + count;
    b[t + k] = from >= 0 && from < 16 ? b[d + from] : 0;
  }
  commitTmp(c, d, 16);
}

/**
 * Runs packed-integer opcode `op` (the 0F-map byte) on d := d op s over `n` bytes. Returns false when the
 * opcode is not one of them.
 */
export function packedInt(c: Cpu, op: number, d: number, s: number, n: number): boolean {
  const u8 = c.fxU8;
  const i8 = c.fxI8;
  const u16 = c.fxU16;
  const i16 = c.fxI16;
  const i32 = c.fxI32;
  switch (op) {
    case 0x60:
      unpack(c, d, s, n, 1, false);
      return true;
    case 0x61:
      unpack(c, d, s, n, 2, false);
      return true;
    case 0x62:
      unpack(c, d, s, n, 4, false);
      return true;
    case 0x6c:
      unpack(c, d, s, n, 8, false);
      return true;
    case 0x68:
      unpack(c, d, s, n, 1, true);
      return true;
    case 0x69:
      unpack(c, d, s, n, 2, true);
      return true;
    case 0x6a:
      unpack(c, d, s, n, 4, true);
      return true;
    case 0x6d:
      unpack(c, d, s, n, 8, true);
      return true;
    case 0x63: // PACKSSWB
    case 0x67: {
      // PACKUSWB
      const half = n >> 1;
      const sat = op === 0x63 ? satS8 : satU8;
      for (let k = 0; k < half; k++) {
        u8[Fx.TMP + k] = sat(i16[(d >> 1) + k]) & 0xff;
        u8[Fx.TMP + half + k] = sat(i16[(s >> 1) + k]) & 0xff;
      }
      commitTmp(c, d, n);
      return true;
    }
    case 0x6b: {
      // PACKSSDW
      const half = n >> 2;
      for (let k = 0; k < half; k++) {
        i16[(Fx.TMP >> 1) + k] = satS16(i32[(d >> 2) + k]);
        i16[(Fx.TMP >> 1) + half + k] = satS16(i32[(s >> 2) + k]);
      }
      commitTmp(c, d, n);
      return true;
    }
    case 0x64:
      for (let k = 0; k < n; k++) u8[d + k] = i8[d + k] > i8[s + k] ? 0xff : 0;
      return true;
    case 0x65:
      for (let k = 0; k < n >> 1; k++) i16[(d >> 1) + k] = i16[(d >> 1) + k] > i16[(s >> 1) + k] ? -1 : 0;
      return true;
    case 0x66:
      for (let k = 0; k < n >> 2; k++) i32[(d >> 2) + k] = i32[(d >> 2) + k] > i32[(s >> 2) + k] ? -1 : 0;
      return true;
    case 0x74:
      // PCMPEQB four bytes at a time (string functions' inner loop): a byte of d ^ s is zero where equal.
      for (let k = 0; k < n >> 2; k++) {
        const x = i32[(d >> 2) + k] ^ i32[(s >> 2) + k];
        const nonzero = (((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x) & 0x80808080;
        i32[(d >> 2) + k] = ((~nonzero & 0x80808080) >>> 7) * 0xff;
      }
      return true;
    case 0x75:
      for (let k = 0; k < n >> 1; k++)
        u16[(d >> 1) + k] = u16[(d >> 1) + k] === u16[(s >> 1) + k] ? 0xffff : 0;
      return true;
    case 0x76:
      for (let k = 0; k < n >> 2; k++) i32[(d >> 2) + k] = i32[(d >> 2) + k] === i32[(s >> 2) + k] ? -1 : 0;
      return true;
    case 0xd1:
      shiftLanes(c, d, n, 16, Shift.SRL, shiftCount(c, s));
      return true;
    case 0xd2:
      shiftLanes(c, d, n, 32, Shift.SRL, shiftCount(c, s));
      return true;
    case 0xd3:
      shiftLanes(c, d, n, 64, Shift.SRL, shiftCount(c, s));
      return true;
    case 0xe1:
      shiftLanes(c, d, n, 16, Shift.SRA, shiftCount(c, s));
      return true;
    case 0xe2:
      shiftLanes(c, d, n, 32, Shift.SRA, shiftCount(c, s));
      return true;
    case 0xf1:
      shiftLanes(c, d, n, 16, Shift.SLL, shiftCount(c, s));
      return true;
    case 0xf2:
      shiftLanes(c, d, n, 32, Shift.SLL, shiftCount(c, s));
      return true;
    case 0xf3:
      shiftLanes(c, d, n, 64, Shift.SLL, shiftCount(c, s));
      return true;
    case 0xd4: // PADDQ
    case 0xfb: // PSUBQ
      for (let k = d >> 2, j = s >> 2; k < (d + n) >> 2; k += 2, j += 2) {
        const al = i32[k] >>> 0;
        const bl = i32[j] >>> 0;
        if (op === 0xd4) {
          const lo = al + bl;
          i32[k] = lo;
          i32[k + 1] = i32[k + 1] + i32[j + 1] + (lo > 0xffffffff ? 1 : 0);
        } else {
          i32[k] = al - bl;
          i32[k + 1] = i32[k + 1] - i32[j + 1] - (al < bl ? 1 : 0);
        }
      }
      return true;
    case 0xd5:
      for (let k = 0; k < n >> 1; k++) i16[(d >> 1) + k] = Math.imul(i16[(d >> 1) + k], i16[(s >> 1) + k]);
      return true;
    case 0xe5:
      for (let k = 0; k < n >> 1; k++) i16[(d >> 1) + k] = (i16[(d >> 1) + k] * i16[(s >> 1) + k]) >> 16;
      return true;
    case 0xe4:
      for (let k = 0; k < n >> 1; k++) u16[(d >> 1) + k] = (u16[(d >> 1) + k] * u16[(s >> 1) + k]) >>> 16;
      return true;
    case 0xd8:
      for (let k = 0; k < n; k++) u8[d + k] = satU8(u8[d + k] - u8[s + k]);
      return true;
    case 0xd9:
      for (let k = 0; k < n >> 1; k++) u16[(d >> 1) + k] = satU16(u16[(d >> 1) + k] - u16[(s >> 1) + k]);
      return true;
    case 0xdc:
      for (let k = 0; k < n; k++) u8[d + k] = satU8(u8[d + k] + u8[s + k]);
      return true;
    case 0xdd:
      for (let k = 0; k < n >> 1; k++) u16[(d >> 1) + k] = satU16(u16[(d >> 1) + k] + u16[(s >> 1) + k]);
      return true;
    case 0xe8:
      for (let k = 0; k < n; k++) i8[d + k] = satS8(i8[d + k] - i8[s + k]);
      return true;
    case 0xe9:
      for (let k = 0; k < n >> 1; k++) i16[(d >> 1) + k] = satS16(i16[(d >> 1) + k] - i16[(s >> 1) + k]);
      return true;
    case 0xec:
      for (let k = 0; k < n; k++) i8[d + k] = satS8(i8[d + k] + i8[s + k]);
      return true;
    case 0xed:
      for (let k = 0; k < n >> 1; k++) i16[(d >> 1) + k] = satS16(i16[(d >> 1) + k] + i16[(s >> 1) + k]);
      return true;
    case 0xda:
      for (let k = 0; k < n; k++) if (u8[s + k] < u8[d + k]) u8[d + k] = u8[s + k];
      return true;
    case 0xde:
      for (let k = 0; k < n; k++) if (u8[s + k] > u8[d + k]) u8[d + k] = u8[s + k];
      return true;
    case 0xea:
      for (let k = 0; k < n >> 1; k++)
        if (i16[(s >> 1) + k] < i16[(d >> 1) + k]) i16[(d >> 1) + k] = i16[(s >> 1) + k];
      return true;
    case 0xee:
      for (let k = 0; k < n >> 1; k++)
        if (i16[(s >> 1) + k] > i16[(d >> 1) + k]) i16[(d >> 1) + k] = i16[(s >> 1) + k];
      return true;
    case 0xdb:
      for (let k = 0; k < n >> 2; k++) i32[(d >> 2) + k] &= i32[(s >> 2) + k];
      return true;
    case 0xdf:
      for (let k = 0; k < n >> 2; k++) i32[(d >> 2) + k] = ~i32[(d >> 2) + k] & i32[(s >> 2) + k];
      return true;
    case 0xeb:
      for (let k = 0; k < n >> 2; k++) i32[(d >> 2) + k] |= i32[(s >> 2) + k];
      return true;
    case 0xef:
      for (let k = 0; k < n >> 2; k++) i32[(d >> 2) + k] ^= i32[(s >> 2) + k];
      return true;
    case 0xe0:
      for (let k = 0; k < n; k++) u8[d + k] = (u8[d + k] + u8[s + k] + 1) >> 1;
      return true;
    case 0xe3:
      for (let k = 0; k < n >> 1; k++) u16[(d >> 1) + k] = (u16[(d >> 1) + k] + u16[(s >> 1) + k] + 1) >> 1;
      return true;
    case 0xf4: // PMULUDQ
      for (let k = d >> 2, j = s >> 2; k < (d + n) >> 2; k += 2, j += 2) {
        const a = i32[k] >>> 0;
        const b = i32[j] >>> 0;
        i32[k + 1] = mulHiU32(a, b);
        i32[k] = Math.imul(a, b);
      }
      return true;
    case 0xf5: // PMADDWD
      for (let k = 0; k < n >> 2; k++) {
        const w = (d >> 1) + 2 * k;
        const v = (s >> 1) + 2 * k;
        i32[(d >> 2) + k] = (i16[w] * i16[v] + i16[w + 1] * i16[v + 1]) | 0;
      }
      return true;
    case 0xf6: // PSADBW
      for (let q = 0; q < n; q += 8) {
        let sum = 0;
        for (let k = 0; k < 8; k++) sum += Math.abs(u8[d + q + k] - u8[s + q + k]);
        i32[(d + q) >> 2] = sum;
        i32[((d + q) >> 2) + 1] = 0;
      }
      return true;
    case 0xf8:
      for (let k = 0; k < n; k++) u8[d + k] = u8[d + k] - u8[s + k];
      return true;
    case 0xf9:
      for (let k = 0; k < n >> 1; k++) u16[(d >> 1) + k] = u16[(d >> 1) + k] - u16[(s >> 1) + k];
      return true;
    case 0xfa:
      for (let k = 0; k < n >> 2; k++) i32[(d >> 2) + k] = (i32[(d >> 2) + k] - i32[(s >> 2) + k]) | 0;
      return true;
    case 0xfc:
      for (let k = 0; k < n; k++) u8[d + k] = u8[d + k] + u8[s + k];
      return true;
    case 0xfd:
      for (let k = 0; k < n >> 1; k++) u16[(d >> 1) + k] = u16[(d >> 1) + k] + u16[(s >> 1) + k];
      return true;
    case 0xfe:
      for (let k = 0; k < n >> 2; k++) i32[(d >> 2) + k] = (i32[(d >> 2) + k] + i32[(s >> 2) + k]) | 0;
      return true;
    default:
      return false;
  }
}
