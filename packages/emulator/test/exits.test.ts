/**
 * Exits and run controls as KVM produces them (api.rst section 5): immediate exit, the run budget, the
 * interrupt window and KVM_INTERRUPT injection, single-step and breakpoint DEBUG exits, IN completion,
 * read-only slots, the dirty log, self-modifying code, #UD for an instruction the CPU lacks, and triple
 * fault. Guest code is nasm listings (bytes and disassembly).
 */
import { GuestDebugFlag, type Kvm, MemFlag } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backend, type EmulatorVcpu } from '../src/index.js';
import { expectExit, expectOut, listing, machineFor, runToExit } from './support/listing.js';

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('exit tests');
});
afterEach(() => kvm.close());

const steps = listing(`
    B80100                     mov ax, 1
    83C002                     add ax, 2
    CC                         int3
    89C3                       mov bx, ax
    F4                         hlt
`);

// The same without the INT3 (which, without a debugger, goes through the IVT's empty vector 3).
const plain = listing(`
    B80100                     mov ax, 1
    83C002                     add ax, 2
    90                         nop
    89C3                       mov bx, ax
    F4                         hlt
`);

describe('run controls', () => {
  it('immediateExit returns INTR without running the guest', () => {
    using m = machineFor(kvm, 'real', plain);
    m.vcpu.immediateExit = true;
    expect(m.vcpu.run().reason).toBe('intr');
    expect(m.vcpu.getRegs().rip).toBe(0x1000n);
    m.vcpu.immediateExit = false;
    expect(m.vcpu.run().reason).toBe('hlt');
  });

  it('a guest that never exits returns INTR when its instruction budget is spent', () => {
    // EB FE: jmp $
    using m = machineFor(kvm, 'real', listing('EBFE  jmp $'));
    (m.vcpu as EmulatorVcpu).instructionBudget = 1000;
    expect(m.vcpu.run().reason).toBe('intr');
    expect(m.vcpu.getRegs().rip).toBe(0x1000n);
  });

  it('with timeSliceMs a guest that never exits returns INTR after about that long', () => {
    using m = machineFor(kvm, 'real', listing('EBFE  jmp $'));
    const vcpu = m.vcpu as EmulatorVcpu;
    vcpu.instructionBudget = Number.MAX_SAFE_INTEGER;
    vcpu.timeSliceMs = 20;
    const t0 = performance.now();
    expect(vcpu.run().reason).toBe('intr');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(20);
  });

  it('a kick through kickSignal (shared memory another thread can set) ends a run with INTR', () => {
    using m = machineFor(kvm, 'real', listing('EBFE  jmp $'));
    const vcpu = m.vcpu as EmulatorVcpu;
    vcpu.kickSignal = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(vcpu.kickSignal, 0, 1);
    expect(vcpu.run().reason).toBe('intr');
    expect(vcpu.getRegs().rip).toBe(0x1000n);
  });

  it('a JavaScript exception inside the emulator becomes an INTERNAL_ERROR exit, not a host crash', () => {
    using m = machineFor(kvm, 'real', plain);
    const vcpu = m.vcpu as EmulatorVcpu;
    const bug = new Error('simulated emulator bug');
    vcpu.cpu.fetch = () => {
      throw bug;
    };
    const exit = vcpu.run();
    expect(exit.reason === 'internal_error' && exit.suberror).toBe(1);
    expect(vcpu.lastInternalError).toBe(bug);
  });

  it('an IN is completed by the next run, even one that exits at once with immediateExit', () => {
    // E4 11: in al, 0x11; F4: hlt
    using m = machineFor(
      kvm,
      'real',
      listing(`
    E411  in al, 0x11
    F4    hlt`),
    );
    const exit = m.vcpu.run();
    expect(exit.reason === 'io' && [exit.direction, exit.port, exit.size, exit.count]).toEqual([
      0, 0x11, 1, 1,
    ]);
    // As with KVM's fast PIO, RIP stays on the IN until the next KVM_RUN completes it.
    expect(m.vcpu.getRegs().rip).toBe(0x1000n);
    if (exit.reason === 'io') exit.data[0] = 0x5a;
    m.vcpu.immediateExit = true;
    expect(m.vcpu.run().reason).toBe('intr');
    const regs = m.vcpu.getRegs();
    expect([regs.rax & 0xffn, regs.rip]).toEqual([0x5an, 0x1002n]);
  });
});

