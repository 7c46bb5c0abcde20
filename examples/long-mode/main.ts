// A 64-bit guest built step by step: identity-mapped page tables, a GDT, the control registers and EFER, and
// segment caches loaded through KVM_SET_SREGS, so the vCPU starts directly in 64-bit mode without any real-mode
// boot code. Section numbers refer to the Intel SDM, Vol. 3A (order no. 253668).
// Run: npx tsx examples/long-mode/main.ts [auto|native|emulator]
import { IoDirection, type KvmSegment, openKvm } from '@kvm-ts/core';

/** Where everything lives in the guest's physical memory (one 2 MiB slot at address 0). */
const GUEST_SIZE = 0x20_0000;
const GDT_ADDR = 0x0500;
const PML4_ADDR = 0x1000;
const PDPT_ADDR = 0x2000;
const PD_ADDR = 0x3000;
const CODE_ADDR = 0x8000;
const STACK_TOP = 0x8_0000;

const MESSAGE = 'Hello from 64-bit long mode\n';
// biome-ignore format: one instruction a line, its disassembly beside it
const code = new Uint8Array([
  0x48, 0x8d, 0x35, 0x16, 0x00, 0x00, 0x00, //             lea rsi, [rel message]  ; RIP-relative: 64-bit only
  0xb9, MESSAGE.length, 0x00, 0x00, 0x00, //               mov ecx, MESSAGE.length
  0x66, 0xba, 0xf8, 0x03, //                               mov dx, 0x3f8
  0xf3, 0x6e, //                                           rep outsb               ; IO exits, `count` items each
  0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, // mov rax, 0x0123456789abcdef
  0xf4, //                                                 hlt
  ...new TextEncoder().encode(MESSAGE), //                 message: db "Hello from 64-bit long mode", 10
]);

// Page-table entry bits (4.5, Tables 4-15, 4-17 and 4-18).
const PTE_PRESENT = 1n << 0n;
const PTE_WRITABLE = 1n << 1n;
const PDE_PAGE_SIZE = 1n << 7n; // PS in a page-directory entry: the entry maps a 2 MiB page itself

// Control-register bits (2.5) and IA32_EFER bits (2.2.1).
const CR0_PE = 1n << 0n; // protection enable
const CR0_ET = 1n << 4n; // extension type: always 1 on current processors
const CR0_PG = 1n << 31n; // paging
const CR4_PAE = 1n << 5n; // physical address extension: required for IA-32e paging
const EFER_LME = 1n << 8n; // long mode enable
const EFER_LMA = 1n << 10n; // long mode active: the processor sets it when PG is turned on with LME

// Segment descriptor types (3.4.5.1, Table 3-1).
const TYPE_CODE_EXECUTE_READ_ACCESSED = 0xb;
const TYPE_DATA_READ_WRITE_ACCESSED = 0x3;

using kvm = await openKvm({ backend: process.argv[2] });
console.log(`backend: ${kvm.backend.name} (${kvm.backend.flavour})`);
using vm = kvm.createVm();
const memory = vm.createMemory(GUEST_SIZE);
const view = new DataView(memory.bytes.buffer, memory.bytes.byteOffset, memory.bytes.byteLength);
vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(GUEST_SIZE), memory });
memory.bytes.set(code, CODE_ADDR);

// Step 1: 4-level paging (4.5) mapping the first 2 MiB to themselves: PML4[0] -> PDPT, PDPT[0] -> PD, and
// PD[0] a 2 MiB page at physical 0. Linear address = physical address for everything the guest touches.
view.setBigUint64(PML4_ADDR, BigInt(PDPT_ADDR) | PTE_PRESENT | PTE_WRITABLE, true);
view.setBigUint64(PDPT_ADDR, BigInt(PD_ADDR) | PTE_PRESENT | PTE_WRITABLE, true);
view.setBigUint64(PD_ADDR, 0n | PTE_PRESENT | PTE_WRITABLE | PDE_PAGE_SIZE, true);
console.log('step 1: page tables PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> 2 MiB page at 0');

