/**
 * Builds small ELF32/ELF64 executables in memory for loader tests: each segment's bytes follow the headers,
 * so tests control every field and can break any of them.
 */
export interface SegmentSpec {
  type?: number;
  paddr: number;
  vaddr?: number | bigint;
  bytes: Uint8Array;
  /** Memory size; the file size by default (larger gives a bss). */
  memsz?: number;
}

export interface NoteSpec {
  name: string;
  type: number;
  desc: Uint8Array;
}

export interface ElfSpec {
  bits: 32 | 64;
  entry: number | bigint;
  segments: SegmentSpec[];
  notes?: NoteSpec[];
  machine?: number;
  type?: number;
}

const PT_LOAD = 1;
const PT_NOTE = 4;

function encodeNotes(notes: NoteSpec[]): Uint8Array {
  const parts: number[] = [];
  for (const note of notes) {
    const name = [...new TextEncoder().encode(note.name), 0];
    const header = new DataView(new ArrayBuffer(12));
    header.setUint32(0, name.length, true);
    header.setUint32(4, note.desc.length, true);
    header.setUint32(8, note.type, true);
    parts.push(...new Uint8Array(header.buffer), ...name);
    while (parts.length % 4) parts.push(0);
    parts.push(...note.desc);
    while (parts.length % 4) parts.push(0);
  }
  return Uint8Array.from(parts);
}

export function buildElf(spec: ElfSpec): Uint8Array {
  const is64 = spec.bits === 64;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const notes = spec.notes?.length ? encodeNotes(spec.notes) : null;
  const headers = [...spec.segments.map((s) => ({ ...s, type: s.type ?? PT_LOAD }))];
  if (notes) headers.push({ type: PT_NOTE, paddr: 0, bytes: notes });
  let offset = ehsize + phentsize * headers.length;
  const placed = headers.map((h) => {
    const at = offset;
    offset += h.bytes.length;
    return { ...h, offset: at };
  });
  const image = new Uint8Array(offset);
  const view = new DataView(image.buffer);
  image.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, 1, 1], 0);
  view.setUint16(16, spec.type ?? 2, true);
  view.setUint16(18, spec.machine ?? (is64 ? 62 : 3), true);
  view.setUint32(20, 1, true);
  if (is64) {
    view.setBigUint64(24, BigInt(spec.entry), true);
    view.setBigUint64(32, BigInt(ehsize), true);
    view.setUint16(52, ehsize, true);
    view.setUint16(54, phentsize, true);
    view.setUint16(56, placed.length, true);
  } else {
    view.setUint32(24, Number(spec.entry), true);
    view.setUint32(28, ehsize, true);
    view.setUint16(40, ehsize, true);
    view.setUint16(42, phentsize, true);
    view.setUint16(44, placed.length, true);
  }
  placed.forEach((h, i) => {
    const at = ehsize + i * phentsize;
    const memsz = h.memsz ?? h.bytes.length;
    if (is64) {
      view.setUint32(at, h.type, true);
      view.setUint32(at + 4, 5, true);
      view.setBigUint64(at + 8, BigInt(h.offset), true);
      view.setBigUint64(at + 16, BigInt(h.vaddr ?? h.paddr), true);
      view.setBigUint64(at + 24, BigInt(h.paddr), true);
      view.setBigUint64(at + 32, BigInt(h.bytes.length), true);
      view.setBigUint64(at + 40, BigInt(memsz), true);
    } else {
      view.setUint32(at, h.type, true);
      view.setUint32(at + 4, h.offset, true);
      view.setUint32(at + 8, Number(h.vaddr ?? h.paddr), true);
      view.setUint32(at + 12, h.paddr, true);
      view.setUint32(at + 16, h.bytes.length, true);
      view.setUint32(at + 20, memsz, true);
    }
    image.set(h.bytes, h.offset);
  });
  return image;
}

/** A multiboot v1 header (magic, flags, checksum, and the a.out kludge fields when given). */
export function multibootHeader(flags: number, kludge?: number[]): Uint8Array {
  const words = [0x1badb002, flags >>> 0, (-(0x1badb002 + flags) >>> 0) & 0xffffffff, ...(kludge ?? [])];
  const bytes = new Uint8Array(words.length * 4);
  const view = new DataView(bytes.buffer);
  words.forEach((w, i) => {
    view.setUint32(i * 4, w >>> 0, true);
  });
  return bytes;
}