describe('port IO', () => {
  it('OUT, IN and REP OUTSB leave RIP, RSI and RCX at each exit where KVM does', () => {
    // Measured on KVM (a C probe on /dev/kvm) with RSI = 0x2000, RCX = 2, DX = 0x600.
    using m = machineFor(
      kvm,
      'real',
      listing(`
    E610   out 0x10, al
    E411   in al, 0x11
    F36E   rep outsb
    F4     hlt`),
    );
    const regs = m.vcpu.getRegs();
    m.vcpu.setRegs({ ...regs, rsi: 0x2000n, rcx: 2n, rdx: 0x600n });
    m.ram.set([0x41, 0x42], 0x2000);
    const seen: string[] = [];
    for (let k = 0; k < 5; k++) {
      const exit = m.vcpu.run();
      const r = m.vcpu.getRegs();
      seen.push(
        `${exit.reason} ${exit.reason === 'io' ? exit.port.toString(16) : ''} ${r.rip.toString(16)} ${r.rsi.toString(16)} ${r.rcx}`,
      );
      if (exit.reason === 'io' && exit.direction === 0) exit.data[0] = 0x5a;
      if (exit.reason === 'hlt') break;
    }
    // KVM's fast PIO keeps RIP on OUT and IN until the next run (hardware KVM; PVM advances it after an OUT).
    expect(seen).toEqual([
      'io 10 1000 2000 2',
      'io 11 1002 2000 2',
      'io 600 1004 2001 1',
      'io 600 1004 2002 0',
      'hlt  1007 2002 0',
    ]);
  });
});

describe('MMIO', () => {
  it('an MMIO write exits after the instruction, an MMIO read before it and completes on the next run', () => {
    // Measured on KVM with the same code: RIP 0x1008 at both exits, AL = the VMM's byte after the read.
    using m = machineFor(
      kvm,
      'real',
      listing(`
    B800D0   mov ax, 0xd000
    8ED8     mov ds, ax
    A20000   mov [0], al
    A00200   mov al, [2]
    F4       hlt`),
    );
    const write = m.vcpu.run();
    expect(write.reason === 'mmio' && [write.isWrite, write.physAddr, write.len, write.data[0]]).toEqual([
      true,
      0xd0000n,
      1,
      0x00,
    ]);
    expect(m.vcpu.getRegs().rip).toBe(0x1008n);
    const read = m.vcpu.run();
    expect(read.reason === 'mmio' && [read.isWrite, read.physAddr, read.len]).toEqual([false, 0xd0002n, 1]);
    expect(m.vcpu.getRegs().rip).toBe(0x1008n);
    if (read.reason === 'mmio') read.data[0] = 0x77;
    expect(m.vcpu.run().reason).toBe('hlt');
    const r = m.vcpu.getRegs();
    expect([r.rip, r.rax]).toEqual([0x100cn, 0xd077n]);
  });
});

