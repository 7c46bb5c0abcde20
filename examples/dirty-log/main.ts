// Memory tracking with KVM_GET_DIRTY_LOG: a slot created with KVM_MEM_LOG_DIRTY_PAGES records which of its
// 4 KiB pages the guest wrote, and each read of the bitmap returns the pages written since the last one
// (live migration copies exactly those pages again). Run: npx tsx examples/dirty-log/main.ts [auto|native|emulator]
import { IoDirection, KvmError, MemFlag, openKvm } from '@kvm-ts/core';

const CODE_ADDR = 0x1000; // slot 0: the code, not tracked
const DATA_ADDR = 0x1_0000; // slot 1: 16 pages, tracked
const DATA_PAGES = 16;
const CHECKPOINT_PORT = 0x10;

// Real mode with DS = 0x1000, so [0x4000] is guest physical 0x14000: page 4 of slot 1.
// biome-ignore format: one instruction a line, its disassembly beside it
const code = new Uint8Array([
  0xc6, 0x06, 0x00, 0x10, 0x11, // mov byte [0x1000], 0x11 ; page 1
  0xc6, 0x06, 0x00, 0x40, 0x44, // mov byte [0x4000], 0x44 ; page 4
  0xc6, 0x06, 0x00, 0x50, 0x55, // mov byte [0x5000], 0x55 ; page 5
  0xe6, CHECKPOINT_PORT, //        out 0x10, al            ; checkpoint: the VMM reads the dirty log
  0xc6, 0x06, 0x00, 0x90, 0x99, // mov byte [0x9000], 0x99 ; page 9
  0xc6, 0x06, 0x08, 0x40, 0x48, // mov byte [0x4008], 0x48 ; page 4 again
  0xa0, 0x00, 0x50, //             mov al, [0x5000]        ; a read does not dirty page 5
  0xf4, //                         hlt
]);

/** The page numbers whose bits are set: bit n of byte n/8 is page n of the slot. */
function dirtyPages(bitmap: Uint8Array): number[] {
  const pages: number[] = [];
  for (let page = 0; page < bitmap.length * 8; page++) {
    if (bitmap[page >> 3] & (1 << (page & 7))) pages.push(page);
  }
  return pages;
}

using kvm = await openKvm({ backend: process.argv[2] });
console.log(`backend: ${kvm.backend.name}`);
using vm = kvm.createVm();
const codeMemory = vm.createMemory(0x1000);
codeMemory.bytes.set(code);
vm.setUserMemoryRegion({
  slot: 0,
  flags: 0,
  guestPhysAddr: BigInt(CODE_ADDR),
  memorySize: 0x1000n,
  memory: codeMemory,
});
const data = vm.createMemory(DATA_PAGES * 0x1000);
vm.setUserMemoryRegion({
  slot: 1,
  flags: MemFlag.LOG_DIRTY_PAGES,
  guestPhysAddr: BigInt(DATA_ADDR),
  memorySize: BigInt(data.size),
  memory: data,
});

using vcpu = vm.createVcpu(0);
const sregs = vcpu.getSregs();
sregs.cs.base = 0n;
sregs.cs.selector = 0;
sregs.ds.base = BigInt(DATA_ADDR);
sregs.ds.selector = DATA_ADDR >> 4;
vcpu.setSregs(sregs);
vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE_ADDR), rflags: 0x2n });

function report(when: string): void {
  const pages = dirtyPages(vm.getDirtyLog(1));
  const described = pages.map(
    (p) => `${p} (0x${(DATA_ADDR + p * 0x1000).toString(16)}=0x${data.bytes[p * 0x1000].toString(16)})`,
  );
  console.log(`${when}: dirty pages of slot 1: ${described.join(', ') || 'none'}`);
}

report('before running');
for (;;) {
  const exit = vcpu.run();
  if (exit.reason === 'io' && exit.direction === IoDirection.OUT && exit.port === CHECKPOINT_PORT) {
    report('at the checkpoint');
  } else if (exit.reason === 'hlt') {
    report('at the HLT');
    break;
  } else {
    console.log(`unexpected exit ${exit.reason}`);
    process.exitCode = 1;
    break;
  }
}
report('read again');

// Only a slot created with LOG_DIRTY_PAGES has a bitmap; KVM refuses the others with ENOENT.
try {
  vm.getDirtyLog(0);
} catch (error) {
  if (!(error instanceof KvmError)) throw error;
  console.log(`slot 0 (not tracked): ${error.operation} fails with ${error.code}`);
}