// Step 2: a GDT with a null descriptor, a 64-bit code segment (L=1, D=0: 5.2.1) and a data segment. KVM
// loads segment caches from KVM_SET_SREGS, not from memory, but the guest reloads selectors from this table
// (on an interrupt, IRET or a mov to a segment register), so the two must agree (3.4.3).
const gdt: Array<Omit<KvmSegment, 'base' | 'limit' | 'selector' | 'unusable'> | null> = [
  null,
  { type: TYPE_CODE_EXECUTE_READ_ACCESSED, s: 1, dpl: 0, present: 1, avl: 0, l: 1, db: 0, g: 1 },
  { type: TYPE_DATA_READ_WRITE_ACCESSED, s: 1, dpl: 0, present: 1, avl: 0, l: 0, db: 1, g: 1 },
];
for (const [i, d] of gdt.entries()) {
  view.setBigUint64(GDT_ADDR + 8 * i, d ? segmentDescriptor(d, 0, 0xfffff) : 0n, true);
}
console.log(`step 2: GDT at 0x${GDT_ADDR.toString(16)}: null, code 0x08 (L=1), data 0x10`);

function segmentDescriptor(d: NonNullable<(typeof gdt)[number]>, base: number, limit: number): bigint {
  // The 8-byte layout of Figure 3-8: limit 15:0, base 23:0, type/S/DPL/P, limit 19:16, AVL/L/D/G, base 31:24.
  const low = (limit & 0xffff) | ((base & 0xffff) << 16);
  const access = d.type | (d.s << 4) | (d.dpl << 5) | (d.present << 7);
  const flags = d.avl | (d.l << 1) | (d.db << 2) | (d.g << 3);
  const high =
    ((base >>> 16) & 0xff) |
    (access << 8) |
    (((limit >>> 16) & 0xf) << 16) |
    (flags << 20) |
    (base & 0xff00_0000);
  return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
}

using vcpu = vm.createVcpu(0);

// Step 3: CPUID. A guest may set EFER.LME only if its CPUID reports long mode (CPUID.80000001H:EDX.LM), and
// KVM checks KVM_SET_SREGS against the CPUID set with KVM_SET_CPUID2, so give the vCPU what KVM supports.
vcpu.setCpuid2(kvm.getSupportedCpuid());
console.log('step 3: CPUID from KVM_GET_SUPPORTED_CPUID (it has long mode)');

// Step 4: the special registers, as the end of the mode switch of 9.8.5 would leave them: CR3 points at the
// PML4, CR4.PAE, EFER.LME and LMA, CR0.PE and PG, and the segment caches as the GDT describes them.
const sregs = vcpu.getSregs();
const flat = { base: 0n, limit: 0xffff_ffff, unusable: 0 };
sregs.cs = { ...flat, ...gdt[1]!, selector: 0x08 };
sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = { ...flat, ...gdt[2]!, selector: 0x10 };
sregs.gdt = { base: BigInt(GDT_ADDR), limit: gdt.length * 8 - 1 };
sregs.cr3 = BigInt(PML4_ADDR);
sregs.cr4 = CR4_PAE;
sregs.efer = EFER_LME | EFER_LMA;
sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
vcpu.setSregs(sregs);
const check = vcpu.getSregs();
console.log(
  `step 4: cr0=0x${check.cr0.toString(16)} cr3=0x${check.cr3.toString(16)} cr4=0x${check.cr4.toString(16)} efer=0x${check.efer.toString(16)}`,
);

// Step 5: the general-purpose registers: where to start and a stack (RFLAGS bit 1 is reserved as 1, 2.3).
vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE_ADDR), rsp: BigInt(STACK_TOP), rflags: 0x2n });
const translation = vcpu.translate(BigInt(CODE_ADDR));
console.log(
  `step 5: rip=0x${CODE_ADDR.toString(16)}, which translates to physical 0x${translation.physicalAddress.toString(16)} (valid=${translation.valid})`,
);

let serial = '';
let ioExits = 0;
for (;;) {
  const exit = vcpu.run();
  if (exit.reason === 'io' && exit.direction === IoDirection.OUT && exit.port === 0x3f8) {
    // KVM may hand over several items of a `rep outsb` per exit: `count` says how many are in `data`.
    serial += new TextDecoder().decode(exit.data);
    ioExits++;
  } else if (exit.reason === 'hlt') {
    console.log(`exit io x${ioExits}: the guest wrote ${JSON.stringify(serial)} to port 0x3f8`);
    console.log(`exit hlt: rax=0x${vcpu.getRegs().rax.toString(16)}`);
    break;
  } else {
    console.log(`unexpected exit ${exit.reason}`);
    process.exitCode = 1;
    break;
  }
}
