import { Capability, MemFlag } from '@kvm-ts/core';
import { expect } from 'vitest';
import { memProbe } from '../guests/generated.js';
import { Layout, Port } from '../layout.js';
import type { Machine } from '../setup/machine.js';
import { completeMmioRead, expectHlt, expectKvmError, expectMmioWrite, expectOut } from './assertions.js';
import type { CaseContext, CaseGroup } from './case.js';

const PAGE = 0x1000;
const EXTRA_SLOT = 1;
const EXTRA_SIZE = 8 * PAGE;

/** A machine running guests/mem_probe.asm in protected mode. */
function probeMachine(context: CaseContext): Machine {
  return context.machine({ mode: 'protected', guest: memProbe });
}

/** Starts mem_probe again: read 4 bytes at `read`, then write `value` at `write`. */
function startProbe(machine: Machine, read: number, write: number, value: number): void {
  machine.restart();
  const regs = machine.vcpu.getRegs();
  machine.vcpu.setRegs({ ...regs, rsi: BigInt(read), rdi: BigInt(write), rcx: BigInt(value) });
}

/**
 * Runs mem_probe through a read and a write that both hit RAM (or a writable slot). The guest reports the
 * low byte of what it read (AL) on PORT_DONE.
 */
function probeMemory(machine: Machine, read: number, expected: number, write: number, value: number): void {
  startProbe(machine, read, write, value);
  expectOut(machine.vcpu, Port.ECHO, 4, expected);
  expectOut(machine.vcpu, Port.DONE, 1, expected & 0xff);
  expectHlt(machine.vcpu);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Adds slot 1 (EXTRA_SIZE bytes at EXTRA_SLOT_ADDR) with `flags`, its memory starting with `marker`. */
function addExtraSlot(context: CaseContext, machine: Machine, flags: number, marker: number) {
  const memory = machine.vm.createMemory(EXTRA_SIZE);
  context.defer(() => memory.close());
  view(memory.bytes).setUint32(0, marker, true);
  const region = {
    slot: EXTRA_SLOT,
    flags,
    guestPhysAddr: BigInt(Layout.EXTRA_SLOT_ADDR),
    memorySize: BigInt(EXTRA_SIZE),
    memory,
  };
  machine.vm.setUserMemoryRegion(region);
  return { memory, region };
}

/** KVM_SET_USER_MEMORY_REGION: adding, moving, deleting, read-only slots, dirty logging, and refusals. */
export const memoryCases: CaseGroup = {
  name: 'memory slots',
  cases: [
    {
      id: 'memory.shared-both-ways',
      title:
        'guest memory is shared: the guest reads what the VMM wrote and the VMM sees what the guest wrote',
      source: 'api.rst 4.35 (KVM_SET_USER_MEMORY_REGION: userspace_addr backs the slot)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        view(machine.ram).setUint32(Layout.DATA_ADDR, 0x1357_9bdf, true);
        probeMemory(machine, Layout.DATA_ADDR, 0x1357_9bdf, Layout.DATA_ADDR + 4, 0x2468_ace0);
        expect(view(machine.ram).getUint32(Layout.DATA_ADDR + 4, true)).toBe(0x2468_ace0);
      },
    },
    {
      id: 'memory.move-and-delete',
      title: 'a slot moves to a new guest address keeping its contents; deleted, its range exits as MMIO',
      source: 'api.rst 4.35: guest_phys_addr may change (KVM_MR_MOVE); memory_size 0 deletes',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        const { region } = addExtraSlot(context, machine, 0, 0xcafe_f00d);
        probeMemory(machine, Layout.EXTRA_SLOT_ADDR, 0xcafe_f00d, Layout.DATA_ADDR, 1);

        machine.vm.setUserMemoryRegion({ ...region, guestPhysAddr: BigInt(Layout.MOVED_SLOT_ADDR) });
        probeMemory(machine, Layout.MOVED_SLOT_ADDR, 0xcafe_f00d, Layout.DATA_ADDR, 2);
        startProbe(machine, Layout.EXTRA_SLOT_ADDR, Layout.DATA_ADDR, 3);
        completeMmioRead(machine.vcpu, Layout.EXTRA_SLOT_ADDR, 4, 0x0bad_0bad);
        expectOut(machine.vcpu, Port.ECHO, 4, 0x0bad_0bad);

        machine.vm.setUserMemoryRegion({ slot: EXTRA_SLOT, flags: 0, guestPhysAddr: 0n, memorySize: 0n });
        startProbe(machine, Layout.MOVED_SLOT_ADDR, Layout.DATA_ADDR, 4);
        completeMmioRead(machine.vcpu, Layout.MOVED_SLOT_ADDR, 4, 0x600d_600d);
        expectOut(machine.vcpu, Port.ECHO, 4, 0x600d_600d);
      },
    },
    {
      id: 'memory.read-only',
      title: 'a read-only slot serves reads from memory and turns writes into MMIO write exits',
      source: 'api.rst 4.35 (KVM_MEM_READONLY: writes exit as KVM_EXIT_MMIO)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        expect(context.kvm.checkExtension(Capability.READONLY_MEM)).toBeGreaterThan(0);
        const machine = probeMachine(context);
        const { memory } = addExtraSlot(context, machine, MemFlag.READONLY, 0x5eed_5eed);
        startProbe(machine, Layout.EXTRA_SLOT_ADDR, Layout.EXTRA_SLOT_ADDR + 4, 0x1234_5678);
        expectOut(machine.vcpu, Port.ECHO, 4, 0x5eed_5eed);
        expectMmioWrite(machine.vcpu, Layout.EXTRA_SLOT_ADDR + 4, 4, 0x1234_5678);
        expectOut(machine.vcpu, Port.DONE, 1, 0xed);
        expectHlt(machine.vcpu);
        expect(view(memory.bytes).getUint32(4, true)).toBe(0);
      },
    },
    {
      id: 'memory.dirty-log',
      title: 'KVM_GET_DIRTY_LOG sets the bits of the pages the guest wrote, and clears them once read',
      source: 'api.rst 4.8 (KVM_GET_DIRTY_LOG), 4.35 (KVM_MEM_LOG_DIRTY_PAGES)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        addExtraSlot(context, machine, MemFlag.LOG_DIRTY_PAGES, 0);
        machine.vm.getDirtyLog(EXTRA_SLOT);
        const written = [1, 3, 6];
        for (const page of written) {
          probeMemory(machine, Layout.DATA_ADDR, 0, Layout.EXTRA_SLOT_ADDR + page * PAGE + 8, 0x77);
        }
        const bitmap = machine.vm.getDirtyLog(EXTRA_SLOT);
        expect(bitmap.length).toBeGreaterThanOrEqual(1);
        const dirty = (map: Uint8Array, page: number) => (map[page >> 3] >> (page & 7)) & 1;
        for (let page = 0; page < EXTRA_SIZE / PAGE; page++) {
          expect(dirty(bitmap, page), `page ${page}`).toBe(written.includes(page) ? 1 : 0);
        }
        const again = machine.vm.getDirtyLog(EXTRA_SLOT);
        for (let page = 0; page < EXTRA_SIZE / PAGE; page++)
          expect(dirty(again, page), `page ${page}`).toBe(0);
      },
    },
    {
      id: 'memory.dirty-log-enable-later',
      title:
        'dirty logging switched on for an existing slot tracks writes from then on, and switched off is ENOENT',
      source:
        'api.rst 4.35 (flags may change on an existing slot: KVM_MR_FLAGS_ONLY), 4.8 (KVM_GET_DIRTY_LOG)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        const { region } = addExtraSlot(context, machine, 0, 0);
        probeMemory(machine, Layout.DATA_ADDR, 0, Layout.EXTRA_SLOT_ADDR + 2 * PAGE, 0x11);
        machine.vm.setUserMemoryRegion({ ...region, flags: MemFlag.LOG_DIRTY_PAGES });
        probeMemory(machine, Layout.DATA_ADDR, 0, Layout.EXTRA_SLOT_ADDR + 5 * PAGE, 0x22);
        const bitmap = machine.vm.getDirtyLog(EXTRA_SLOT);
        const dirty = (page: number) => (bitmap[page >> 3] >> (page & 7)) & 1;
        expect(dirty(5)).toBe(1);
        expect(dirty(2)).toBe(0);
        machine.vm.setUserMemoryRegion({ ...region, flags: 0 });
        expectKvmError(() => machine.vm.getDirtyLog(EXTRA_SLOT), 'ENOENT');
      },
    },
    {
      id: 'memory.dirty-log-errors',
      title: 'KVM_GET_DIRTY_LOG of a slot without dirty logging, or of no slot, is ENOENT',
      source: 'kvm_get_dirty_log_protect in virt/kvm/kvm_main.c (!memslot || !memslot->dirty_bitmap)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        expectKvmError(() => machine.vm.getDirtyLog(0), 'ENOENT');
        expectKvmError(() => machine.vm.getDirtyLog(7), 'ENOENT');
      },
    },
    {
      id: 'memory.overlap',
      title: 'a slot overlapping another is EEXIST and leaves the existing slot working',
      source: 'api.rst 4.35; kvm_set_memory_region in virt/kvm/kvm_main.c (overlap check)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        const memory = machine.vm.createMemory(2 * PAGE);
        context.defer(() => memory.close());
        expectKvmError(
          () =>
            machine.vm.setUserMemoryRegion({
              slot: EXTRA_SLOT,
              flags: 0,
              guestPhysAddr: BigInt(Layout.RAM_SIZE - PAGE),
              memorySize: BigInt(2 * PAGE),
              memory,
            }),
          'EEXIST',
        );
        view(machine.ram).setUint32(Layout.RAM_SIZE - 4, 0xfeed_beef, true);
        probeMemory(machine, Layout.RAM_SIZE - 4, 0xfeed_beef, Layout.DATA_ADDR, 5);
      },
    },
    {
      id: 'memory.misaligned',
      title: 'a guest address, size or host offset that is not a whole page is EINVAL',
      source: 'kvm_set_memory_region in virt/kvm/kvm_main.c (PAGE_SIZE alignment checks)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        const memory = machine.vm.createMemory(4 * PAGE);
        context.defer(() => memory.close());
        const base = { slot: EXTRA_SLOT, flags: 0, memory };
        const at = BigInt(Layout.EXTRA_SLOT_ADDR);
        expectKvmError(
          () => machine.vm.setUserMemoryRegion({ ...base, guestPhysAddr: at + 0x800n, memorySize: 0x1000n }),
          'EINVAL',
        );
        expectKvmError(
          () => machine.vm.setUserMemoryRegion({ ...base, guestPhysAddr: at, memorySize: 0x1800n }),
          'EINVAL',
        );
        expectKvmError(
          () =>
            machine.vm.setUserMemoryRegion({
              ...base,
              guestPhysAddr: at,
              memorySize: 0x1000n,
              memoryOffset: 0x10,
            }),
          'EINVAL',
        );
      },
    },
    {
      id: 'memory.delete-missing',
      title: 'deleting a slot that does not exist is EINVAL',
      source: 'kvm_set_memory_region in virt/kvm/kvm_main.c (!memory_size && !old)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        expectKvmError(
          () => machine.vm.setUserMemoryRegion({ slot: 5, flags: 0, guestPhysAddr: 0n, memorySize: 0n }),
          'EINVAL',
        );
      },
    },
    {
      id: 'memory.resize-or-readonly-change',
      title: 'changing an existing slot size or its READONLY flag is EINVAL',
      source: 'kvm_set_memory_region in virt/kvm/kvm_main.c (npages or KVM_MEM_READONLY changed)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        const { region } = addExtraSlot(context, machine, 0, 0x1111_2222);
        expectKvmError(
          () => machine.vm.setUserMemoryRegion({ ...region, memorySize: BigInt(EXTRA_SIZE / 2) }),
          'EINVAL',
        );
        expectKvmError(
          () => machine.vm.setUserMemoryRegion({ ...region, flags: MemFlag.READONLY }),
          'EINVAL',
        );
        probeMemory(machine, Layout.EXTRA_SLOT_ADDR, 0x1111_2222, Layout.DATA_ADDR, 6);
      },
    },
    {
      id: 'memory.slot-id-range',
      title: 'a slot id at or beyond KVM_CAP_NR_MEMSLOTS is EINVAL',
      source: 'api.rst 4.35; kvm_set_memory_region (id >= KVM_USER_MEM_SLOTS)',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        const slots = context.kvm.checkExtension(Capability.NR_MEMSLOTS);
        const memory = machine.vm.createMemory(PAGE);
        context.defer(() => memory.close());
        expectKvmError(
          () =>
            machine.vm.setUserMemoryRegion({
              slot: slots,
              flags: 0,
              guestPhysAddr: BigInt(Layout.EXTRA_SLOT_ADDR),
              memorySize: BigInt(PAGE),
              memory,
            }),
          'EINVAL',
        );
      },
    },
    {
      id: 'memory.address-spaces',
      title: 'a slot in address space 1 is accepted exactly when KVM_CAP_MULTI_ADDRESS_SPACE is above 1',
      source:
        'api.rst 4.35 (bits 16-31 of slot select the address space) and 8.x KVM_CAP_MULTI_ADDRESS_SPACE',
      checkedOn: ['kvm_pvm', 'kvm_amd'],
      run(context) {
        const machine = probeMachine(context);
        const spaces = context.kvm.checkExtension(Capability.MULTI_ADDRESS_SPACE);
        const memory = machine.vm.createMemory(PAGE);
        context.defer(() => memory.close());
        const region = {
          slot: (1 << 16) | 0,
          flags: 0,
          guestPhysAddr: BigInt(Layout.EXTRA_SLOT_ADDR),
          memorySize: BigInt(PAGE),
          memory,
        };
        if (spaces > 1) {
          machine.vm.setUserMemoryRegion(region);
          machine.vm.setUserMemoryRegion({ ...region, memorySize: 0n });
        } else {
          expectKvmError(() => machine.vm.setUserMemoryRegion(region), 'EINVAL');
        }
      },
    },
  ],
};
