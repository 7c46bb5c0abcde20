/**
 * The VM level of the API over the emulator: guest memory and slots, vCPUs, and the in-kernel devices
 * (irqchip, PIT, the virtual clock; see in-kernel-devices.ts) with KVM's ordering rules and errnos (checked on a real KVM: a second
 * irqchip or an irqchip after a vCPU is EEXIST, KVM_INTERRUPT with an irqchip ENXIO, the identity-map address
 * after a vCPU EINVAL, irqchip queries without one ENXIO).
 */
import {
  ClockFlag,
  type GuestMemory,
  IrqchipId,
  IrqRoutingType,
  type KvmClockData,
  type KvmEnableCap,
  type KvmIrqchip,
  type KvmIrqRoutingEntry,
  type KvmMsi,
  type KvmPitConfig,
  type KvmPitState2,
  type KvmUserspaceMemoryRegion,
  kvmFail,
  type Vcpu,
  type Vm,
} from '@kvm-ts/core';
import { hostNow } from '../cpu/host-clock.js';
import { CodeCache } from '../cpu/insn-cache.js';
import { BlockDirectories } from '../cpu/wasm/directories.js';
import { wasmTierOn } from '../cpu/wasm/tier.js';
import { InKernelIrqchip } from '../devices/irqchip.js';
import { Pit } from '../devices/pit.js';
import { ArrayGuestMemory } from '../memory/guest-memory.js';
import { SlotTable } from '../memory/slots.js';
import { WasmArena } from '../memory/wasm-arena.js';
import { checkCapability } from './capabilities.js';
import { type IdleTime, VmDevices } from './in-kernel-devices.js';
import { EmulatorVcpu } from './vcpu.js';

/** KVM_CAP_MAX_VCPU_ID: vCPU ids must be below it. */
export const MAX_VCPU_ID = 4096;
/** KVM_CAP_MAX_VCPUS. */
export const MAX_VCPUS = 1024;
/** KVM_MAX_IRQ_ROUTES: GSIs and routes a VM may have. */
export const MAX_GSI = 4096;

/**
 * KVM's default GSI routing (`default_routing` in virt/kvm/irqchip.c, arch/x86/kvm/irq_comm.c): GSI 0-15 to
 * the IOAPIC pin of the same number and to PIC input GSI % 8 of the master or slave, 16-23 to the IOAPIC only.
 * GSI 0 (the PIT) goes to IOAPIC pin 0, not 2: VMMs that want the ISA override route it with KVM_SET_GSI_ROUTING.
 */
const DEFAULT_ROUTES: readonly KvmIrqRoutingEntry[] = (() => {
  const routes: KvmIrqRoutingEntry[] = [];
  for (let gsi = 0; gsi < 24; gsi++) {
    routes.push({ gsi, type: IrqRoutingType.IRQCHIP, flags: 0, irqchip: IrqchipId.IOAPIC, pin: gsi });
    if (gsi < 16) {
      const irqchip = gsi < 8 ? IrqchipId.PIC_MASTER : IrqchipId.PIC_SLAVE;
      routes.push({ gsi, type: IrqRoutingType.IRQCHIP, flags: 0, irqchip, pin: gsi & 7 });
    }
  }
  return routes;
})();

/** Nanoseconds on the host's monotonic clock. */
function nowNs(): bigint {
  return BigInt(Math.round(hostNow() * 1e6));
}

/** A VM of the emulator backend. */
export class EmulatorVm implements Vm {
  /** @internal The memory slots, shared with the vCPUs. */
  readonly slots = new SlotTable();
  /** @internal Decoded instructions by guest-physical page, shared with the vCPUs. */
  readonly code = new CodeCache();
  private readonly vcpus = new Map<number, EmulatorVcpu>();
  private createdVcpus = 0;
  private closed = false;
  /** @internal The in-kernel devices and the virtual clock, shared with the vCPUs. */
  readonly devices = new VmDevices();
  private clockOffset: bigint;
  private tssAddr = -1;
  private identityMapAddr = 0xfffbc000n;
  private gsiRoutes: KvmIrqRoutingEntry[] | null = null;
  private wasmArena: WasmArena | null = null;

  constructor() {
    this.clockOffset = -nowNs();
    this.slots.onChange = () => {
      this.code.clear();
      for (const v of this.vcpus.values()) v.cpu.flushTlb();
    };
    this.code.onNewPage = (gpa) => {
      for (const v of this.vcpus.values()) v.cpu.dropWrites(gpa);
    };
    this.code.onDropPage = (gpa) => {
      for (const v of this.vcpus.values()) v.cpu.dropCode(gpa);
    };
  }

  private check(op: string): void {
    if (this.closed) kvmFail(op, 'EBADF', 'the VM is closed');
  }

  checkExtension(cap: number): number {
    this.check('KVM_CHECK_EXTENSION');
    return checkCapability(cap);
  }

  createMemory(size: number): GuestMemory {
    this.check('createMemory');
    return new ArrayGuestMemory(size, this.arena());
  }

