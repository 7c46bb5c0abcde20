/**
 * The in-kernel devices wired into the run loop (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2): guests program the
 * PIC, IOAPIC, local APIC and PIT through their ports and pages, which never reach the VMM, and take timer
 * interrupts in HLT loops that wait inside KVM_RUN. The guests time their interrupts with RDTSC, so the checks
 * also prove that the TSC, the PIT and the LAPIC timer count the same virtual time (1 GHz TSC, 1.193182 MHz
 * PIT). Guest code is nasm listings (bytes and disassembly).
 */
import { Capability, type Kvm, type KvmCpuidEntry2, MpState, PitFlag } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backend, type EmulatorVm } from '../src/index.js';
import { expectExit, expectOut, listing, machineFor, writeGate32 } from './support/listing.js';

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('in-kernel device tests');
});
afterEach(() => kvm.close());

/** PIT input clock (Hz) and the divisor the guests program: 1193 counts, a period of 999,847 ns. */
const PIT_HZ = 1_193_182;
const DIVISOR = 1193;
/** Nanoseconds (= TSC ticks at the emulator's 1 GHz) in `counts` PIT input clocks. */
const pitNs = (counts: number) => (counts * 1e9) / PIT_HZ;

/** Where the guests keep their tick count (the TSC at the first and last tick follow it). */
const COUNT = 0x9000;

// Real mode: remap the master PIC to vectors 0x20-0x27, unmask IRQ0, PIT channel 0 mode 2 at ~1 kHz, then
// count five interrupts in a HLT loop; the ISR keeps the TSC of the first and the last tick.
const picPit = listing(`
    FA                         cli
    31C0                       xor ax, ax
    8ED8                       mov ds, ax
    C70680004910               mov word [0x20*4], isr
    C70682000000               mov word [0x20*4+2], 0
    B011                       mov al, 0x11
    E620                       out 0x20, al
    B020                       mov al, 0x20
    E621                       out 0x21, al
    B004                       mov al, 0x04
    E621                       out 0x21, al
    B001                       mov al, 0x01
    E621                       out 0x21, al
    B0FE                       mov al, 0xfe
    E621                       out 0x21, al
    B034                       mov al, 0x34
    E643                       out 0x43, al
    B8A904                     mov ax, 1193
    E640                       out 0x40, al
    88E0                       mov al, ah
    E640                       out 0x40, al
    FB                         sti
                               idle:
    F4                         hlt
    833E009005                 cmp word [COUNT], 5
    72F8                       jb idle
    FA                         cli
    66A10890                   mov eax, [LAST]
    662B060490                 sub eax, [FIRST]
    66E7E1                     out 0xe1, eax
    F4                         hlt
                               isr:
    6660                       pushad
    0F31                       rdtsc
    833E009000                 cmp word [COUNT], 0
    7504                       jne notfirst
    66A30490                   mov [FIRST], eax
                               notfirst:
    66A30890                   mov [LAST], eax
    FF060090                   inc word [COUNT]
    B020                       mov al, 0x20
    E620                       out 0x20, al
    6661                       popad
    CF                         iret
`);

// 32-bit protected mode: the PIC masked, the local APIC enabled (SVR), IOAPIC pin 0 (GSI 0, the PIT, by
// KVM's default routing) sent to vector 0x30; the ISR also keeps ISR bits 63:32 and EOIs the local APIC.
const ioapicPit = listing(`
    0F0115C0100000             lgdt [gdtr]
    0F011DC6100000             lidt [idtr]
    B0FF                       mov al, 0xff
    E621                       out 0x21, al
    E6A1                       out 0xa1, al
    C705F000E0FEFF010000       mov dword [0xfee000f0], 0x1ff
    C7050000C0FE10000000       mov dword [0xfec00000], 0x10
    C7051000C0FE30000000       mov dword [0xfec00010], 0x30
    C7050000C0FE11000000       mov dword [0xfec00000], 0x11
    C7051000C0FE00000000       mov dword [0xfec00010], 0
    B034                       mov al, 0x34
    E643                       out 0x43, al
    66B8A904                   mov ax, 1193
    E640                       out 0x40, al
    88E0                       mov al, ah
    E640                       out 0x40, al
    FB                         sti
                               idle:
    F4                         hlt
    833D0090000005             cmp dword [COUNT], 5
    72F6                       jb idle
    FA                         cli
    A108900000                 mov eax, [LAST]
    2B0504900000               sub eax, [FIRST]
    E7E1                       out 0xe1, eax
    A10C900000                 mov eax, [INSERVICE]
    E7E2                       out 0xe2, eax
    F4                         hlt
                               isr:
    60                         pushad
    0F31                       rdtsc
    833D0090000000             cmp dword [COUNT], 0
    7505                       jne notfirst
    A304900000                 mov [FIRST], eax
                               notfirst:
    A308900000                 mov [LAST], eax
    FF0500900000               inc dword [COUNT]
    A11001E0FE                 mov eax, [0xfee00110]
    A30C900000                 mov [INSERVICE], eax
    C705B000E0FE00000000       mov dword [0xfee000b0], 0
    61                         popad
    CF                         iret
    90                         align 8
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
                               gdtr:
    1700                       dw 23
    A8100000                   dd gdt
                               idtr:
    0702                       dw 0x41*8-1
    00A00000                   dd 0xa000
`);

