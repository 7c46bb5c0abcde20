import {
  Capability,
  type GuestMemory,
  type Kvm,
  type KvmCpuidEntry2,
  PitFlag,
  type Vcpu,
  type Vm,
} from '@kvm-ts/core';
import { applyBootPlan } from './boot/apply.js';
import type { BootPlan } from './boot/plan.js';
import { Bus } from './devices/bus.js';
import { CMOS_PORT, CMOS_PORT_COUNT, CmosRtc } from './devices/cmos.js';
import { DEBUG_CONSOLE_PORT, DebugConsole } from './devices/debug-console.js';
import { EXIT_PORT, EXIT_PORT_COUNT, ExitPort } from './devices/exit-port.js';
import { I8042, I8042_COMMAND_PORT, I8042_DATA_PORT, I8042_KEYBOARD_IRQ } from './devices/i8042.js';
import { COM1_IRQ, COM1_PORT, SERIAL_PORT_COUNT, Serial16550 } from './devices/serial.js';
import { Layout } from './layout.js';
import { RunLoop, type RunLoopOptions, type RunOutcome, type RunResult } from './run-loop.js';
import { VcpuKicker } from './vcpu-kicker.js';

/** Options of {@link Machine.create}. */
export interface MachineOptions {
  /** Guest RAM in bytes: a multiple of 4 KiB, at least 1 MiB, at most 3 GiB. */
  memSize: number;
  /** Where the guest's serial (COM1) and debug-console (0xe9) output goes. */
  output: (byte: number) => void;
}

/** CPUID.1:ECX bit 31: "running under a hypervisor" (reserved for that use by Intel and AMD). */
const CPUID_1_ECX_HYPERVISOR = 1 << 31;

/** The CPUID entries with leaf 1's hypervisor bit set. */
export function withHypervisorBit(entries: readonly KvmCpuidEntry2[]): KvmCpuidEntry2[] {
  return entries.map((entry) =>
    entry.function === 1 ? { ...entry, ecx: (entry.ecx | CPUID_1_ECX_HYPERVISOR) >>> 0 } : entry,
  );
}

/** Local APIC register offsets and LVT values for virtual-wire mode (SDM Vol. 3A 11.5.1). */
const APIC_LVT_LINT0 = 0x350;
const APIC_LVT_LINT1 = 0x360;
const LVT_DELIVERY_EXTINT = 0x700;
const LVT_DELIVERY_NMI = 0x400;
const LVT_DELIVERY_MASK = 0x700;
const LVT_MASKED = 0x10000;

/**
 * A PC-like machine on any kvm-ts backend: one RAM slot from address 0, the backend's irqchip and PIT
 * (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2), one vCPU with the backend's supported CPUID, and the VMM's own devices
 * on the port bus (COM1, i8042, CMOS, exit port, debug console). Unclaimed ports, PCI's 0xcf8/0xcfc among them,
 * read all ones.
 */
export class Machine implements Disposable {
  /** The port-IO bus (IO exits). */
  readonly ports = new Bus('port');
  /** The MMIO bus (MMIO exits); empty here, for VMMs that add devices. */
  readonly mmio = new Bus('mmio');
  readonly serial: Serial16550;
  private loop: RunLoop | null = null;
  private pendingOutcome: RunOutcome | null = null;

  private constructor(
    readonly vm: Vm,
    readonly vcpu: Vcpu,
    readonly ram: GuestMemory,
    options: MachineOptions,
  ) {
    const edge = (irq: number) => () => {
      vm.irqLine(irq, 1);
      vm.irqLine(irq, 0);
    };
    this.serial = new Serial16550(edge(COM1_IRQ), options.output);
    const i8042 = new I8042(() => this.finish({ kind: 'reset' }), edge(I8042_KEYBOARD_IRQ));
    this.ports.register(COM1_PORT, SERIAL_PORT_COUNT, this.serial, 'COM1');
    this.ports.register(I8042_DATA_PORT, 1, i8042.data, 'i8042 data');
    this.ports.register(I8042_COMMAND_PORT, 1, i8042.command, 'i8042 command');
    this.ports.register(CMOS_PORT, CMOS_PORT_COUNT, new CmosRtc(options.memSize), 'CMOS');
    this.ports.register(
      EXIT_PORT,
      EXIT_PORT_COUNT,
      new ExitPort((status) => this.finish({ kind: 'exit-port', status })),
      'exit port',
    );
    this.ports.register(DEBUG_CONSOLE_PORT, 1, new DebugConsole(options.output), 'debug console');
  }

