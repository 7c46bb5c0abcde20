/**
 * `pnpm bench` for @kvm-ts/native: the cost of an IO-exit and of an MMIO-exit round trip through the backend,
 * against the same loops in C (exits.c, compiled here with gcc), run side by side on the host's /dev/kvm.
 * Each side runs ROUNDS times, alternating; the table shows the median time per exit and the ratio.
 *
 * Usage: pnpm --filter @kvm-ts/native bench [exits per round]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backend } from '../src/index.js';

const EXITS = Number(process.argv[2] ?? 200_000);
const ROUNDS = 5;
const CODE_ADDRESS = 0x1000;

/** The guests, byte for byte the same as in exits.c. */
const GUESTS = {
  // out 0x10, al; jmp $-2
  io: { code: [0xe6, 0x10, 0xeb, 0xfc], reason: 'io' },
  // mov ax, 0xd000; mov ds, ax; mov [0], al; jmp $-3   (0xd0000 has no slot: every store is an MMIO exit)
  mmio: { code: [0xb8, 0x00, 0xd0, 0x8e, 0xd8, 0xa2, 0x00, 0x00, 0xeb, 0xfb], reason: 'mmio' },
} as const;

type GuestName = keyof typeof GUESTS;

/** Nanoseconds per exit of `exits` round trips of the guest through the native backend. */
function measureNode(name: GuestName, exits: number): number {
  const kvm = backend.open('bench');
  const vm = kvm.createVm();
  const memory = vm.createMemory(0x10000);
  memory.bytes.set(GUESTS[name].code, CODE_ADDRESS);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: 0x10000n, memory });
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  sregs.cs = { ...sregs.cs, base: 0n, selector: 0 };
  vcpu.setSregs(sregs);
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE_ADDRESS), rflags: 2n });
  const expected = GUESTS[name].reason;
  const start = process.hrtime.bigint();
  for (let i = 0; i < exits; i++) {
    const exit = vcpu.run();
    if (exit.reason !== expected) throw new Error(`unexpected exit ${exit.reason}`);
  }
  const elapsed = Number(process.hrtime.bigint() - start);
  vm.close();
  memory.close();
  kvm.close();
  return elapsed / exits;
}

/** Nanoseconds per exit of the C loop. */
function measureC(binary: string, name: GuestName, exits: number): number {
  const [, count, ns] = execFileSync(binary, [name, String(exits)], { encoding: 'utf8' })
    .trim()
    .split(' ');
  return Number(ns) / Number(count);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function main(): void {
  const probe = backend.probe();
  if (!probe.usable) {
    console.log(`bench skipped: ${probe.reason}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'kvm-ts-bench-'));
  try {
    const binary = join(dir, 'exits');
    const source = fileURLToPath(new URL('./exits.c', import.meta.url));
    try {
      execFileSync('gcc', ['-O2', '-o', binary, source], { stdio: 'inherit' });
    } catch {
      console.log('bench skipped: the C side needs gcc and linux-libc-dev');
      return;
    }
    const kvm = backend.open('bench');
    console.log(`KVM exit round trips on ${kvm.backend.flavour}, ${EXITS} exits x ${ROUNDS} rounds`);
    kvm.close();
    console.log('exit   C (ns/exit)   Node (ns/exit)   Node / C');
    for (const name of Object.keys(GUESTS) as GuestName[]) {
      measureNode(name, Math.min(EXITS, 20_000)); // warm the JIT
      const c: number[] = [];
      const node: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        c.push(measureC(binary, name, EXITS));
        node.push(measureNode(name, EXITS));
      }
      const [cNs, nodeNs] = [median(c), median(node)];
      console.log(
        `${name.padEnd(6)} ${cNs.toFixed(0).padStart(11)}   ${nodeNs.toFixed(0).padStart(14)}   ${(nodeNs / cNs).toFixed(2).padStart(8)}x`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
