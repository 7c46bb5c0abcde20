import { requireBytes } from './check.js';
import { BootImageError } from './errors.js';

/** ELF identification and header constants (System V gABI, "ELF Header"). */
const ELF_MAGIC = 0x464c457f; // "\x7fELF" read little-endian
const ELFCLASS32 = 1;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const EM_386 = 3;
const EM_X86_64 = 62;

/** Program header types used here. */
export const SegmentType = {
  LOAD: 1,
  NOTE: 4,
} as const;

/** One program header. */
export interface ElfSegment {
  readonly type: number;
  readonly offset: number;
  /** Virtual address: a bigint, as kernels link at 0xffffffff8xxxxxxx. */
  readonly vaddr: bigint;
  readonly paddr: number;
  readonly filesz: number;
  readonly memsz: number;
}

/** One note from a PT_NOTE segment. */
export interface ElfNote {
  readonly name: string;
  readonly type: number;
  readonly desc: Uint8Array;
}

/** An x86 ELF executable's header and program headers, checked against the file's size. */
export interface ElfFile {
  readonly bits: 32 | 64;
  /** e_entry, virtual: a bigint for the same reason as `vaddr`. */
  readonly entry: bigint;
  readonly segments: readonly ElfSegment[];
}

/** Whether `image` starts with the ELF magic. */
export function isElf(image: Uint8Array): boolean {
  return image.length >= 4 && new DataView(image.buffer, image.byteOffset).getUint32(0, true) === ELF_MAGIC;
}

function toNumber(file: string, value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new BootImageError(file, 'unsupported', `${what} 0x${value.toString(16)} is too large`);
  }
  return Number(value);
}

/** Parses and validates an ELF32 (i386) or ELF64 (x86-64) executable. */
export function parseElf(image: Uint8Array, file: string): ElfFile {
  requireBytes(file, image, 52, 'the ELF header');
  if (!isElf(image)) {
    throw new BootImageError(file, 'bad-magic', 'not an ELF file (no \\x7fELF magic)');
  }
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const elfClass = image[4];
  if (elfClass !== ELFCLASS32 && elfClass !== ELFCLASS64) {
    throw new BootImageError(file, 'unsupported', `unsupported ELF class ${elfClass}`);
  }
  if (image[5] !== ELFDATA2LSB) {
    throw new BootImageError(file, 'unsupported', 'big-endian ELF files are not x86 executables');
  }
  const bits = elfClass === ELFCLASS64 ? 64 : 32;
  if (bits === 64) requireBytes(file, image, 64, 'the ELF64 header');
  const type = view.getUint16(16, true);
  const machine = view.getUint16(18, true);
  if (type !== ET_EXEC) {
    throw new BootImageError(file, 'unsupported', `ELF type ${type} is not an executable (ET_EXEC)`);
  }
  if (machine !== (bits === 64 ? EM_X86_64 : EM_386)) {
    throw new BootImageError(
      file,
      'unsupported',
      `ELF${bits} machine ${machine} is not ${bits === 64 ? 'x86-64' : 'i386'}`,
    );
  }
  const entry = bits === 64 ? view.getBigUint64(24, true) : BigInt(view.getUint32(24, true));
  const phoff =
    bits === 64 ? toNumber(file, view.getBigUint64(32, true), 'e_phoff') : view.getUint32(28, true);
  const phentsize = view.getUint16(bits === 64 ? 54 : 42, true);
  const phnum = view.getUint16(bits === 64 ? 56 : 44, true);
  if (phnum === 0) {
    throw new BootImageError(file, 'unsupported', 'the ELF file has no program headers');
  }
  if (phentsize < (bits === 64 ? 56 : 32)) {
    throw new BootImageError(file, 'unsupported', `program header size ${phentsize} is too small`);
  }
  requireBytes(file, image, phoff + phnum * phentsize, 'the program header table');
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const segment: ElfSegment =
      bits === 64
        ? {
            type: view.getUint32(at, true),
            offset: toNumber(file, view.getBigUint64(at + 8, true), 'p_offset'),
            vaddr: view.getBigUint64(at + 16, true),
            paddr: toNumber(file, view.getBigUint64(at + 24, true), 'p_paddr'),
            filesz: toNumber(file, view.getBigUint64(at + 32, true), 'p_filesz'),
            memsz: toNumber(file, view.getBigUint64(at + 40, true), 'p_memsz'),
          }
        : {
            type: view.getUint32(at, true),
            offset: view.getUint32(at + 4, true),
            vaddr: BigInt(view.getUint32(at + 8, true)),
            paddr: view.getUint32(at + 12, true),
            filesz: view.getUint32(at + 16, true),
            memsz: view.getUint32(at + 20, true),
          };
    if (segment.type === SegmentType.LOAD || segment.type === SegmentType.NOTE) {
      requireBytes(file, image, segment.offset + segment.filesz, `segment ${i}`);
      if (segment.filesz > segment.memsz) {
        throw new BootImageError(file, 'unsupported', `segment ${i} has more file bytes than memory bytes`);
      }
    }
    segments.push(segment);
  }
  return { bits, entry, segments };
}

/** The notes of every PT_NOTE segment (gABI "Note Section": namesz, descsz, type, name, desc, 4-aligned). */
export function elfNotes(image: Uint8Array, elf: ElfFile, file: string): ElfNote[] {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const notes: ElfNote[] = [];
  for (const segment of elf.segments) {
    if (segment.type !== SegmentType.NOTE) continue;
    let at = segment.offset;
    const end = segment.offset + segment.filesz;
    while (at + 12 <= end) {
      const namesz = view.getUint32(at, true);
      const descsz = view.getUint32(at + 4, true);
      const type = view.getUint32(at + 8, true);
      const nameAt = at + 12;
      const descAt = nameAt + ((namesz + 3) & ~3);
      const next = descAt + ((descsz + 3) & ~3);
      if (descAt + descsz > end) {
        throw new BootImageError(file, 'truncated', 'truncated ELF note');
      }
      const name = new TextDecoder().decode(image.subarray(nameAt, nameAt + Math.max(0, namesz - 1)));
      notes.push({ name, type, desc: image.subarray(descAt, descAt + descsz) });
      at = next;
    }
  }
  return notes;
}