  /**
   * @internal The VM's WebAssembly memory for guest RAM and vCPU state, made at the first need while the
   * WebAssembly tier is on (null when it is off: then nothing is reserved).
   */
  arena(): WasmArena | null {
    if (this.wasmArena === null && wasmTierOn()) {
      this.wasmArena = new WasmArena();
      if (this.wasmArena.memory !== null) this.code.directories = new BlockDirectories(this.wasmArena);
    }
    return this.wasmArena;
  }

  setUserMemoryRegion(region: KvmUserspaceMemoryRegion): void {
    this.check('KVM_SET_USER_MEMORY_REGION');
    this.slots.set(region);
  }

  createVcpu(id: number): Vcpu {
    const op = 'KVM_CREATE_VCPU';
    this.check(op);
    if (!Number.isInteger(id) || id < 0 || id >= MAX_VCPU_ID) {
      kvmFail(op, 'EINVAL', `vCPU id ${id} is not below KVM_CAP_MAX_VCPU_ID (${MAX_VCPU_ID})`);
    }
    if (this.createdVcpus >= MAX_VCPUS) kvmFail(op, 'EINVAL', `a VM has at most ${MAX_VCPUS} vCPUs`);
    if (this.vcpus.has(id)) kvmFail(op, 'EEXIST', `vCPU ${id} already exists`);
    const vcpu = new EmulatorVcpu(id, {
      slots: this.slots,
      code: this.code,
      arena: this.arena(),
      devices: this.devices,
      hasIrqchip: () => this.devices.irqchip !== null,
      isClosed: () => this.closed,
      forget: (v) => {
        if (this.vcpus.get(v.id) === v) this.vcpus.delete(v.id);
      },
    });
    this.vcpus.set(id, vcpu);
    this.createdVcpus++;
    return vcpu;
  }

  setTssAddr(addr: number): void {
    const op = 'KVM_SET_TSS_ADDR';
    this.check(op);
    // The three pages must lie below 4 GiB (vmx_set_tss_addr's check).
    if (!Number.isInteger(addr) || addr < 0 || addr > 0xffffffff - 3 * 4096 + 1) {
      kvmFail(op, 'EINVAL', 'the TSS area must be three pages below 4 GiB');
    }
    this.tssAddr = addr;
  }

  setIdentityMapAddr(addr: bigint): void {
    const op = 'KVM_SET_IDENTITY_MAP_ADDR';
    this.check(op);
    if (this.createdVcpus > 0)
      kvmFail(op, 'EINVAL', 'the identity map address must be set before any vCPU exists');
    this.identityMapAddr = BigInt.asUintN(64, addr);
  }

  createIrqchip(): void {
    const op = 'KVM_CREATE_IRQCHIP';
    this.check(op);
    if (this.devices.irqchip) kvmFail(op, 'EEXIST', 'the VM already has an in-kernel irqchip');
    if (this.createdVcpus > 0) kvmFail(op, 'EINVAL', 'the irqchip must be created before any vCPU');
    this.devices.irqchip = new InKernelIrqchip({ clock: this.devices.clock });
  }

  private needIrqchip(op: string): InKernelIrqchip {
    if (!this.devices.irqchip) kvmFail(op, 'ENXIO', 'the VM has no in-kernel irqchip (createIrqchip)');
    return this.devices.irqchip;
  }

  irqLine(irq: number, level: number): void {
    const op = 'KVM_IRQ_LINE';
    this.check(op);
    this.needIrqchip(op);
    if (!Number.isInteger(irq) || irq < 0 || irq >= MAX_GSI)
      kvmFail(op, 'EINVAL', `GSI ${irq} is out of range`);
    this.setGsi(irq, level);
  }

  /** Drives GSI `gsi` through the routing table (KVM's `kvm_set_irq`); nothing without an irqchip. */
  private setGsi(gsi: number, level: number): void {
    const chip = this.devices.irqchip;
    if (chip === null) return;
    const routes = this.gsiRoutes ?? DEFAULT_ROUTES;
    for (let k = 0; k < routes.length; k++) {
      const r = routes[k];
      if (r.gsi !== gsi) continue;
      if (r.type === IrqRoutingType.IRQCHIP) {
        if (r.irqchip === IrqchipId.IOAPIC) chip.setIoapicInput(r.pin, level);
        else chip.setPicInput(r.pin + (r.irqchip === IrqchipId.PIC_SLAVE ? 8 : 0), level);
      } else if (level) {
        chip.deliverMsi(r.addressLo, r.addressHi, r.data);
      }
    }
  }

  getIrqchip(chipId: number): KvmIrqchip {
    this.check('KVM_GET_IRQCHIP');
    return this.needIrqchip('KVM_GET_IRQCHIP').get(chipId);
  }

  setIrqchip(chip: KvmIrqchip): void {
    this.check('KVM_SET_IRQCHIP');
    this.needIrqchip('KVM_SET_IRQCHIP').set(chip);
  }

