// Timer interrupts from KVM's in-kernel devices: KVM_CREATE_IRQCHIP (two 8259A PICs, an IOAPIC, a local APIC
// per vCPU) and KVM_CREATE_PIT2 (an 8254 PIT on IRQ0). The guest programs both through their ports, which
// never reach the VMM, then HLTs; each PIT tick wakes it inside KVM_RUN and runs its handler, which counts the
// tick and reports it on a port. Run: npx tsx examples/irqchip-timer/main.ts [auto|native|emulator]
//
// A backend whose in-kernel devices do not deliver interrupts makes this program say so and exit with
// status 2, instead of waiting forever.
import { Capability, IoDirection, type KvmExit, openKvm, type Vcpu } from '@kvm-ts/core';

const TICKS = 5;
const PIT_HZ = 1_193_182; // the 8254's input clock
const PIT_DIVISOR = 11_932; // 100 Hz
const TICK_PORT = 0xe0;
const DONE_PORT = 0xe1;
const DEADLINE_MS = 3000; // 5 ticks at 100 Hz take 50 ms; anything near this means no timer at all

// Real mode at 0x1000, stack below 0x8000, the tick count at 0x500; vector 0x20 (IRQ0 once the PIC is
// remapped) points at `isr` through the real-mode IVT at address 0. The handler of the last tick masks IRQ0:
// KVM's PIT re-injects ticks the guest took late (as on a slow or nested host), and those would otherwise
// arrive back to back as soon as IRET sets IF again, before the idle loop's CLI.
// biome-ignore format: one instruction a line, its disassembly beside it
const code = new Uint8Array([
  0xfa, //                               cli
  0xc7, 0x06, 0x80, 0x00, 0x3d, 0x10, // mov word [0x80], isr   ; IVT[0x20].offset
  0xc7, 0x06, 0x82, 0x00, 0x00, 0x00, // mov word [0x82], 0     ; IVT[0x20].segment
  0xb0, 0x11, 0xe6, 0x20, //             mov al, 0x11 / out 0x20, al ; ICW1: edge, cascade, ICW4 follows
  0xb0, 0x20, 0xe6, 0x21, //             mov al, 0x20 / out 0x21, al ; ICW2: IRQ0-7 are vectors 0x20-0x27
  0xb0, 0x04, 0xe6, 0x21, //             mov al, 0x04 / out 0x21, al ; ICW3: the slave PIC is on IRQ2
  0xb0, 0x01, 0xe6, 0x21, //             mov al, 0x01 / out 0x21, al ; ICW4: 8086 mode
  0xb0, 0xfe, 0xe6, 0x21, //             mov al, 0xfe / out 0x21, al ; OCW1: unmask IRQ0 only
  0xb0, 0x34, 0xe6, 0x43, //             mov al, 0x34 / out 0x43, al ; PIT: channel 0, lo/hi byte, mode 2
  0xb8, PIT_DIVISOR & 0xff, PIT_DIVISOR >> 8, // mov ax, 11932
  0xe6, 0x40, //                         out 0x40, al           ; divisor, low byte
  0x88, 0xe0, //                         mov al, ah
  0xe6, 0x40, //                         out 0x40, al           ; high byte: channel 0 starts counting
  0xfa, //                        idle:  cli                    ; check with interrupts off, or the last tick
  0x83, 0x3e, 0x00, 0x05, TICKS, //      cmp word [0x500], TICKS  ; could land between the check and HLT
  0x73, 0x04, //                         jae done
  0xfb, //                               sti                    ; STI holds interrupts off one instruction:
  0xf4, //                               hlt                    ; none is taken before HLT waits (in KVM_RUN)
  0xeb, 0xf4, //                         jmp idle
  0xe6, DONE_PORT, //                    done: out 0xe1, al
  0xf4, //                               hlt
  0x50, //                        isr:   push ax
  0xff, 0x06, 0x00, 0x05, //             inc word [0x500]
  0x83, 0x3e, 0x00, 0x05, TICKS, //      cmp word [0x500], TICKS
  0x72, 0x04, //                         jb eoi
  0xb0, 0xff, 0xe6, 0x21, //             mov al, 0xff / out 0x21, al ; OCW1: mask every IRQ after the last tick
  0xb0, 0x20, 0xe6, 0x20, //      eoi:   mov al, 0x20 / out 0x20, al ; OCW2: non-specific EOI
  0xa0, 0x00, 0x05, //                   mov al, [0x500]
  0xe6, TICK_PORT, //                    out 0xe0, al           ; report the tick
  0x58, //                               pop ax
  0xcf, //                               iret
]);