  /** Creates the VM, its memory, irqchip, PIT and vCPU 0 on `kvm`. */
  static create(kvm: Kvm, options: MachineOptions): Machine {
    const { memSize } = options;
    if (memSize % 4096 !== 0 || memSize < Layout.HIGH_MEMORY || memSize > Layout.MAX_RAM) {
      throw new RangeError(
        `guest memory must be a multiple of 4 KiB between 1 MiB and 3 GiB, not ${memSize} bytes`,
      );
    }
    const vm = kvm.createVm();
    let ram: GuestMemory | null = null;
    try {
      if (vm.checkExtension(Capability.SET_TSS_ADDR)) vm.setTssAddr(Layout.TSS_ADDR);
      vm.createIrqchip();
      vm.createPit2({ flags: PitFlag.SPEAKER_DUMMY });
      ram = vm.createMemory(memSize);
      vm.setUserMemoryRegion({
        slot: 0,
        flags: 0,
        guestPhysAddr: 0n,
        memorySize: BigInt(memSize),
        memory: ram,
      });
      const vcpu = vm.createVcpu(0);
      // Long mode needs the CPUID to say so (EFER.LME is refused otherwise): hand over everything the backend
      // supports, plus the hypervisor bit, which KVM_GET_SUPPORTED_CPUID leaves to the VMM (QEMU and
      // Firecracker set it too). Without it Linux ignores leaf 0x40000000, and with it kvm-clock.
      vcpu.setCpuid2(withHypervisorBit(kvm.getSupportedCpuid()));
      Machine.virtualWire(vcpu);
      return new Machine(vm, vcpu, ram, options);
    } catch (error) {
      vm.close();
      ram?.close();
      throw error;
    }
  }

  /** LINT0 as ExtINT and LINT1 as NMI, so the PIC's interrupts reach the CPU before the guest sets up its APIC. */
  private static virtualWire(vcpu: Vcpu): void {
    const lapic = vcpu.getLapic();
    const view = new DataView(lapic.regs.buffer, lapic.regs.byteOffset, lapic.regs.byteLength);
    const set = (offset: number, mode: number) => {
      const value = view.getUint32(offset, true);
      view.setUint32(offset, (value & ~(LVT_DELIVERY_MASK | LVT_MASKED)) | mode, true);
    };
    set(APIC_LVT_LINT0, LVT_DELIVERY_EXTINT);
    set(APIC_LVT_LINT1, LVT_DELIVERY_NMI);
    vcpu.setLapic(lapic);
  }

  /** Puts a loader's plan in RAM and sets the vCPU's registers. */
  load(plan: BootPlan, file: string): void {
    applyBootPlan(plan, this.ram.bytes, this.vcpu, file);
  }

  /**
   * Runs the vCPU to the end of the guest, with a {@link VcpuKicker} so that a guest that does not exit
   * still lets the event loop run (unless `options.kicker` brings its own).
   */
  async run(options: RunLoopOptions = {}): Promise<RunResult> {
    const kicker = options.kicker ? null : new VcpuKicker();
    kicker?.start();
    this.loop = new RunLoop(this.vcpu, this.ports, this.mmio, {
      ...options,
      kicker: options.kicker ?? kicker ?? undefined,
    });
    if (this.pendingOutcome) this.loop.finish(this.pendingOutcome);
    try {
      return await this.loop.run();
    } finally {
      this.loop = null;
      await kicker?.stop();
    }
  }

  /** Ends the run with `outcome` (the exit port, the reset line, Ctrl-A X and SIGINT come through here). */
  finish(outcome: RunOutcome): void {
    if (this.loop) this.loop.finish(outcome);
    else this.pendingOutcome ??= outcome;
  }

  /** Closes the VM (and its vCPU) and releases guest memory. */
  close(): void {
    this.vm.close();
    this.ram.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
