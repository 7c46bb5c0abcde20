/**
 * Runs a benchmark kernel on @kvm-ts/emulator through the core API, as a VMM would: one memory slot, the vCPU
 * entered in 32-bit protected mode with flat segments as a multiboot loader leaves it (EAX = 0x2BADB002), and
 * `run()` until the exit port. The timed span is from the guest's 'S' to its 'E' on the debug port.
 */
import { backend } from '../../dist/index.js';
import { elfSegments, enterMultibootState } from '../guest.mjs';

const RAM = 64 << 20;
const DEBUGCON = 0xe9;
const EXIT_PORT = 0xf4;

/** Seconds between the guest's start and end marks. */
export function runEmulator(image) {
  const kvm = backend.open('bench');
  try {
    const vm = kvm.createVm();
    const mem = vm.createMemory(RAM);
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(RAM), memory: mem });
    const { entry, segments } = elfSegments(image);
    for (const s of segments) mem.bytes.set(s.data, s.paddr);
    const vcpu = vm.createVcpu(0);
    // As on KVM, long mode (EFER.LME) needs CPUID to advertise it.
    vcpu.setCpuid2(kvm.getSupportedCpuid());
    const sregs = vcpu.getSregs();
    vcpu.setSregs(enterMultibootState(sregs));
    const regs = vcpu.getRegs();
    regs.rip = BigInt(entry);
    regs.rax = 0x2badb002n;
    regs.rbx = 0x9000n;
    regs.rflags = 2n;
    vcpu.setRegs(regs);
    let start = 0;
    let end = 0;
    for (;;) {
      const exit = vcpu.run();
      if (exit.reason === 'intr') continue;
      if (exit.reason !== 'io') throw new Error(`unexpected ${exit.reason} exit`);
      if (exit.port === DEBUGCON) {
        if (exit.data[0] === 0x53) start = performance.now();
        else end = performance.now();
      } else if (exit.port === EXIT_PORT) {
        break;
      }
    }
    vcpu.close();
    vm.close();
    return (end - start) / 1000;
  } finally {
    kvm.close();
  }
}