function unsupported(reason: string): never {
  console.log(`not supported on this backend: ${reason}`);
  process.exit(2);
}

using kvm = await openKvm({ backend: process.argv[2] });
console.log(`backend: ${kvm.backend.name} (${kvm.backend.flavour})`);
if (!kvm.checkExtension(Capability.IRQCHIP) || !kvm.checkExtension(Capability.PIT2)) {
  unsupported('KVM_CHECK_EXTENSION reports no KVM_CAP_IRQCHIP or KVM_CAP_PIT2');
}

using vm = kvm.createVm();
vm.setTssAddr(0xfffb_d000); // three pages Intel's KVM needs for real mode without unrestricted guest
vm.createIrqchip(); // before any vCPU: each vCPU gets its local APIC when created
vm.createPit2({ flags: 0 }); // after the irqchip: the PIT's output is wired to IRQ0 of the PIC and the IOAPIC
const memory = vm.createMemory(0x1_0000);
memory.bytes.set(code, 0x1000);
vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: 0x1_0000n, memory });

using vcpu = vm.createVcpu(0);
const sregs = vcpu.getSregs();
sregs.cs.base = 0n;
sregs.cs.selector = 0;
vcpu.setSregs(sregs);
vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rsp: 0x8000n, rflags: 0x2n });

// With an in-kernel irqchip a halted guest waits inside KVM_RUN; if no interrupt ever came, run() would not
// return. On the native backend a watchdog thread kicks the vCPU (an `intr` exit) after the deadline; the
// emulator returns `intr` exits by itself while its vCPU is halted.
const runWithDeadline = await deadlineRunner(vcpu, kvm.backend.name);
const started = performance.now();
let ticks = 0;
for (;;) {
  const exit = runWithDeadline();
  const elapsed = performance.now() - started;
  if (exit.reason === 'io' && exit.direction === IoDirection.OUT && exit.port === TICK_PORT) {
    ticks = exit.data[0];
    console.log(`tick ${ticks}`);
  } else if (exit.reason === 'io' && exit.direction === IoDirection.OUT && exit.port === DONE_PORT) {
    const expected = (TICKS * PIT_DIVISOR * 1000) / PIT_HZ;
    console.log(
      `done: ${ticks} timer interrupts in ${Math.round(elapsed)} ms (${TICKS} PIT periods are ${Math.round(expected)} ms)`,
    );
    break;
  } else if (exit.reason === 'io') {
    unsupported(
      `the guest's access to port 0x${exit.port.toString(16)} reached the VMM: no in-kernel device took it`,
    );
  } else if (exit.reason === 'intr' && elapsed < DEADLINE_MS) {
    await new Promise((resolve) => setTimeout(resolve, 1)); // the emulator's vCPU is halted: let time pass
  } else if (exit.reason === 'intr') {
    unsupported(
      `no timer interrupt reached the guest in ${DEADLINE_MS} ms (${ticks} ticks): the in-kernel PIT or PIC does not deliver`,
    );
  } else {
    unsupported(
      `unexpected ${exit.reason} exit: with an in-kernel irqchip the guest's HLT should wait in KVM_RUN`,
    );
  }
}

/** `vcpu.run()`, bounded by the deadline on backends where a halted vCPU would otherwise never return. */
async function deadlineRunner(vcpu: Vcpu, backend: string): Promise<() => KvmExit> {
  if (backend !== 'native') return () => vcpu.run();
  const { RunWatchdog } = await import('@kvm-ts/native');
  const nativeVcpu = vcpu as import('@kvm-ts/native').NativeVcpu;
  const watchdog = new RunWatchdog(nativeVcpu.kickTarget());
  const deadline = performance.now() + DEADLINE_MS;
  return () => {
    nativeVcpu.immediateExit = false;
    watchdog.arm(Math.max(1, deadline - performance.now()));
    try {
      return vcpu.run();
    } finally {
      watchdog.disarm();
    }
  };
}
