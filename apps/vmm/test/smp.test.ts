/**
 * Several vCPUs through the Machine and RunLoop that `kvm-ts run --cpus N` uses: the BSP starts the application
 * processors with INIT and start-up IPIs through its local APIC's ICR (MP spec appendix B), each AP moves to
 * protected mode, reads its APIC id from its local APIC and writes it to a port, and the BSP waits for all of
 * them before it writes the exit port. Run on every backend that opens here; a backend that does not is
 * skipped with its reason printed, and so is everything without nasm.
 */
import { openKvm } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../src/boot/detect.js';
import { Machine } from '../src/machine.js';
import { probeBackend } from './support/backends.js';
import { assemble, hasNasm } from './support/nasm.js';

/** Where the image goes: the BSP's entry, with the APs' real-mode trampoline one page up (SIPI vector 0x11). */
const LOAD_ADDR = 0x10000;
/** The port each CPU writes its APIC id to. */
const ID_PORT = 0x510;

/** The guest for `cpus` processors (see the file comment). */
function smpGuest(cpus: number): Uint8Array {
  return assemble(`bits 32
org ${LOAD_ADDR}
LAPIC equ 0xfee00000
  ; Software-enable the local APIC (spurious-interrupt vector register, bit 8).
  mov eax, [LAPIC + 0xf0]
  or eax, 0x1ff
  mov [LAPIC + 0xf0], eax
  ; INIT, level assert, to all excluding self; then two start-up IPIs at vector 0x11 (0x11000).
  mov dword [LAPIC + 0x300], 0x000c4500
  mov dword [LAPIC + 0x300], 0x000c4611
  mov dword [LAPIC + 0x300], 0x000c4611
.wait:
  pause
  cmp dword [started], ${cpus - 1}
  jb .wait
  mov eax, [LAPIC + 0x20]
  shr eax, 24
  mov dx, ${ID_PORT}
  out dx, al
  mov al, 0x2a
  out 0xf4, al
  hlt

align 4
started: dd 0

times 0x1000 - ($ - $$) db 0
bits 16
ap_start:                       ; CS:IP = 1100:0000 after the SIPI, in real mode
  cli
  mov ax, cs
  mov ds, ax
  lgdt [gdtr - ap_start]
  mov eax, cr0
  or al, 1
  mov cr0, eax
  jmp dword 0x08:ap32
bits 32
ap32:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov eax, [LAPIC + 0x20]
  shr eax, 24
  mov dx, ${ID_PORT}
  out dx, al
  lock inc dword [started]
.halt:
  cli
  hlt
  jmp .halt

align 8
gdt:
  dq 0
  dq 0x00cf9a000000ffff        ; 0x08: flat 32-bit code
  dq 0x00cf92000000ffff        ; 0x10: flat data
gdtr:
  dw gdtr - gdt - 1
  dd gdt
`);
}

/** Runs the guest with `cpus` vCPUs on `backend`; returns the ids written, in order, and the outcome. */
async function runSmp(backend: string, cpus: number) {
  const kvm = await openKvm({ backend });
  const machine = Machine.create(kvm, { memSize: 4 << 20, output: () => {}, cpus });
  try {
    const ids: number[] = [];
    machine.ports.register(ID_PORT, 1, { read: () => 0xff, write: (_, __, value) => ids.push(value) }, 'ids');
    const image = smpGuest(cpus);
    machine.load(
      loadImage(image, {
        file: 'smp guest',
        ramSize: 4 << 20,
        format: 'flat',
        mode: 'protected',
        loadAddr: LOAD_ADDR,
      }),
      'smp guest',
    );
    const result = await machine.run({ timeoutSeconds: 60 });
    return { ids, result };
  } finally {
    machine.close();
    kvm.close();
  }
}

const backends = ['emulator', 'native'];
const probes = await Promise.all(backends.map(async (name) => ({ name, ...(await probeBackend(name)) })));

for (const { name, usable, reason } of probes) {
  const skip = !usable || !hasNasm;
  if (skip) console.log(`skipping the SMP guests on ${name}: ${!hasNasm ? 'nasm is not installed' : reason}`);
  describe.skipIf(skip)(`several vCPUs on the ${name} backend (${reason})`, () => {
    for (const cpus of [2, 4]) {
      it(`starts ${cpus - 1} application processor(s) with INIT and SIPI, each reporting its APIC id`, async () => {
        const { ids, result } = await runSmp(name, cpus);
        expect(result.outcome).toEqual({ kind: 'exit-port', status: (0x2a << 1) | 1 });
        // The APs in any order, then the BSP once they have all counted themselves in.
        expect(ids.slice(0, -1).sort((a, b) => a - b)).toEqual(
          Array.from({ length: cpus - 1 }, (_, i) => i + 1),
        );
        expect(ids.at(-1)).toBe(0);
      }, 60_000);
    }

    it('stops every vCPU promptly when the run ends while the APs wait for a start-up IPI', async () => {
      const kvm = await openKvm({ backend: name });
      const machine = Machine.create(kvm, { memSize: 4 << 20, output: () => {}, cpus: 3 });
      try {
        // The BSP spins and never starts the APs: only the timeout ends the run.
        machine.load(
          loadImage(assemble('bits 32\n  jmp $'), {
            file: 'spin',
            ramSize: 4 << 20,
            format: 'flat',
            mode: 'protected',
          }),
          'spin',
        );
        const started = Date.now();
        const result = await machine.run({ timeoutSeconds: 0.5 });
        expect(result.outcome).toEqual({ kind: 'timeout', seconds: 0.5 });
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        machine.close();
        kvm.close();
      }
    }, 30_000);

    it('refuses more vCPUs than the backend and the MP table allow, naming the limit', async () => {
      const kvm = await openKvm({ backend: name });
      try {
        const max = Machine.maxCpus(kvm);
        expect(max).toBeGreaterThanOrEqual(1);
        expect(() => Machine.create(kvm, { memSize: 4 << 20, output: () => {}, cpus: max + 1 })).toThrow(
          `the number of vCPUs must be from 1 to ${max}`,
        );
        expect(() => Machine.create(kvm, { memSize: 4 << 20, output: () => {}, cpus: 0 })).toThrow(
          RangeError,
        );
      } finally {
        kvm.close();
      }
    });
  });
}
