/**
 * The MMX/SSE/x87 opcodes the decoder (decode.ts) must know, by map and by the bytes that follow them
 * (SDM Vol. 2 Appendix A, Tables ): kept beside their handlers, so adding an
 * instruction family touches one list here and its body. Indexes are dispatch indexes: +0x100 for 0F,
 * +0x200 for 0F 38, +0x300 for 0F 3A.
 */

function span(base: number, from: number, to: number): number[] {
  const out: number[] = [];
  for (let b = from; b <= to; b++) out.push(base + b);
  return out;
}

/** Opcodes with a ModRM byte and no immediate. */
export const SIMD_MODRM: readonly number[] = [
  // x87 escapes D8-DF.
  ...span(0, 0xd8, 0xdf),
  // 0F map.
  ...span(0x100, 0x10, 0x17),
  ...span(0x100, 0x28, 0x2f),
  ...span(0x100, 0x50, 0x6f),
  ...span(0x100, 0x74, 0x76),
  ...span(0x100, 0x7c, 0x7f),
  0x1ae,
  0x1b8,
  0x1c3,
  ...span(0x100, 0xd0, 0xfe),
  // 0F 38 map (SSSE3, SSE4.1, SSE4.2).
  ...span(0x200, 0x00, 0x0b),
  0x210,
  0x214,
  0x215,
  0x217,
  ...span(0x200, 0x1c, 0x1e),
  ...span(0x200, 0x20, 0x25),
  ...span(0x200, 0x28, 0x2b),
  ...span(0x200, 0x30, 0x35),
  ...span(0x200, 0x37, 0x41),
  // F2 0F 38 F0/F1 (CRC32) decode to these otherwise unused 0F 3A slots (decode.ts).
  0x3f0,
  0x3f1,
];

/** Opcodes with a ModRM byte and an 8-bit immediate. */
export const SIMD_MODRM_IB: readonly number[] = [
  ...span(0x100, 0x70, 0x73),
  0x1c2,
  0x1c4,
  0x1c5,
  0x1c6,
  // 0F 3A map.
  ...span(0x300, 0x08, 0x0f),
  ...span(0x300, 0x14, 0x17),
  ...span(0x300, 0x20, 0x22),
  ...span(0x300, 0x40, 0x42),
  ...span(0x300, 0x60, 0x63),
];

/** Opcodes without operands: EMMS. */
export const SIMD_PLAIN: readonly number[] = [0x177];

/** The dispatch index F2 0F 38 F0/F1 (CRC32) decode to. */
export const CRC32_OP = 0x3f0;