describe('interrupts', () => {
  it('requestInterruptWindow exits after STI and its shadow; KVM_INTERRUPT is then delivered through the IVT', () => {
    const code = listing(`
    C70680001010               mov word [0x20*4], handler
    C70682000000               mov word [0x20*4+2], 0
    FB                         sti
    90                         nop
    90                         nop
    F4                         hlt
                               handler:
    B020                       mov al, 0x20
    E612                       out 0x12, al
    CF                         iret
    `);
    using m = machineFor(kvm, 'real', code);
    m.vcpu.requestInterruptWindow = true;
    expect(m.vcpu.run().reason).toBe('irq_window_open');
    // STI's shadow covers the first NOP: the window opens after it.
    expect(m.vcpu.getRegs().rip).toBe(BigInt(code.labels.handler - 2));
    expect(m.vcpu.readyForInterruptInjection).toBe(true);
    m.vcpu.requestInterruptWindow = false;
    m.vcpu.interrupt(0x20);
    expect(m.vcpu.getSregs().interruptBitmap[0]).toBe(1n << 32n);
    expect(expectOut(m.vcpu, 0x12, 1)).toBe(0x20);
    expectExit(m.vcpu, 'hlt');
  });

  it('TF set by POPF traps (#DB) after the next instruction; KVM_NMI is delivered through vector 2', () => {
    const code = listing(`
    C70604002310               mov word [1*4], db_handler
    C70606000000               mov word [1*4+2], 0
    C70608002710               mov word [2*4], nmi_handler
    C7060A000000               mov word [2*4+2], 0
    9C                         pushf
    58                         pop ax
    0D0001                     or ax, 0x100
    50                         push ax
    9D                         popf
    BB0100                     mov bx, 1
                               after:
    F4                         hlt
                               db_handler:
    58                         pop ax
    E710                       out 0x10, ax
    F4                         hlt
                               nmi_handler:
    B002                       mov al, 2
    E611                       out 0x11, al
    F4                         hlt
    `);
    using m = machineFor(kvm, 'real', code);
    // The #DB frame's IP is the instruction after MOV BX, 1.
    expect(expectOut(m.vcpu, 0x10, 2)).toBe(code.labels.after);
    expectExit(m.vcpu, 'hlt');
    m.vcpu.nmi();
    expect(m.vcpu.getVcpuEvents().nmi.pending).toBe(1);
    expect(expectOut(m.vcpu, 0x11, 1)).toBe(2);
    expect(m.vcpu.getVcpuEvents().nmi.masked).toBe(1);
  });

  it('BOUND passes an index inside the bounds and raises #BR (a fault, at the BOUND) outside them', () => {
    const code = listing(`
    C70614002910               mov word [5*4], handler
    C70616000000               mov word [5*4+2], 0
    C70600200A00               mov word [0x2000], 10
    C70602201400               mov word [0x2002], 20
    B80F00                     mov ax, 15
    62060020                   bound ax, [0x2000]
    E710                       out 0x10, ax
    B81900                     mov ax, 25
                               check:
    62060020                   bound ax, [0x2000]
    F4                         hlt
                               handler:
    58                         pop ax
    E711                       out 0x11, ax
    F4                         hlt
    `);
    using m = machineFor(kvm, 'real', code);
    expect(expectOut(m.vcpu, 0x10, 2)).toBe(15);
    expect(expectOut(m.vcpu, 0x11, 2)).toBe(code.labels.check);
  });

  it('an instruction the CPU does not implement raises #UD in the guest', () => {
    const code = listing(`
    C70618001010               mov word [6*4], handler
    C7061A000000               mov word [6*4+2], 0
    0F01C8                     monitor
    F4                         hlt
                               handler:
    58                         pop ax
    E710                       out 0x10, ax
    F4                         hlt
    `);
    using m = machineFor(kvm, 'real', code);
    // The #UD handler reports the faulting IP: the MONITOR (not offered, not implemented) at 0x100c.
    expect(expectOut(m.vcpu, 0x10, 2)).toBe(0x100c);
  });

  it('an exception with an empty IDT is a triple fault: SHUTDOWN', () => {
    using m = machineFor(
      kvm,
      'protected',
      listing(`
    0F011D09100000             lidt [idtr]
    0F0B                       ud2
                               idtr:
    0000                       dw 0
    00000000                   dd 0
    `),
    );
    expectExit(m.vcpu, 'shutdown');
  });
});

describe('guest debugging', () => {
  it('single-stepping gives one DEBUG exit per instruction with the next PC', () => {
    using m = machineFor(kvm, 'real', steps);
    m.vcpu.setGuestDebug({
      control: GuestDebugFlag.ENABLE | GuestDebugFlag.SINGLESTEP,
      debugreg: Array(8).fill(0n),
    });
    const pcs: bigint[] = [];
    for (let k = 0; k < 2; k++) {
      const exit = m.vcpu.run();
      expect(exit.reason).toBe('debug');
      if (exit.reason === 'debug') {
        expect(exit.exception).toBe(1);
        pcs.push(exit.pc);
      }
    }
    expect(pcs).toEqual([0x1003n, 0x1006n]);
  });

  it('INT3 with KVM_GUESTDBG_USE_SW_BP is a DEBUG exit at the INT3, not a guest #BP', () => {
    using m = machineFor(kvm, 'real', steps);
    m.vcpu.setGuestDebug({
      control: GuestDebugFlag.ENABLE | GuestDebugFlag.USE_SW_BP,
      debugreg: Array(8).fill(0n),
    });
    const exit = m.vcpu.run();
    expect(exit.reason === 'debug' && [exit.exception, exit.pc]).toEqual([3, 0x1006n]);
    expect(m.vcpu.getRegs().rax & 0xffffn).toBe(3n);
  });

  it('a hardware execution breakpoint stops before the instruction, once', () => {
    using m = machineFor(kvm, 'real', plain);
    const debugreg = [0x1003n, 0n, 0n, 0n, 0n, 0n, 0n, 0x1n];
    m.vcpu.setGuestDebug({ control: GuestDebugFlag.ENABLE | GuestDebugFlag.USE_HW_BP, debugreg });
    const exit = m.vcpu.run();
    expect(exit.reason === 'debug' && [exit.exception, exit.pc, exit.dr6 & 0xfn]).toEqual([1, 0x1003n, 1n]);
    expect(m.vcpu.getRegs().rax & 0xffffn).toBe(1n);
    m.vcpu.setGuestDebug({ control: 0, debugreg: Array(8).fill(0n) });
    expect(m.vcpu.run().reason).toBe('hlt');
  });
});