  setGsiRouting(entries: readonly KvmIrqRoutingEntry[]): void {
    const op = 'KVM_SET_GSI_ROUTING';
    this.check(op);
    this.needIrqchip(op);
    if (entries.length > MAX_GSI) kvmFail(op, 'EINVAL', `at most ${MAX_GSI} routes`);
    for (const e of entries) {
      if (e.gsi < 0 || e.gsi >= MAX_GSI) kvmFail(op, 'EINVAL', `GSI ${e.gsi} is out of range`);
      if (e.flags !== 0) kvmFail(op, 'EINVAL', 'route flags must be 0');
      if (e.type === IrqRoutingType.IRQCHIP) {
        if (e.irqchip > 2 || e.pin >= (e.irqchip === IrqchipId.IOAPIC ? 24 : 8)) {
          kvmFail(op, 'EINVAL', `irqchip ${e.irqchip} pin ${e.pin} does not exist`);
        }
      } else if (e.type !== IrqRoutingType.MSI) {
        kvmFail(op, 'EINVAL', `route type ${(e as { type: number }).type} is not supported`);
      }
    }
    this.gsiRoutes = entries.map((e) => ({ ...e }));
  }

  signalMsi(msi: KvmMsi): number {
    const op = 'KVM_SIGNAL_MSI';
    this.check(op);
    const chip = this.devices.irqchip;
    if (!chip) kvmFail(op, 'EINVAL', 'the VM has no in-kernel irqchip (createIrqchip)');
    if (msi.flags !== 0) kvmFail(op, 'EINVAL', 'flags must be 0');
    return chip.deliverMsi(msi.addressLo, msi.addressHi, msi.data) ? 1 : 0;
  }

  getDirtyLog(slot: number): Uint8Array {
    this.check('KVM_GET_DIRTY_LOG');
    return this.slots.takeDirtyLog(slot);
  }

  createPit2(config: KvmPitConfig): void {
    const op = 'KVM_CREATE_PIT2';
    this.check(op);
    if (this.devices.pit) kvmFail(op, 'EEXIST', 'the VM already has a PIT');
    if (config.flags & ~1) kvmFail(op, 'EINVAL', `unknown flags 0x${config.flags.toString(16)}`);
    // The PIT's OUT 0 is GSI 0, through the routing table as KVM's `kvm_set_irq(kvm, pit->irq_source_id, 0, ..)`.
    this.devices.pit = new Pit({
      clock: this.devices.clock,
      configFlags: config.flags,
      setIrq0: (level) => this.setGsi(0, level),
    });
  }

  getPit2(): KvmPitState2 {
    this.check('KVM_GET_PIT2');
    const pit = this.devices.pit;
    if (!pit) kvmFail('KVM_GET_PIT2', 'ENXIO', 'the VM has no in-kernel PIT (createPit2)');
    return pit.getState();
  }

  setPit2(state: KvmPitState2): void {
    this.check('KVM_SET_PIT2');
    const pit = this.devices.pit;
    if (!pit) kvmFail('KVM_SET_PIT2', 'ENXIO', 'the VM has no in-kernel PIT (createPit2)');
    pit.setState(state);
  }

  getClock(): KvmClockData {
    this.check('KVM_GET_CLOCK');
    return { clock: nowNs() + this.clockOffset, flags: 0, realtime: 0n, hostTsc: 0n };
  }

  setClock(data: KvmClockData): void {
    const op = 'KVM_SET_CLOCK';
    this.check(op);
    if (data.flags & ~(ClockFlag.TSC_STABLE | ClockFlag.REALTIME | ClockFlag.HOST_TSC)) {
      kvmFail(op, 'EINVAL', `unknown flags 0x${data.flags.toString(16)}`);
    }
    this.clockOffset = BigInt.asUintN(64, data.clock) - nowNs();
  }

  enableCap(cap: KvmEnableCap): void {
    this.check('KVM_ENABLE_CAP');
    kvmFail('KVM_ENABLE_CAP', 'EINVAL', `capability ${cap.cap} cannot be enabled on the emulator`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.vcpus.clear();
  }

  /** `using` support: the same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The addresses given to KVM_SET_TSS_ADDR and KVM_SET_IDENTITY_MAP_ADDR (unused without VMX), and the routes. */
  get intelAreas(): { tss: number; identityMap: bigint; routes: number } {
    return {
      tss: this.tssAddr,
      identityMap: this.identityMapAddr,
      routes: (this.gsiRoutes ?? DEFAULT_ROUTES).length,
    };
  }

  /**
   * How time passes while the guest is halted with an in-kernel irqchip (see {@link IdleTime}): `realtime`,
   * the default, as on KVM; `skip` to jump to the next timer deadline (fast, deterministic tests).
   */
  get idleTime(): IdleTime {
    return this.devices.idleTime;
  }

  /** Chooses how time passes while the guest is halted; takes effect at the next `run()`. */
  set idleTime(mode: IdleTime) {
    this.devices.idleTime = mode;
  }
}
