/**
 * Small generators of nasm text for the oracle scenarios: descriptors (SDM Vol. 3A 3.4.5), gates (5.8.3, 6.11)
 * and a seeded choice of variations, so scenarios are generated rather than written one by one.
 */

/** Fields of a segment or system descriptor (SDM Vol. 3A Figure 3-8). */
export interface DescriptorFields {
  base?: number;
  limit?: number;
  /** The 4-bit type field; for code/data segments bit 0 is the accessed bit. */
  type: number;
  /** 1 for code/data, 0 for system descriptors. */
  s?: number;
  dpl?: number;
  p?: number;
  db?: number;
  g?: number;
  l?: number;
}

/** The two dwords of a descriptor. */
export function descriptor(f: DescriptorFields): [number, number] {
  const base = f.base ?? 0;
  const limit = f.limit ?? 0xfffff;
  const lo = ((limit & 0xffff) | ((base & 0xffff) << 16)) >>> 0;
  const hi =
    (((base >>> 16) & 0xff) |
      (f.type << 8) |
      ((f.s ?? 1) << 12) |
      ((f.dpl ?? 0) << 13) |
      ((f.p ?? 1) << 15) |
      (limit & 0xf0000) |
      ((f.l ?? 0) << 21) |
      ((f.db ?? 1) << 22) |
      ((f.g ?? 1) << 23) |
      (base & 0xff000000)) >>>
    0;
  return [lo, hi];
}

const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

/** Stores a descriptor at the address expression `at` (e.g. `GDT + 0x78`). */
export function storeDescriptor(at: string, f: DescriptorFields): string {
  const [lo, hi] = descriptor(f);
  return `    mov dword [${at}], ${hex(lo)}\n    mov dword [${at} + 4], ${hex(hi)}`;
}

/**
 * Stores an 8-byte gate (call, interrupt, trap or task gate: SDM Vol. 3A Figures 5-8 and 6-2) at `at`, its
 * offset the nasm expression `offset`. `access` is the byte with P, DPL and the type. EAX is clobbered.
 */
export function storeGate(
  at: string,
  selector: number | string,
  offset: string,
  access: number,
  params = 0,
): string {
  return [
    `    mov eax, ${offset}`,
    `    mov word [${at}], ax`,
    '    shr eax, 16',
    `    mov word [${at} + 6], ax`,
    `    mov word [${at} + 2], ${typeof selector === 'number' ? hex(selector) : selector}`,
    `    mov byte [${at} + 4], ${params}`,
    `    mov byte [${at} + 5], ${hex(access)}`,
  ].join('\n');
}

/** The access byte of a gate: present bit, DPL and type. */
export function gateAccess(type: number, dpl: number, p = 1): number {
  return (p << 7) | (dpl << 5) | type;
}

/** A deterministic generator, so every run generates the same kernels. */
export { seededRandom as seeded } from '../support/seeded-random.js';

/** Every combination of the given axes. */
export function product<const T extends Record<string, readonly unknown[]>>(
  axes: T,
): { [K in keyof T]: T[K][number] }[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(axes)) {
    out = out.flatMap((o) => values.map((v) => ({ ...o, [key]: v })));
  }
  return out as { [K in keyof T]: T[K][number] }[];
}

/** `count` of `items` chosen without repetition by `next`, in their original order (all when fewer). */
export function sample<T>(items: readonly T[], count: number, next: () => number): T[] {
  if (items.length <= count) return [...items];
  const picked = new Set<number>();
  while (picked.size < count) picked.add(Math.floor(next() * items.length));
  return [...picked].sort((a, b) => a - b).map((k) => items[k]);
}

/** `line` with its `index`-th space-separated field replaced by `*`: masks a value in both dumps. */
export function maskField(line: string, index: number): string {
  const fields = line.split(' ');
  fields[index] = '*';
  return fields.join(' ');
}