// 32-bit protected mode: the LAPIC timer periodic, divide by 1, vector 0x40, 1,000,000 bus cycles (1 ms).
const lapicTimer = listing(`
    0F011590100000             lgdt [gdtr]
    0F011D96100000             lidt [idtr]
    C705F000E0FEFF010000       mov dword [0xfee000f0], 0x1ff
    C705E003E0FE0B000000       mov dword [0xfee003e0], 0xb
    C7052003E0FE40000200       mov dword [0xfee00320], 0x20040
    C7058003E0FE40420F00       mov dword [0xfee00380], 1000000
    FB                         sti
                               idle:
    F4                         hlt
    833D0090000005             cmp dword [COUNT], 5
    72F6                       jb idle
    FA                         cli
    A108900000                 mov eax, [LAST]
    2B0504900000               sub eax, [FIRST]
    E7E1                       out 0xe1, eax
    F4                         hlt
                               isr:
    60                         pushad
    0F31                       rdtsc
    833D0090000000             cmp dword [COUNT], 0
    7505                       jne notfirst
    A304900000                 mov [FIRST], eax
                               notfirst:
    A308900000                 mov [LAST], eax
    FF0500900000               inc dword [COUNT]
    C705B000E0FE00000000       mov dword [0xfee000b0], 0
    61                         popad
    CF                         iret
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
                               gdtr:
    1700                       dw 23
    78100000                   dd gdt
                               idtr:
    0702                       dw 0x41*8-1
    00A00000                   dd 0xa000
`);

// Linux's PIT calibration of the TSC (arch/x86/kernel/tsc.c `pit_calibrate_tsc`): channel 2 in mode 0 gated
// through port 0x61, RDTSC before the count runs out and after port 0x61 bit 5 (OUT2) goes high.
const calibrate = listing(`
    E461                       in al, 0x61
    24FD                       and al, 0xfd
    0C01                       or al, 0x01
    E661                       out 0x61, al
    B0B0                       mov al, 0xb0
    E643                       out 0x43, al
    B0A9                       mov al, 1193 & 0xff
    E642                       out 0x42, al
    B004                       mov al, 1193 >> 8
    E642                       out 0x42, al
    0F31                       rdtsc
    6689C3                     mov ebx, eax
                               poll:
    E461                       in al, 0x61
    A820                       test al, 0x20
    74FA                       jz poll
    0F31                       rdtsc
    6629D8                     sub eax, ebx
    66E7E1                     out 0xe1, eax
    F4                         hlt
`);

// Real mode: the PIC as above, PIT channel 0 in mode 0 (one interrupt at terminal count) with 65535 counts
// (55 ms), interrupts on, then the count rewritten to 100 (84 us) while the guest spins: the ISR reports the
// TSC ticks from the rewrite to the interrupt.
const pitMovedNearer = listing(`
    FA                         cli
    31C0                       xor ax, ax
    8ED8                       mov ds, ax
    C70680004410               mov word [0x20*4], isr
    C70682000000               mov word [0x20*4+2], 0
    B011                       mov al, 0x11
    E620                       out 0x20, al
    B020                       mov al, 0x20
    E621                       out 0x21, al
    B004                       mov al, 0x04
    E621                       out 0x21, al
    B001                       mov al, 0x01
    E621                       out 0x21, al
    B0FE                       mov al, 0xfe
    E621                       out 0x21, al
    B030                       mov al, 0x30
    E643                       out 0x43, al
    B0FF                       mov al, 0xff
    E640                       out 0x40, al
    E640                       out 0x40, al
    FB                         sti
    B030                       mov al, 0x30
    E643                       out 0x43, al
    B064                       mov al, 100
    E640                       out 0x40, al
    30C0                       xor al, al
    E640                       out 0x40, al
    0F31                       rdtsc
    66A30090                   mov [COUNT], eax
                               spin:
    EBFE                       jmp spin
                               isr:
    0F31                       rdtsc
    662B060090                 sub eax, [COUNT]
    66E7E1                     out 0xe1, eax
    F4                         hlt
`);

