// Devices that live in the VMM: a debug console on the port bus and a counter on the MMIO bus. KVM turns the
// guest's IN/OUT into IO exits and its accesses to unbacked physical addresses into MMIO exits; the VMM hands
// each to the device that owns the address and, for a read, fills the exit's data before the next run.
// Run: npx tsx examples/custom-device/main.ts [auto|native|emulator]
import { IoDirection, openKvm } from '@kvm-ts/core';
import { Bus } from './bus.js';
import { COUNTER_WINDOW, Counter } from './counter.js';
import { DEBUG_PORT, DebugPort } from './debug-port.js';

const CODE_ADDR = 0x1000;
const COUNTER_ADDR = 0xd_0000; // no memory slot here, so every access is an MMIO exit

// biome-ignore format: one instruction a line, its disassembly beside it
const code = new Uint8Array([
  0xe4, 0xe9, //                                           in al, 0xe9             ; is the debug port there?
  0x3c, 0xe9, //                                           cmp al, 0xe9
  0x75, 0x25, //                                           jne absent
  0xb8, 0x00, 0xd0, //                                     mov ax, 0xd000
  0x8e, 0xc0, //                                           mov es, ax              ; ES base 0xd0000: the counter
  0x26, 0x66, 0xc7, 0x06, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, // mov dword [es:0x0], 40  ; VALUE = 40
  0x26, 0x66, 0xc7, 0x06, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00, // mov dword [es:0x4], 2   ; ADD 2
  0x26, 0x66, 0xa1, 0x00, 0x00, //                         mov eax, [es:0x0]       ; read VALUE back
  0xe6, 0xe9, //                                           out 0xe9, al            ; print it: 42 is '*'
  0xb0, 0x0a, //                                           mov al, 10
  0xe6, 0xe9, //                                           out 0xe9, al
  0xf4, //                                                 hlt
  0xb0, 0x3f, //                                   absent: mov al, '?'
  0xe6, 0xe9, //                                           out 0xe9, al
  0xf4, //                                                 hlt
]);

const debugConsole = new DebugPort();
const counter = new Counter();
const ports = new Bus('port bus');
ports.add(DEBUG_PORT, 1, debugConsole);
const mmio = new Bus('MMIO bus');
mmio.add(COUNTER_ADDR, COUNTER_WINDOW, counter);

using kvm = await openKvm({ backend: process.argv[2] });
console.log(`backend: ${kvm.backend.name}`);
using vm = kvm.createVm();
const memory = vm.createMemory(0x1000);
memory.bytes.set(code);
vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: BigInt(CODE_ADDR), memorySize: 0x1000n, memory });
using vcpu = vm.createVcpu(0);
const sregs = vcpu.getSregs();
sregs.cs.base = 0n;
sregs.cs.selector = 0;
vcpu.setSregs(sregs);
vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE_ADDR), rflags: 0x2n });

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');

for (;;) {
  const exit = vcpu.run();
  if (exit.reason === 'io') {
    // A `rep ins`/`rep outs` brings `count` items of `size` bytes; each is one access to the device.
    const isWrite = exit.direction === IoDirection.OUT;
    for (let i = 0; i < exit.count; i++) {
      ports.access(exit.port, exit.data.subarray(i * exit.size, (i + 1) * exit.size), isWrite);
    }
    console.log(`io   ${isWrite ? 'out' : 'in '} port 0x${exit.port.toString(16)}: ${hex(exit.data)}`);
  } else if (exit.reason === 'mmio') {
    const data = exit.data.subarray(0, exit.len);
    mmio.access(Number(exit.physAddr), data, exit.isWrite);
    console.log(`mmio ${exit.isWrite ? 'write' : 'read '} 0x${exit.physAddr.toString(16)}: ${hex(data)}`);
  } else {
    console.log(`exit ${exit.reason}`);
    break;
  }
}
console.log(`counter value: ${counter.value}`);
console.log(`debug console output: ${JSON.stringify(debugConsole.output)}`);
