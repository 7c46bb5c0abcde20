// The KVM hello world: one memory slot, one vCPU, thirteen bytes of real-mode code that print "Hi\n" on a
// serial port and halt. Run: npx tsx examples/hello-real-mode/main.ts [auto|native|emulator]
import { IoDirection, openKvm } from '@kvm-ts/core';

// biome-ignore format: one instruction a line, its disassembly beside it
const code = new Uint8Array([
  0xba, 0xf8, 0x03, // mov dx, 0x3f8   ; COM1's data port
  0xb0, 0x48, //       mov al, 'H'
  0xee, //             out dx, al      ; an IO exit to the VMM
  0xb0, 0x69, //       mov al, 'i'
  0xee, //             out dx, al
  0xb0, 0x0a, //       mov al, '\n'
  0xee, //             out dx, al
  0xf4, //             hlt             ; a HLT exit: no in-kernel irqchip waits for an interrupt
]);

// No argument: KVM_TS_BACKEND decides, else 'auto' (native when /dev/kvm opens, else the emulator).
using kvm = await openKvm({ backend: process.argv[2] });
console.log(`backend: ${kvm.backend.name} (${kvm.backend.reason})`);
using vm = kvm.createVm();
const memory = vm.createMemory(0x1000);
memory.bytes.set(code);
vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0x1000n, memorySize: 0x1000n, memory });

using vcpu = vm.createVcpu(0);
const sregs = vcpu.getSregs();
sregs.cs.base = 0n; // at reset CS is f000:fff0 with base 0xffff0000; point it at physical 0 instead
sregs.cs.selector = 0;
vcpu.setSregs(sregs);
vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rflags: 0x2n }); // bit 1 of RFLAGS is always set

for (;;) {
  const exit = vcpu.run();
  if (exit.reason === 'io' && exit.direction === IoDirection.OUT) {
    const char = String.fromCharCode(exit.data[0]);
    console.log(`exit io: out port 0x${exit.port.toString(16)} ${JSON.stringify(char)}`);
  } else {
    console.log(`exit ${exit.reason}`);
    break;
  }
}
