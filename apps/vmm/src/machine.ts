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
import { MP_MAX_CPUS } from './boot/mptable.js';
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
  /**
   * vCPUs (1 by default), with APIC ids 0..cpus-1: vCPU 0 is the bootstrap processor, the others wait for
   * INIT and start-up IPIs from it, as KVM leaves them with an in-kernel irqchip. At most the backend's
   * KVM_CAP_MAX_VCPUS and {@link MP_MAX_CPUS} (the MP table's limit).
   */
  cpus?: number;
}

/** CPUID.1:ECX bit 31: "running under a hypervisor" (reserved for that use by Intel and AMD). */
const CPUID_1_ECX_HYPERVISOR = 1 << 31;

/**
 * The CPUID entries vCPU `apicId` sees: its initial APIC id in leaf 1 (EBX bits 31-24) and in the x2APIC id of
 * the topology leaves 0xB and 0x1F (EDX), which KVM_GET_SUPPORTED_CPUID leaves to the VMM (SDM Vol. 3A 8.4.5).
 */
export function withApicId(entries: readonly KvmCpuidEntry2[], apicId: number): KvmCpuidEntry2[] {
  return entries.map((entry) => {
    if (entry.function === 1) return { ...entry, ebx: ((entry.ebx & 0x00ffffff) | (apicId << 24)) >>> 0 };
    if (entry.function === 0xb || entry.function === 0x1f) return { ...entry, edx: apicId >>> 0 };
    return entry;
  });
}

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
 * (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2), one or more vCPUs with the backend's supported CPUID (the
 * application processors left to the in-kernel local APICs until the BSP starts them), and the VMM's own devices
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
    /** Every vCPU, by APIC id; `vcpus[0]` is the bootstrap processor. */
    readonly vcpus: readonly Vcpu[],
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

  /** The bootstrap processor, vCPU 0: the one a boot plan sets up. */
  get vcpu(): Vcpu {
    return this.vcpus[0];
  }

  /** The most vCPUs a machine on `kvm` can have: KVM_CAP_MAX_VCPUS, and the MP table's limit. */
  static maxCpus(kvm: Kvm): number {
    const max = kvm.checkExtension(Capability.MAX_VCPUS) || kvm.checkExtension(Capability.NR_VCPUS) || 1;
    return Math.min(max, MP_MAX_CPUS);
  }

  /** Creates the VM, its memory, irqchip, PIT and vCPUs on `kvm`. */
  static create(kvm: Kvm, options: MachineOptions): Machine {
    const { memSize } = options;
    const cpus = options.cpus ?? 1;
    if (memSize % 4096 !== 0 || memSize < Layout.HIGH_MEMORY || memSize > Layout.MAX_RAM) {
      throw new RangeError(
        `guest memory must be a multiple of 4 KiB between 1 MiB and 3 GiB, not ${memSize} bytes`,
      );
    }
    const max = Machine.maxCpus(kvm);
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > max) {
      throw new RangeError(
        `the number of vCPUs must be from 1 to ${max} on the ${kvm.backend.name} backend, not ${cpus}`,
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
      // Long mode needs the CPUID to say so (EFER.LME is refused otherwise): hand over everything the backend
      // supports, plus the hypervisor bit, which KVM_GET_SUPPORTED_CPUID leaves to the VMM (QEMU and
      // Firecracker set it too). Without it Linux ignores leaf 0x40000000, and with it kvm-clock.
      const cpuid = withHypervisorBit(kvm.getSupportedCpuid());
      const vcpus: Vcpu[] = [];
      for (let id = 0; id < cpus; id++) {
        const vcpu = vm.createVcpu(id);
        vcpus.push(vcpu);
        vcpu.setCpuid2(withApicId(cpuid, id));
      }
      // Only the BSP: an AP's local APIC is reset by the INIT that starts it, and its LINT0 stays masked, as
      // a BIOS leaves it (the PIC's interrupts go to one CPU).
      Machine.virtualWire(vcpus[0]);
      return new Machine(vm, vcpus, ram, options);
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

  /** Puts a loader's plan in RAM and sets the BSP's registers. */
  load(plan: BootPlan, file: string): void {
    applyBootPlan(plan, this.ram.bytes, this.vcpu, file);
  }

  /**
   * Runs the vCPUs to the end of the guest, with a {@link VcpuKicker} so that a guest that does not exit
   * still lets the event loop run (unless `options.kicker` brings its own).
   */
  async run(options: RunLoopOptions = {}): Promise<RunResult> {
    const kicker = options.kicker ? null : new VcpuKicker();
    kicker?.start();
    this.loop = new RunLoop(this.vcpus, this.ports, this.mmio, {
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

  /** Closes the VM (and its vCPUs) and releases guest memory. */
  close(): void {
    this.vm.close();
    this.ram.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