describe('in-kernel PIC and PIT', () => {
  it('a real-mode guest programs the PIC and PIT and takes five timer interrupts in HLT', () => {
    using m = machineFor(kvm, 'real', picPit, { irqchip: true });
    m.vm.createPit2({ flags: 0 });
    (m.vm as EmulatorVm).idleTime = 'skip';
    // The PIC's and PIT's ports never exit: the first exit is the guest's report.
    const delta = expectOut(m.vcpu, 0xe1);
    expect(new DataView(m.ram.buffer, m.ram.byteOffset).getUint16(COUNT, true)).toBe(5);
    // Four PIT periods between the first and the fifth tick, measured with the TSC.
    expect(Math.abs(delta - pitNs(4 * DIVISOR))).toBeLessThan(50);
    // The final HLT runs with IF clear: the vCPU stays HALTED inside KVM_RUN, which returns INTR.
    expect(m.vcpu.run().reason).toBe('intr');
    expect(m.vcpu.getMpState().mpState).toBe(MpState.HALTED);
    const pic = m.vm.getIrqchip(0);
    if (pic.chipId !== 0) throw new Error('expected the master PIC');
    expect(pic.pic.irqBase).toBe(0x20);
    expect(pic.pic.imr).toBe(0xfe);
    const ch0 = m.vm.getPit2().channels[0];
    expect(ch0.mode).toBe(2);
    expect(ch0.count).toBe(DIVISOR);
  });

  it('an OUT that brings the PIT deadline nearer takes effect at once, in the same KVM_RUN', () => {
    using m = machineFor(kvm, 'real', pitMovedNearer, { irqchip: true });
    m.vm.createPit2({ flags: 0 });
    // The ports are answered inside the run loop, which then must not keep running towards the 55 ms deadline
    // it had: the interrupt comes 100 PIT clocks after the rewrite (less the RDTSC's instruction).
    const ticks = expectOut(m.vcpu, 0xe1);
    expect(Math.abs(ticks - pitNs(100))).toBeLessThan(50);
  });

  it('with realtime idle (the default) five 1 ms ticks take at least 4 ms of host time', () => {
    using m = machineFor(kvm, 'real', picPit, { irqchip: true });
    m.vm.createPit2({ flags: 0 });
    expect((m.vm as EmulatorVm).idleTime).toBe('realtime');
    const t0 = performance.now();
    let exit = m.vcpu.run();
    while (exit.reason === 'intr' && performance.now() - t0 < 5000) exit = m.vcpu.run();
    expect(exit.reason === 'io' ? exit.port : exit.reason).toBe(0xe1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(4 * pitNs(DIVISOR) * 1e-6);
  });

  it("Linux's PIT calibration finds the TSC at 1 GHz (PIT without an irqchip, port 0x61 decoded)", () => {
    using m = machineFor(kvm, 'real', calibrate);
    m.vm.createPit2({ flags: PitFlag.SPEAKER_DUMMY });
    const cycles = expectOut(m.vcpu, 0xe1);
    // 1193 PIT clocks are 999,847 ns; the poll loop adds a few instructions (1 ns each).
    expect(Math.abs(cycles - pitNs(DIVISOR))).toBeLessThan(100);
    const khz = cycles / (DIVISOR / PIT_HZ) / 1000;
    expect(Math.abs(khz - 1_000_000)).toBeLessThan(100);
  });

  it('without KVM_PIT_SPEAKER_DUMMY port 0x61 exits to the VMM', () => {
    using m = machineFor(kvm, 'real', calibrate);
    m.vm.createPit2({ flags: 0 });
    const exit = expectExit(m.vcpu, 'io');
    expect(exit.reason === 'io' && exit.port).toBe(0x61);
  });

  it('without an irqchip or PIT, port 0x20 exits to the VMM and HLT exits', () => {
    using m = machineFor(kvm, 'real', picPit);
    const exit = expectExit(m.vcpu, 'io');
    expect(exit.reason === 'io' && exit.port).toBe(0x20);
    using h = machineFor(kvm, 'real', listing('F4  hlt'));
    expectExit(h.vcpu, 'hlt');
  });
});

describe('in-kernel IOAPIC and local APIC', () => {
  it('a protected-mode guest takes PIT interrupts through the IOAPIC and its local APIC', () => {
    using m = machineFor(kvm, 'protected', ioapicPit, { irqchip: true });
    m.vm.createPit2({ flags: 0 });
    (m.vm as EmulatorVm).idleTime = 'skip';
    writeGate32(m.ram, 0xa000, 0x30, 0x08, ioapicPit.labels.isr);
    const delta = expectOut(m.vcpu, 0xe1);
    expect(new DataView(m.ram.buffer, m.ram.byteOffset).getUint32(COUNT, true)).toBe(5);
    expect(Math.abs(delta - pitNs(4 * DIVISOR))).toBeLessThan(50);
    // Inside the handler vector 0x30 was in service: ISR bit 0x30 is bit 16 of the register at 0x110.
    expect(expectOut(m.vcpu, 0xe2)).toBe(1 << 16);
    const ioapic = m.vm.getIrqchip(2);
    if (ioapic.chipId !== 2) throw new Error('expected the IOAPIC');
    expect(ioapic.ioapic.redirtbl[0]).toBe(0x30n);
    // The EOI emptied the ISR.
    const regs = new DataView(m.vcpu.getLapic().regs.buffer);
    expect(regs.getUint32(0x110, true)).toBe(0);
  });

  it('the LAPIC timer in periodic mode interrupts every 1,000,000 bus cycles', () => {
    using m = machineFor(kvm, 'protected', lapicTimer, { irqchip: true });
    (m.vm as EmulatorVm).idleTime = 'skip';
    writeGate32(m.ram, 0xa000, 0x40, 0x08, lapicTimer.labels.isr);
    const delta = expectOut(m.vcpu, 0xe1);
    expect(new DataView(m.ram.buffer, m.ram.byteOffset).getUint32(COUNT, true)).toBe(5);
    expect(Math.abs(delta - 4_000_000)).toBeLessThan(50);
    const regs = new DataView(m.vcpu.getLapic().regs.buffer);
    expect(regs.getUint32(0x320, true)).toBe(0x20040);
    expect(regs.getUint32(0x380, true)).toBe(1_000_000);
    // The timer keeps running: the current count is within one period.
    const current = regs.getUint32(0x390, true);
    expect(current).toBeGreaterThan(0);
    expect(current).toBeLessThanOrEqual(1_000_000);
  });
});

// 32-bit protected mode, x2APIC through the MSRs: SVR, the LVT timer in TSC-deadline mode (vector 0x40), a
// deadline 500,000 TSC ticks ahead; the ISR keeps the TSC it ran at and EOIs through MSR 0x80b.
const tscDeadline = listing(`
    0F0115A8100000             lgdt [gdtr]
    0F011DAE100000             lidt [idtr]
    B91B000000                 mov ecx, 0x1b
    0F32                       rdmsr
    0D000C0000                 or eax, 0xc00
    0F30                       wrmsr
    B90F080000                 mov ecx, 0x80f
    B8FF010000                 mov eax, 0x1ff
    31D2                       xor edx, edx
    0F30                       wrmsr
    B932080000                 mov ecx, 0x832
    B840000400                 mov eax, 0x40040
    0F30                       wrmsr
    0F31                       rdtsc
    0520A10700                 add eax, 500000
    83D200                     adc edx, 0
    A304900000                 mov [0x9004], eax
    B9E0060000                 mov ecx, 0x6e0
    0F30                       wrmsr
    FB                         sti
                               idle:
    F4                         hlt
    833D0090000001             cmp dword [0x9000], 1
    72F6                       jb idle
    FA                         cli
    A108900000                 mov eax, [0x9008]
    2B0504900000               sub eax, [0x9004]
    E7E1                       out 0xe1, eax
    B9E0060000                 mov ecx, 0x6e0
    0F32                       rdmsr
    E7E2                       out 0xe2, eax
    F4                         hlt
                               isr:
    60                         pushad
    0F31                       rdtsc
    A308900000                 mov [0x9008], eax
    FF0500900000               inc dword [0x9000]
    B90B080000                 mov ecx, 0x80b
    31C0                       xor eax, eax
    31D2                       xor edx, edx
    0F30                       wrmsr
    61                         popad
    CF                         iret
    909090909090               align 8
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
                               gdtr:
    1700                       dw 23
    90100000                   dd gdt
                               idtr:
    0702                       dw 0x41*8-1
    00A00000                   dd 0xa000
`);

// 64-bit mode, x2APIC: MOV to CR8 sets the TPR (MSR 0x808) and a TPR write shows in CR8.
const cr8Tpr = listing(`
    B91B000000                 mov ecx, 0x1b
    0F32                       rdmsr
    0D000C0000                 or eax, 0xc00
    0F30                       wrmsr
    B805000000                 mov eax, 5
    440F22C0                   mov cr8, rax
    B908080000                 mov ecx, 0x808
    0F32                       rdmsr
    E7E1                       out 0xe1, eax
    B908080000                 mov ecx, 0x808
    B830000000                 mov eax, 0x30
    31D2                       xor edx, edx
    0F30                       wrmsr
    440F20C0                   mov rax, cr8
    E7E2                       out 0xe2, eax
    F4                         hlt
`);

// Real mode without an irqchip: an OUT exit, during which the VMM injects vector 0x30 (KVM_INTERRUPT).
const outThenInterrupt = listing(`
    31C0                       xor ax, ax
    8ED8                       mov ds, ax
    C706C0001810               mov word [0x30*4], isr
    C706C2000000               mov word [0x30*4+2], 0
    FB                         sti
    90                         nop
    E6E0                       out 0xe0, al
    E6E1                       out 0xe1, al
    FA                         cli
    F4                         hlt
                               isr:
    E6E2                       out 0xe2, al
    CF                         iret
`);

/**
 * The supported CPUID with the x2APIC bit (leaf 1 ECX bit 21), which IA32_APIC_BASE's x2APIC mode needs, and
 * the TSC-deadline bit (24), which a VMM sets when KVM_CAP_TSC_DEADLINE_TIMER is there (api.rst: KVM does not
 * report it in KVM_GET_SUPPORTED_CPUID); without it the LVT timer has no TSC-deadline mode.
 */
function withX2apic(k: Kvm): KvmCpuidEntry2[] {
  expect(k.checkExtension(Capability.TSC_DEADLINE_TIMER)).toBe(1);
  const bits = (1 << 21) | (1 << 24);
  return k.getSupportedCpuid().map((e) => (e.function === 1 ? { ...e, ecx: (e.ecx | bits) >>> 0 } : e));
}

describe('x2APIC, TSC deadline and CR8', () => {
  it('IA32_APIC_BASE refuses x2APIC mode without CPUID x2APIC (#GP), as KVM does', () => {
    using m = machineFor(kvm, 'long', cr8Tpr, { irqchip: true });
    const x2apic = 1 << 21;
    m.vcpu.setCpuid2(
      kvm.getSupportedCpuid().map((e) => (e.function === 1 ? { ...e, ecx: e.ecx & ~x2apic } : e)),
    );
    // The first WRMSR (x2APIC on) faults; with no IDT entry that ends in a triple fault.
    expectExit(m.vcpu, 'shutdown');
    expect(m.vcpu.setMsrs([{ index: 0x1b, data: 0xfee00c00n }])).toBe(0);
    using n = machineFor(kvm, 'long', cr8Tpr, { irqchip: true });
    n.vcpu.setCpuid2(withX2apic(kvm));
    expect(n.vcpu.setMsrs([{ index: 0x1b, data: 0xfee00d00n }])).toBe(1);
    expect(n.vcpu.getMsrs([0x1b])[0].data).toBe(0xfee00d00n);
    // x2APIC without the global enable bit is an invalid mode.
    expect(n.vcpu.setMsrs([{ index: 0x1b, data: 0xfee00500n }])).toBe(0);
  });

  it('the TSC-deadline timer fires at the deadline written to IA32_TSC_DEADLINE, which then reads 0', () => {
    using m = machineFor(kvm, 'protected', tscDeadline, { irqchip: true });
    m.vcpu.setCpuid2(withX2apic(kvm));
    (m.vm as EmulatorVm).idleTime = 'skip';
    writeGate32(m.ram, 0xa000, 0x40, 0x08, tscDeadline.labels.isr);
    const late = expectOut(m.vcpu, 0xe1);
    // The interrupt comes at the deadline, a few instructions (1 ns each) of delivery later, never before.
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(50);
    expect(expectOut(m.vcpu, 0xe2)).toBe(0);
    expect(m.vcpu.getSregs().apicBase & 0xc00n).toBe(0xc00n);
  });

  it('MOV to CR8 is the TPR of the in-kernel APIC, in the guest and through KVM_GET/SET_SREGS', () => {
    using m = machineFor(kvm, 'long', cr8Tpr, { irqchip: true });
    m.vcpu.setCpuid2(withX2apic(kvm));
    expect(expectOut(m.vcpu, 0xe1)).toBe(0x50);
    expect(expectOut(m.vcpu, 0xe2)).toBe(3);
    expect(m.vcpu.getSregs().cr8).toBe(3n);
    m.vcpu.setSregs({ ...m.vcpu.getSregs(), cr8: 9n });
    expect(new DataView(m.vcpu.getLapic().regs.buffer).getUint32(0x80, true)).toBe(0x90);
  });
});

describe('exit completion', () => {
  it('an OUT the VMM handled completes before an interrupt injected meanwhile is delivered', () => {
    using m = machineFor(kvm, 'real', outThenInterrupt);
    expectOut(m.vcpu, 0xe0, 1);
    m.vcpu.interrupt(0x30);
    // As KVM: the OUT has retired, the handler runs next, and the OUT is not repeated after its IRET.
    expectOut(m.vcpu, 0xe2, 1);
    expectOut(m.vcpu, 0xe1, 1);
    expectExit(m.vcpu, 'hlt');
  });
});

// The BSP (32-bit protected mode) starts AP 1 the way an MP kernel does: INIT, then a start-up IPI with
// vector 0x20, through the xAPIC ICR page (ICR2 holds the destination APIC ID).
const startAp = listing(`
    C7051003E0FE00000001       mov dword [0xfee00310], 0x01000000
    C7050003E0FE00450000       mov dword [0xfee00300], 0x00004500
    C7050003E0FE20460000       mov dword [0xfee00300], 0x00004620
    E6E1                       out 0xe1, al
    F4                         hlt
`);

// The AP's code at 0x20000 (vector 0x20 << 12), real mode: report CS.
const apCode = listing(
  `
    8CC8                       mov ax, cs
    E7E3                       out 0xe3, ax
    F4                         hlt
`,
  0x20000,
);

describe('INIT and start-up IPIs', () => {
  it('an AP waits UNINITIALIZED until INIT and SIPI from the BSP start it at the SIPI vector', () => {
    using m = machineFor(kvm, 'protected', startAp, { irqchip: true });
    m.ram.set(apCode.bytes, apCode.origin);
    using ap = m.vm.createVcpu(1);
    expect(ap.getMpState().mpState).toBe(MpState.UNINITIALIZED);
    expect(ap.run().reason).toBe('intr');
    expectOut(m.vcpu, 0xe1, 1);
    expect(expectOut(ap, 0xe3, 2)).toBe(0x2000);
    expect(ap.getMpState().mpState).toBe(MpState.RUNNABLE);
    expect(ap.getSregs().cs.base).toBe(0x20000n);
  });
});

// 32-bit protected mode: CMPSD reads two registers of the local APIC page in one instruction.
const twoApicReads = listing(`
    BE3000E0FE                 mov esi, 0xfee00030
    BF2000E0FE                 mov edi, 0xfee00020
    A7                         cmpsd
    E6E1                       out 0xe1, al
    F4                         hlt
`);

describe('device accesses the run loop cannot complete', () => {
  it('an instruction with two device MMIO reads ends the run with INTR instead of holding the host', () => {
    using m = machineFor(kvm, 'protected', twoApicReads, { irqchip: true });
    const t0 = performance.now();
    expect(m.vcpu.run().reason).toBe('intr');
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(m.vcpu.getRegs().rip).toBe(BigInt(twoApicReads.origin + 10));
  });
});
