/**
 * Virtual time with several vCPUs taking turns on one thread: it moves with the instructions the running vCPUs
 * retire, and a halted vCPU may skip it ahead to the next timer deadline only while no other vCPU could run.
 * Otherwise a VM with a busy BSP and idle APs saw its timers fire far ahead of the BSP's instructions.
 */
import { type Kvm, MpState, PitFlag } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backend } from '../index.js';
import type { EmulatorVcpu } from './vcpu.js';
import type { EmulatorVm } from './vm.js';

const CODE = 0x1000;
/** One PIT period at divisor 1193: 999,847 ns. */
const PIT_PERIOD_NS = (1193 * 1e9) / 1_193_182;

// Real mode, interrupts off: PIT channel 0 in mode 2 at ~1 kHz (so a timer deadline is always armed), then
// `spin` times round a loop, then HLT.
//   B034      mov al, 0x34
//   E643      out 0x43, al
//   B0A9      mov al, 0xa9
//   E640      out 0x40, al
//   B004      mov al, 0x04
//   E640      out 0x40, al
//   66B9..    mov ecx, spin
// loop:
//   6649      dec ecx
//   75FC      jnz loop
//   F4        hlt
function guest(spin: number): number[] {
  return [
    0xb0,
    0x34,
    0xe6,
    0x43,
    0xb0,
    0xa9,
    0xe6,
    0x40,
    0xb0,
    0x04,
    0xe6,
    0x40,
    0x66,
    0xb9,
    spin & 0xff,
    (spin >>> 8) & 0xff,
    (spin >>> 16) & 0xff,
    spin >>> 24,
    0x66,
    0x49,
    0x75,
    0xfc,
    0xf4,
  ];
}

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('idle time tests');
});
afterEach(() => kvm.close());

function machine(spin: number) {
  const vm = kvm.createVm() as EmulatorVm;
  vm.createIrqchip();
  vm.createPit2({ flags: PitFlag.SPEAKER_DUMMY });
  const ram = vm.createMemory(0x10000);
  ram.bytes.set(guest(spin), CODE);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: 0x10000n, memory: ram });
  const bsp = vm.createVcpu(0) as EmulatorVcpu;
  const sregs = bsp.getSregs();
  sregs.cs = { ...sregs.cs, base: 0n, selector: 0 };
  bsp.setSregs(sregs);
  bsp.setRegs({ ...bsp.getRegs(), rip: BigInt(CODE), rflags: 2n });
  bsp.instructionBudget = 50_000;
  // An AP halted with interrupts off: it never wakes, so all it could do is let time pass.
  const ap = vm.createVcpu(1) as EmulatorVcpu;
  ap.setMpState({ mpState: MpState.HALTED });
  return { vm, ram, bsp, ap, clock: vm.devices.clock };
}

describe('idle time with several vCPUs', () => {
  it('does not move the clock past the running vCPU while another sits halted', async () => {
    const { vm, ram, bsp, ap, clock } = machine(10_000_000);
    try {
      for (let round = 0; round < 20; round++) {
        expect(bsp.run().reason).toBe('intr');
        expect(ap.run().reason).toBe('intr');
        // Let the host's clock run ahead of virtual time, as it does on any machine slower than 1 GHz.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const ran = bsp.cpu.retired * clock.nsPerInstruction;
      expect(ran).toBeGreaterThanOrEqual(20 * 50_000);
      // The BSP's instructions are all the time there is (at most one PIT period of slack for the deadline a
      // slice stops at); before the fix the halted AP caught virtual time up with the host's clock.
      expect(clock.now).toBeLessThanOrEqual(ran + PIT_PERIOD_NS);
      expect(ap.getMpState().mpState).toBe(MpState.HALTED);
    } finally {
      vm.close();
      ram.close();
    }
  });

  it('still lets a halted vCPU move time on once every vCPU is halted', async () => {
    const { vm, ram, bsp, ap, clock } = machine(1000);
    try {
      while (bsp.getMpState().mpState !== MpState.HALTED) bsp.run();
      const before = clock.now;
      await new Promise((resolve) => setTimeout(resolve, 20));
      ap.run();
      // The host's clock moved on 20 ms: the idle VM's time follows it to the PIT's deadlines.
      expect(clock.now).toBeGreaterThan(before + 5 * PIT_PERIOD_NS);
    } finally {
      vm.close();
      ram.close();
    }
  });
});