describe('memory', () => {
  it('a write into code ahead of the CPU is seen when it gets there', () => {
    const code = listing(`
    C606061055                 mov byte [target+1], 0x55
                               target:
    B011                       mov al, 0x11
    E610                       out 0x10, al
    F4                         hlt
    `);
    using m = machineFor(kvm, 'real', code);
    expect(expectOut(m.vcpu, 0x10, 1)).toBe(0x55);
  });

  it('code the VMM rewrites between runs is decoded afresh', () => {
    // B0 11: mov al, 0x11; E6 10: out 0x10, al; F4: hlt
    using m = machineFor(
      kvm,
      'real',
      listing(`
    B011  mov al, 0x11
    E610  out 0x10, al
    F4    hlt`),
    );
    expect(expectOut(m.vcpu, 0x10, 1)).toBe(0x11);
    expectExit(m.vcpu, 'hlt');
    m.ram[0x1001] = 0x22;
    m.restart();
    expect(expectOut(m.vcpu, 0x10, 1)).toBe(0x22);
  });

  it('a read-only slot reads from memory and turns writes into MMIO exits', () => {
    const code = listing(`
    A110000800                 mov eax, [0x80010]
    E710                       out 0x10, eax
    C70510000800EFBEADDEA110000800 mov eax, [0x80010]
    E710                       out 0x10, eax
    F4                         hlt
    `);
    using m = machineFor(kvm, 'protected', code);
    const rom = m.vm.createMemory(0x1000);
    new DataView(rom.bytes.buffer, rom.bytes.byteOffset).setUint32(0x10, 0x1234abcd, true);
    m.vm.setUserMemoryRegion({
      slot: 1,
      flags: MemFlag.READONLY,
      guestPhysAddr: 0x80000n,
      memorySize: 0x1000n,
      memory: rom,
    });
    expect(expectOut(m.vcpu, 0x10)).toBe(0x1234abcd);
    const exit = runToExit(m.vcpu);
    expect(
      exit.reason === 'mmio' && [exit.isWrite, exit.physAddr, exit.len, [...exit.data.subarray(0, 4)]],
    ).toEqual([true, 0x80010n, 4, [0xef, 0xbe, 0xad, 0xde]]);
    expect(expectOut(m.vcpu, 0x10)).toBe(0x1234abcd);
  });

  it('the dirty log has a bit per written 4 KiB page, cleared by each KVM_GET_DIRTY_LOG', () => {
    const code = listing(`
    C7050030080001000000E610   out 0x10, al
    C7050430080002000000C7050010080003000000E610 out 0x10, al
    C7050000080004000000F4     hlt
    `);
    using m = machineFor(kvm, 'protected', code);
    const extra = m.vm.createMemory(0x8000);
    m.vm.setUserMemoryRegion({
      slot: 1,
      flags: MemFlag.LOG_DIRTY_PAGES,
      guestPhysAddr: 0x80000n,
      memorySize: 0x8000n,
      memory: extra,
    });
    expectOut(m.vcpu, 0x10, 1);
    expect([...m.vm.getDirtyLog(1)]).toEqual([0x08, 0, 0, 0, 0, 0, 0, 0]);
    expectOut(m.vcpu, 0x10, 1);
    // Page 3 again (after the log was taken) and page 1.
    expect([...m.vm.getDirtyLog(1)]).toEqual([0x0a, 0, 0, 0, 0, 0, 0, 0]);
    expectExit(m.vcpu, 'hlt');
    expect(m.vm.getDirtyLog(1)[0]).toBe(0x01);
    expect(m.vm.getDirtyLog(1)[0]).toBe(0);
    expect(new DataView(extra.bytes.buffer, extra.bytes.byteOffset).getUint32(0x3004, true)).toBe(2);
  });
});
