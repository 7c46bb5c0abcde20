/**
 * The benchmark kernels: nasm sources in guests/, assembled at bench time into multiboot ELF32 images (nasm
 * writes the ELF header itself, so no linker is needed). Each image carries its iteration count after the
 * marker `ITERATIONS` (the bench patches it) and how many instructions one iteration runs, so every peer runs
 * the same instruction count, known from the loop's construction.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const GUESTS = join(dirname(fileURLToPath(import.meta.url)), 'guests');
const MARKER = new TextEncoder().encode('ITERATIONS');

/** Why nasm cannot run here, or null when it can. */
export function nasmMissing() {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `nasm not found (${err.code ?? err.message}): install Debian's nasm package`;
  }
}

/**
 * Assembles `guests/<loop>.asm` for `mode` ('32' protected mode, '64' long mode).
 * @returns {{ bytes: Uint8Array, perIteration: number, countOffset: number }}
 */
export function assemble(loop, mode) {
  const dir = mkdtempSync(join(tmpdir(), 'kvm-ts-bench-'));
  try {
    const out = join(dir, `${loop}.${mode}.elf`);
    const args = ['-f', 'bin', '-I', `${GUESTS}/`, '-o', out, join(GUESTS, `${loop}.asm`)];
    if (mode === '64') args.unshift('-DLONG');
    execFileSync('nasm', args, { stdio: 'pipe' });
    const bytes = new Uint8Array(readFileSync(out));
    const at = findMarker(bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { bytes, countOffset: at, perIteration: view.getUint32(at + 4, true) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function findMarker(bytes) {
  outer: for (let k = 0; k + MARKER.length + 8 <= bytes.length; k++) {
    for (let j = 0; j < MARKER.length; j++) if (bytes[k + j] !== MARKER[j]) continue outer;
    return k + MARKER.length;
  }
  throw new Error('benchmark kernel without an ITERATIONS marker');
}

/** A copy of the image that runs `iterations` iterations. */
export function withIterations(guest, iterations) {
  const bytes = guest.bytes.slice();
  new DataView(bytes.buffer).setUint32(guest.countOffset, iterations, true);
  return bytes;
}

/**
 * The PT_LOAD segments of an ELF32 image and its entry point: the part of a multiboot loader these kernels
 * need (System V ABI, ELF header and program headers).
 * @returns {{ entry: number, segments: { paddr: number, data: Uint8Array, memsz: number }[] }}
 */
export function elfSegments(bytes) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, false) !== 0x7f454c46 || bytes[4] !== 1) throw new Error('not an ELF32 image');
  const entry = v.getUint32(24, true);
  const phoff = v.getUint32(28, true);
  const phentsize = v.getUint16(42, true);
  const phnum = v.getUint16(44, true);
  const segments = [];
  for (let k = 0; k < phnum; k++) {
    const ph = phoff + k * phentsize;
    if (v.getUint32(ph, true) !== 1) continue;
    const offset = v.getUint32(ph + 4, true);
    const filesz = v.getUint32(ph + 16, true);
    segments.push({
      paddr: v.getUint32(ph + 12, true),
      data: bytes.subarray(offset, offset + filesz),
      memsz: v.getUint32(ph + 20, true),
    });
  }
  return { entry, segments };
}

/**
 * Puts `sregs` (a `KvmSregs`) in the state a multiboot loader leaves (Multiboot 0.6.96, 3.2): flat 4 GiB code
 * (selector 0x08) and data (0x10) segments, CR0.PE set and paging off. Returns `sregs`.
 */
export function enterMultibootState(sregs) {
  const flat = (selector, type) => ({
    base: 0n,
    limit: 0xffffffff,
    selector,
    type,
    present: 1,
    dpl: 0,
    db: 1,
    s: 1,
    l: 0,
    g: 1,
    avl: 0,
    unusable: 0,
  });
  sregs.cs = flat(0x08, 0xb);
  for (const name of ['ds', 'es', 'fs', 'gs', 'ss']) sregs[name] = flat(0x10, 0x3);
  sregs.cr0 = (sregs.cr0 | 1n) & ~0x80000000n;
  return sregs;
}
