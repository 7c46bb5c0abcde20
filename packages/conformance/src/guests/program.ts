/**
 * A guest program of the conformance suite: real x86 machine code assembled by nasm from
 * `guests/<name>.asm` (see `scripts/build-guests.mjs`), with the addresses of its labels and equates.
 */
export interface GuestProgram {
  /** The source file's name without `.asm`. */
  readonly name: string;
  /** Path of the source within the package. */
  readonly source: string;
  /** Guest physical address the code is assembled for (`org`) and where it starts. */
  readonly loadAddress: number;
  /** sha256 of `bytes`, hex. */
  readonly sha256: string;
  /** The machine code. */
  readonly bytes: Uint8Array;
  /** Labels (guest physical addresses) and equates from nasm's map file. */
  readonly symbols: Readonly<Record<string, number>>;
}

/** Builds a {@link GuestProgram} from the generated description (bytes as hex). */
export function guestProgram(description: Omit<GuestProgram, 'bytes'> & { hex: string }): GuestProgram {
  const { hex, ...rest } = description;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return { ...rest, bytes };
}

/** A symbol of `program`, or an error naming what is missing (a guest and its test went out of step). */
export function symbol(program: GuestProgram, name: string): number {
  const value = program.symbols[name];
  if (value === undefined) throw new Error(`guest ${program.name} has no symbol '${name}'`);
  return value;
}
