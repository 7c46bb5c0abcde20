/**
 * CPU modes and the transitions and events between them, as guest programs (nasm listings: bytes and
 * disassembly) run through the emulator's API: real-mode interrupts through the IVT, protected-mode segment
 * loads and #GP through an IDT in memory, 32-bit paging with 4 KiB and 4 MiB pages and #PF, the boot path
 * from real mode to long mode, and long-mode privilege changes (IRETQ to ring 3, SYSCALL/SYSRET, an INT
 * through a DPL-3 gate onto the TSS's RSP0, an IST stack).
 */

import type { Kvm } from '@kvm-ts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backend } from '../src/index.js';
import { expectExit, expectOut, listing, machineFor, runToExit, writeGate32 } from './support/listing.js';

let kvm: Kvm;
beforeEach(() => {
  kvm = backend.open('mode tests');
});
afterEach(() => kvm.close());

describe('real mode', () => {
  it('INT n goes through the IVT and IRET returns', () => {
    const code = listing(`
    31C0                       xor ax, ax
    8ED8                       mov ds, ax
    C70600011810               mov word [0x40*4], handler
    C70602010000               mov word [0x40*4+2], 0
    B83412                     mov ax, 0x1234
    CD40                       int 0x40
    E710                       out 0x10, ax
    F4                         hlt
                               handler:
    83C001                     add ax, 1
    CF                         iret
    `);
    using m = machineFor(kvm, 'real', code);
    expect(expectOut(m.vcpu, 0x10, 2)).toBe(0x1235);
    expectExit(m.vcpu, 'hlt');
  });
});

describe('protected mode', () => {
  it('a far jump reloads CS from the GDT, and a selector past the GDT limit raises #GP(selector)', () => {
    const code = listing(`
    0F011550100000             lgdt [gdtr]
    0F011D56100000             lidt [idtr]
    EA151000000800             jmp 0x08:next
                               next:
    66B81000                   mov ax, 0x10
    8ED8                       mov ds, ax
    8ED0                       mov ss, ax
    BC00800000                 mov esp, 0x8000
    66B83300                   mov ax, 0x33
    8EE0                       mov fs, ax
    F4                         hlt
                               gp_handler:
    58                         pop eax
    E710                       out 0x10, eax
    8B0424                     mov eax, [esp]
    E711                       out 0x11, eax
    F4                         hlt
    909090909090               align 8
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
                               gdt_end:
                               gdtr:
    1700                       dw gdt_end - gdt - 1
    38100000                   dd gdt
                               idtr:
    6F00                       dw 14*8 - 1
    00A00000                   dd 0xa000
    `);
    using m = machineFor(kvm, 'protected', code);
    writeGate32(m.ram, 0xa000, 13, 0x08, code.labels.gp_handler);
    expect(expectOut(m.vcpu, 0x10)).toBe(0x30);
    // The return address is the faulting MOV FS (a fault, not a trap): 8 bytes before gp_handler.
    expect(expectOut(m.vcpu, 0x11)).toBe(code.labels.gp_handler - 3);
    expect(m.vcpu.getSregs().cs.selector).toBe(0x08);
  });

  it('LSL, LAR, VERR and VERW answer in ZF and load limits and access rights', () => {
    const code = listing(`
    0F011560100000             lgdt [gdtr]
    66B81000                   mov ax, 0x10
    0F03C0                     lsl eax, ax
    E710                       out 0x10, eax
    66B90800                   mov cx, 0x08
    0F02D9                     lar ebx, cx
    89D8                       mov eax, ebx
    E711                       out 0x11, eax
    66BA3300                   mov dx, 0x33
    0F02F2                     lar esi, dx
    0F94C0                     setz al
    E612                       out 0x12, al
    0F00E1                     verr cx
    0F94C0                     setz al
    E613                       out 0x13, al
    0F00E9                     verw cx
    0F94C0                     setz al
    E614                       out 0x14, al
    66BA1000                   mov dx, 0x10
    0F00EA                     verw dx
    0F94C0                     setz al
    E615                       out 0x15, al
    F4                         hlt
    90909090                   align 8
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
                               gdt_end:
                               gdtr:
    1700                       dw gdt_end - gdt - 1
    48100000                   dd gdt
    `);
    using m = machineFor(kvm, 'protected', code);
    expect(expectOut(m.vcpu, 0x10)).toBe(0xffffffff);
    // Access rights: the descriptor's second dword masked by 00FxFF00H (bits 19:16 are undefined).
    expect(expectOut(m.vcpu, 0x11) & 0x00f0ff00).toBe(0x00c09a00);
    expect(expectOut(m.vcpu, 0x12, 1)).toBe(0);
    expect(expectOut(m.vcpu, 0x13, 1)).toBe(1);
    expect(expectOut(m.vcpu, 0x14, 1)).toBe(0);
    expect(expectOut(m.vcpu, 0x15, 1)).toBe(1);
  });

  it('32-bit paging: a 4 KiB page maps, a write to a read-only page with CR0.WP is #PF with CR2 and error code 3', () => {
    const code = listing(`
    0F011590100000             lgdt [gdtr]
    0F011D96100000             lidt [idtr]
    C7050000020083000000C7050400020003100200C7051410020001300000C70500300000FECA00000F20E0 mov eax, cr4
    83C810                     or eax, 0x10
    0F22E0                     mov cr4, eax
    B800000200                 mov eax, 0x20000
    0F22D8                     mov cr3, eax
    0F20C0                     mov eax, cr0
    0D00000180                 or eax, 0x80010000
    0F22C0                     mov cr0, eax
    A100504000                 mov eax, [0x405000]
    E710                       out 0x10, eax
    C7050050400001000000F4     hlt
                               pf_handler:
    58                         pop eax
    E711                       out 0x11, eax
    0F20D0                     mov eax, cr2
    E712                       out 0x12, eax
    A114100200                 mov eax, [0x21014]
    E713                       out 0x13, eax
    F4                         hlt
    90909090                   align 8
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
                               gdt_end:
                               gdtr:
    1700                       dw gdt_end - gdt - 1
    78100000                   dd gdt
                               idtr:
    7700                       dw 15*8 - 1
    00A00000                   dd 0xa000
    `);
    using m = machineFor(kvm, 'protected', code);
    writeGate32(m.ram, 0xa000, 14, 0x08, code.labels.pf_handler);
    expect(expectOut(m.vcpu, 0x10)).toBe(0xcafe);
    expect(expectOut(m.vcpu, 0x11)).toBe(3);
    expect(expectOut(m.vcpu, 0x12)).toBe(0x405000);
    // The walk set the accessed bit (0x20) of the PTE but not the dirty bit (0x40): the write faulted.
    expect(expectOut(m.vcpu, 0x13)).toBe(0x3021);
    const t = m.vcpu.translate(0x405123n);
    expect([t.valid, t.physicalAddress]).toEqual([1, 0x3123n]);
    expect(m.vcpu.translate(0x406000n).valid).toBe(0);
  });
});

describe('protected mode privilege', () => {
  it('PAE paging, IRET to ring 3, and INT through a DPL-3 gate switches to the TSS ring-0 stack', () => {
    const code = listing(`
    0F0115B8100000             lgdt [gdtr]
    0F011DBE100000             lidt [idtr]
    66B82800                   mov ax, 0x28
    0F00D8                     ltr ax
    C705CC10000000700000C705D010000010000000C7050000020001100200C70500100200870000000F20E0 mov eax, cr4
    83C820                     or eax, 0x20
    0F22E0                     mov cr4, eax
    B800000200                 mov eax, 0x20000
    0F22D8                     mov cr3, eax
    0F20C0                     mov eax, cr0
    0D00000080                 or eax, 0x80000000
    0F22C0                     mov cr0, eax
    6A23                       push 0x23
    6800500000                 push 0x5000
    6A02                       push 0x2
    6A1B                       push 0x1b
    686A100000                 push user
    CF                         iret
                               user:
    B807000000                 mov eax, 7
    CD80                       int 0x80
    F4                         hlt
                               handler80:
    8B442404                   mov eax, [esp+4]
    E710                       out 0x10, eax
    8B442410                   mov eax, [esp+16]
    E711                       out 0x11, eax
    89E0                       mov eax, esp
    E712                       out 0x12, eax
    F4                         hlt
    9090909090                 align 8
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
    FFFF000000FACF00           dq 0x00cffa000000ffff
    FFFF000000F2CF00           dq 0x00cff2000000ffff
    6700C810                   dw 0x67, tss
    00890000                   db 0, 0x89, 0, 0
                               gdt_end:
                               gdtr:
    2F00                       dw gdt_end - gdt - 1
    88100000                   dd gdt
                               idtr:
    0704                       dw 0x81*8 - 1
    00A00000                   dd 0xa000
    90909090                   align 8
                               tss:
    `);
    using m = machineFor(kvm, 'protected', code);
    writeGate32(m.ram, 0xa000, 0x80, 0x08, code.labels.handler80, 3);
    // The frame on the ring-0 stack: EIP, CS (0x1b), EFLAGS, ESP (0x5000), SS (0x23).
    expect(expectOut(m.vcpu, 0x10)).toBe(0x1b);
    expect(expectOut(m.vcpu, 0x11)).toBe(0x23);
    expect(expectOut(m.vcpu, 0x12)).toBe(0x7000 - 20);
    expectExit(m.vcpu, 'hlt');
  });
});

describe('virtual-8086 mode', () => {
  it('IRET with VM set enters it (segments as in real mode, CPL 3); CLI with IOPL 0 is #GP to the ring-0 handler', () => {
    const code = listing(`
    0F0115B8100000             lgdt [gdtr]
    0F011DBE100000             lidt [idtr]
    66B82800                   mov ax, 0x28
    0F00D8                     ltr ax
    C705CC10000000700000C705D010000010000000BE79100000 mov esi, v86code
    BF00200000                 mov edi, 0x2000
    B90B000000                 mov ecx, v86end - v86code
    F3A4                       rep movsb
    6A00                       push dword 0x0
    6A00                       push dword 0x0
    6800030000                 push dword 0x300
    6A00                       push dword 0x0
    6800040000                 push dword 0x400
    6800010000                 push dword 0x100
    6802000200                 push dword 0x20002
    6800020000                 push dword 0x200
    6A00                       push dword 0x0
    CF                         iret
                               gp_handler:
    8B442408                   mov eax, [esp+8]
    E710                       out 0x10, eax
    8B44240C                   mov eax, [esp+12]
    E711                       out 0x11, eax
    8B44241C                   mov eax, [esp+28]
    E712                       out 0x12, eax
    89D8                       mov eax, ebx
    E713                       out 0x13, eax
    668CD8                     mov ax, ds
    66E714                     out 0x14, ax
    F4                         hlt
                               v86code:
    B83412                     mov ax, 0x1234
    A31000                     mov [0x10], ax
    8B1E1000                   mov bx, [0x10]
    FA                         cli
                               v86end:
    90909090                   align 8
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
    0000000000000000           dq 0
    0000000000000000           dq 0
    6700C810                   dw 0x67, tss
    00890000                   db 0, 0x89, 0, 0
                               gdt_end:
                               gdtr:
    2F00                       dw gdt_end - gdt - 1
    88100000                   dd gdt
                               idtr:
    0704                       dw 0x81*8 - 1
    00A00000                   dd 0xa000
    90909090                   align 8
                               tss:
    `);
    using m = machineFor(kvm, 'protected', code);
    writeGate32(m.ram, 0xa000, 13, 0x08, code.labels.gp_handler);
    // The frame: error code, EIP, CS (0x200), EFLAGS (VM set), ESP, SS, ES, DS (0x300), FS, GS.
    expect(expectOut(m.vcpu, 0x10)).toBe(0x200);
    expect(expectOut(m.vcpu, 0x11) & 0x20000).toBe(0x20000);
    expect(expectOut(m.vcpu, 0x12)).toBe(0x300);
    // The virtual-8086 code stored and loaded through DS = 0x300 (linear 0x3010).
    expect(expectOut(m.vcpu, 0x13) & 0xffff).toBe(0x1234);
    expect(m.ram[0x3010] | (m.ram[0x3011] << 8)).toBe(0x1234);
    // Data segments are null in the handler.
    expect(expectOut(m.vcpu, 0x14, 2)).toBe(0);
  });
});

describe('task switching', () => {
  it('a far CALL to a TSS switches tasks with NT and the back link; IRET switches back', () => {
    const code = listing(`
    0F0115C8100000             lgdt [gdtr]
    66B82800                   mov ax, 0x28
    0F00D8                     ltr ax
    C7055811000088100000C7055C11000002000000C70560110000B0B00000C7057011000000600000C7058011000010000000C7058411000008000000C7058811000010000000C7058C11000010000000C7059011000010000000C7059411000010000000B8A0A00000 mov eax, 0xa0a0
    9A000000003000             call 0x30:0
                               back:
    E712                       out 0x12, eax
    660F00C8                   str ax
    66E713                     out 0x13, ax
    F4                         hlt
                               taskB:
    E710                       out 0x10, eax
    9C                         pushf
    58                         pop eax
    E711                       out 0x11, eax
    CF                         iret
    90                         align 8
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
    0000000000000000           dq 0
    0000000000000000           dq 0
    6700D010                   dw 0x67, tssA
    00890000                   db 0, 0x89, 0, 0
    67003811                   dw 0x67, tssB
    00890000                   db 0, 0x89, 0, 0
                               gdt_end:
                               gdtr:
    3700                       dw gdt_end - gdt - 1
    90100000                   dd gdt
    9090                       align 16
                               tssA:
                               tssB:
    `);
    using m = machineFor(kvm, 'protected', code);
    // Task B starts with the registers of its TSS and NT set.
    expect(expectOut(m.vcpu, 0x10)).toBe(0xb0b0);
    expect(expectOut(m.vcpu, 0x11) & 0x4000).toBe(0x4000);
    // Back in task A (TR 0x28) with its saved EAX.
    expect(expectOut(m.vcpu, 0x12)).toBe(0xa0a0);
    expect(expectOut(m.vcpu, 0x13, 2)).toBe(0x28);
    // Task B's TSS (0x68 bytes after A's) links back to A; A's descriptor stayed busy, B's is free again.
    const tssB = code.labels.tssA + 0x68;
    expect(m.ram[tssB] | (m.ram[tssB + 1] << 8)).toBe(0x28);
    expect([m.ram[code.labels.gdt + 0x28 + 5], m.ram[code.labels.gdt + 0x30 + 5]]).toEqual([0x8b, 0x89]);
  });
});

describe('task gates', () => {
  it('a double fault through a task gate in the IDT runs the #DF task with error code 0 on its stack', () => {
    const code = listing(`
    0F0115C0100000             lgdt [gdtr]
    0F011DC6100000             lidt [idtr]
    66B82800                   mov ax, 0x28
    0F00D8                     ltr ax
    C7055811000076100000C7055C11000002000000C7057011000000600000C7058011000010000000C7058411000008000000C7058811000010000000C7058C11000010000000C7059011000010000000C705941100001000000066B83B00 mov ax, 0x3b
                               faulting:
    8EE0                       mov fs, ax
    F4                         hlt
                               df_task:
    58                         pop eax
    E710                       out 0x10, eax
    660F00C8                   str ax
    66E711                     out 0x11, ax
    A1F0100000                 mov eax, [tssA+0x20]
    E712                       out 0x12, eax
    F4                         hlt
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
    0000000000000000           dq 0
    0000000000000000           dq 0
    6700D010                   dw 0x67, tssA
    00890000                   db 0, 0x89, 0, 0
    67003811                   dw 0x67, tssB
    00890000                   db 0, 0x89, 0, 0
                               gdt_end:
                               gdtr:
    3700                       dw gdt_end - gdt - 1
    88100000                   dd gdt
                               idtr:
    6F00                       dw 14*8 - 1
    00A00000                   dd 0xa000
    90909090                   align 16
                               tssA:
                               tssB:
    `);
    using m = machineFor(kvm, 'protected', code);
    // #GP from the MOV FS meets a not-present #GP gate (#NP): both contributory, so #DF, whose gate is a
    // task gate to the TSS at 0x30.
    const gate = 0xa000 + 8 * 8;
    m.ram.set([0, 0, 0x30, 0, 0, 0x85, 0, 0], gate);
    expect(expectOut(m.vcpu, 0x10)).toBe(0);
    expect(expectOut(m.vcpu, 0x11, 2)).toBe(0x30);
    // The faulting task's EIP was saved into its TSS: the MOV FS.
    expect(expectOut(m.vcpu, 0x12)).toBe(code.labels.faulting);
  });
});

describe('call gates', () => {
  it('a far CALL from ring 3 through a 32-bit call gate switches stacks, copies 2 parameters; RETF 8 returns', () => {
    const code = listing(`
    0F0115A8100000             lgdt [gdtr]
    0F011DAE100000             lidt [idtr]
    66B82800                   mov ax, 0x28
    0F00D8                     ltr ax
    C705BC10000000700000C705C0100000100000006A23 push 0x23
    6800500000                 push 0x5000
    6A02                       push 0x2
    6A1B                       push 0x1b
    683A100000                 push user
    CF                         iret
                               user:
    6811110000                 push 0x1111
    6822220000                 push 0x2222
    9A000000003300             call 0x33:0
    CD80                       int 0x80
    F4                         hlt
                               gate_target:
    8B442404                   mov eax, [esp+4]
    E710                       out 0x10, eax
    8B442408                   mov eax, [esp+8]
    E711                       out 0x11, eax
    8B44240C                   mov eax, [esp+12]
    E712                       out 0x12, eax
    89E0                       mov eax, esp
    E713                       out 0x13, eax
    CA0800                     retf 8
                               handler80:
    8B44240C                   mov eax, [esp+12]
    E714                       out 0x14, eax
    F4                         hlt
    9090                       align 8
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
    FFFF000000FACF00           dq 0x00cffa000000ffff
    FFFF000000F2CF00           dq 0x00cff2000000ffff
    6700B810                   dw 0x67, tss
    00890000                   db 0, 0x89, 0, 0
    4E100800                   dw gate_target, 0x08
    02EC                       db 2, 0xec
    0000                       dw 0
                               gdt_end:
                               gdtr:
    3700                       dw gdt_end - gdt - 1
    70100000                   dd gdt
                               idtr:
    0704                       dw 0x81*8 - 1
    00A00000                   dd 0xa000
    90909090                   align 8
                               tss:
    `);
    using m = machineFor(kvm, 'protected', code);
    writeGate32(m.ram, 0xa000, 0x80, 0x08, code.labels.handler80, 3);
    // The ring-0 stack: EIP, CS, the two parameters as pushed, then the caller's ESP and SS.
    expect(expectOut(m.vcpu, 0x10)).toBe(0x1b);
    expect(expectOut(m.vcpu, 0x11)).toBe(0x2222);
    expect(expectOut(m.vcpu, 0x12)).toBe(0x1111);
    expect(expectOut(m.vcpu, 0x13)).toBe(0x7000 - 24);
    // Back in ring 3 with the parameters popped: INT 0x80 sees the user ESP 0x5000.
    expect(expectOut(m.vcpu, 0x14)).toBe(0x5000);
    expectExit(m.vcpu, 'hlt');
  });
});

describe('long mode', () => {
  it('boots from real mode through protected mode into 64-bit mode as a boot loader does', () => {
    const code = listing(`
    FA                         cli
    0F0116B010                 lgdt [gdtr]
    0F20C0                     mov eax, cr0
    0C01                       or al, 1
    0F22C0                     mov cr0, eax
    EA13100800                 jmp 0x08:pm32
                               pm32:
    66B81000                   mov ax, 0x10
    8ED8                       mov ds, ax
    8EC0                       mov es, ax
    8ED0                       mov ss, ax
    BC00800000                 mov esp, 0x8000
    B832000000                 mov eax, 0x32
    E710                       out 0x10, eax
    C7050000020003100200C7050010020003200200C70500200200830000000F20E0 mov eax, cr4
    83C820                     or eax, 0x20
    0F22E0                     mov cr4, eax
    B800000200                 mov eax, 0x20000
    0F22D8                     mov cr3, eax
    B9800000C0                 mov ecx, 0xc0000080
    0F32                       rdmsr
    0D00010000                 or eax, 0x100
    0F30                       wrmsr
    0F20C0                     mov eax, cr0
    0D00000080                 or eax, 0x80000000
    0F22C0                     mov cr0, eax
    EA781000001800             jmp 0x18:lm64
                               lm64:
    48B8896745230100000048C1E804 shr rax, 4
    E711                       out 0x11, eax
    F4                         hlt
    90909090909090             align 8
                               gdt:
    0000000000000000           dq 0
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
    FFFF00000092CF00           dq 0x00cf92000000ffff
    00000000009A2000           dq 0x00209a0000000000
                               gdt_end:
                               gdtr:
    1F00                       dw gdt_end - gdt - 1
    90100000                   dd gdt
    `);
    using m = machineFor(kvm, 'real', code, { supportedCpuid: true });
    expect(expectOut(m.vcpu, 0x10)).toBe(0x32);
    expect(expectOut(m.vcpu, 0x11)).toBe(0x12345678);
    expectExit(m.vcpu, 'hlt');
    const s = m.vcpu.getSregs();
    expect(s.efer & 0x500n).toBe(0x500n);
    expect([s.cs.selector, s.cs.l]).toEqual([0x18, 1]);
  });

  it('a far jump to a 32-bit code segment runs compatibility mode (48 is DEC EAX there), RETF returns to 64-bit mode', () => {
    const code = listing(`
    0F01142558100000           lgdt [gdtr]
    FF2C2532100000             jmp dword far [farptr]
                               compat:
    B844332211                 mov eax, 0x11223344
    E710                       out 0x10, eax
    48                         db 0x48
    E711                       out 0x11, eax
    6A08                       push 0x08
    6821100000                 push lm_back
    CB                         retf
                               lm_back:
    48B8887766554433221148C1E820 shr rax, 32
    E712                       out 0x12, eax
    F4                         hlt
                               farptr:
    0F100000                   dd compat
    1800                       dw 0x18
                               gdt:
    0000000000000000           dq 0
    00000000009A2000           dq 0x00209a0000000000
    0000000000920000           dq 0x0000920000000000
    FFFF0000009ACF00           dq 0x00cf9a000000ffff
                               gdt_end:
                               gdtr:
    1F00                       dw gdt_end - gdt - 1
    3810000000000000           dq gdt
    `);
    using m = machineFor(kvm, 'long', code);
    expect(expectOut(m.vcpu, 0x10)).toBe(0x11223344);
    expect(expectOut(m.vcpu, 0x11)).toBe(0x11223343);
    expect(m.vcpu.getSregs().cs.selector).toBe(0x18);
    expect(expectOut(m.vcpu, 0x12)).toBe(0x11223344);
    expect(m.vcpu.getSregs().cs.l).toBe(1);
  });

  it('4-level paging: #PF error codes for WP, NX fetch and reserved bits; INVLPG; accessed but not dirty', () => {
    const code = listing(`
    0F01142528110000           lgdt [gdtr]
    0F011C2532110000           lidt [idtr]
    48B8FD100800008E000048890425E0A00000 mov [0xa000 + 14*16], rax
    B9800000C0                 mov ecx, 0xc0000080
    0F32                       rdmsr
    0D00080000                 or eax, 0x800
    0F30                       wrmsr
    0F20C0                     mov rax, cr0
    0D00000100                 or eax, 0x10000
    0F22C0                     mov cr0, rax
    B803000300                 mov rax, 0x30003
    4889042508200100           mov [0x12008], rax
    48B803300000000000804889042500000300 mov [0x30000], rax
    B801300000                 mov rax, 0x3001
    4889042508000300           mov [0x30008], rax
    48B803400000000008004889042510000300 mov [0x30010], rax
    C70425003000000D6000008B042500002000 mov eax, [0x200000]
    E710                       out 0x10, eax
    49BFA210000000000000C704250010200001000000 
                               after1:
    49BFB310000000000000B800002000 mov rax, 0x200000
    FFE0                       jmp rax
                               after2:
    49BFC4100000000000008B042500202000 mov eax, [0x202000]
                               after3:
    C7042500400000EFBE000048B803400000000000804889042500000300 mov [0x30000], rax
    0F013C2500002000           invlpg [0x200000]
    8B042500002000             mov eax, [0x200000]
    E714                       out 0x14, eax
    488B042500000300           mov rax, [0x30000]
    E715                       out 0x15, eax
    F4                         hlt
                               pf_handler:
    58                         pop rax
    E711                       out 0x11, eax
    0F20D0                     mov rax, cr2
    E712                       out 0x12, eax
    BC00800000                 mov rsp, 0x8000
    41FFE7                     jmp r15
    909090                     align 8
                               gdt:
    0000000000000000           dq 0
    00000000009A2000           dq 0x00209a0000000000
    0000000000920000           dq 0x0000920000000000
                               gdt_end:
                               gdtr:
    1700                       dw gdt_end - gdt - 1
    1011000000000000           dq gdt
                               idtr:
    EF00                       dw 15*16 - 1
    00A0000000000000           dq 0xa000
    `);
    using m = machineFor(kvm, 'long', code);
    expect(expectOut(m.vcpu, 0x10)).toBe(0x600d);
    // A supervisor write to a read-only page with CR0.WP: present | write.
    expect([expectOut(m.vcpu, 0x11), expectOut(m.vcpu, 0x12)]).toEqual([0x3, 0x201000]);
    // A fetch from an NX page: present | instruction fetch.
    expect([expectOut(m.vcpu, 0x11), expectOut(m.vcpu, 0x12)]).toEqual([0x11, 0x200000]);
    // A reserved physical-address bit (51): present | reserved.
    expect([expectOut(m.vcpu, 0x11), expectOut(m.vcpu, 0x12)]).toEqual([0x9, 0x202000]);
    // After INVLPG the new mapping is used.
    expect(expectOut(m.vcpu, 0x14)).toBe(0xbeef);
    // The walk set the accessed bit (0x20), not the dirty bit (0x40): nothing was written through it.
    expect(expectOut(m.vcpu, 0x15)).toBe(0x4023);
  });

  it('INVLPG drops the translation of a page whose TLB entry is not its low page-number bits (linear 2 GiB)', () => {
    // The TLB folds the page number's high bits into its index (mmu.ts's tlbIndex): 2 GiB is not entry 0.
    const code = listing(`
    48C704251010010003000300   mov qword [0x11010], 0x30003
    48C704250000030003100300   mov qword [0x30000], 0x31003
    48C704250010030003000200   mov qword [0x31000], 0x20003
    BB00000080                 mov ebx, 0x80000000
    8B03                       mov eax, [rbx]
    48C704250010030003100200   mov qword [0x31000], 0x21003
    0F013B                     invlpg [rbx]
    8B0B                       mov ecx, [rbx]
    F4                         hlt
    `);
    using m = machineFor(kvm, 'long', code);
    new DataView(m.ram.buffer, m.ram.byteOffset).setUint32(0x20000, 0x1111_1111, true);
    new DataView(m.ram.buffer, m.ram.byteOffset).setUint32(0x21000, 0x2222_2222, true);
    expect(runToExit(m.vcpu).reason).toBe('hlt');
    const regs = m.vcpu.getRegs();
    expect([regs.rax, regs.rcx]).toEqual([0x1111_1111n, 0x2222_2222n]);
  });

  it('MOV to CR3 drops every non-global translation, also of entries refilled the other way; CR4.PGE off drops all', () => {
    // Two pages at 2 GiB whose PTEs change behind the TLB. The SDM lets a CR3 write keep global translations
    // (Vol. 3A 4.10.4.1) and this TLB does, which the stale reads at 0x10 and 0x15 show; a non-global one must
    // go, including the first page's entry after it was refilled from a non-global PTE (0x14).
    const code = listing(`
    0F20E0                     mov rax, cr4
    0D80000000                 or eax, 0x80
    0F22E0                     mov cr4, rax
    48C704251010010003000300   mov qword [0x11010], 0x30003
    48C704250000030003100300   mov qword [0x30000], 0x31003
    48C704250010030003010200   mov qword [0x31000], 0x20103
    48C704250810030003100200   mov qword [0x31008], 0x21003
    BB00000080                 mov ebx, 0x80000000
    8B03                       mov eax, [rbx]
    8B8300100000               mov eax, [rbx + 0x1000]
    48C704250010030003210200   mov qword [0x31000], 0x22103
    48C704250810030003300200   mov qword [0x31008], 0x23003
    0F20D8                     mov rax, cr3
    0F22D8                     mov cr3, rax
    8B03                       mov eax, [rbx]
    E710                       out 0x10, eax
    8B8300100000               mov eax, [rbx + 0x1000]
    E711                       out 0x11, eax
    48C704250010030003400200   mov qword [0x31000], 0x24003
    0F013B                     invlpg [rbx]
    8B03                       mov eax, [rbx]
    E712                       out 0x12, eax
    48C704250810030003510200   mov qword [0x31008], 0x25103
    0F01BB00100000             invlpg [rbx + 0x1000]
    8B8300100000               mov eax, [rbx + 0x1000]
    E713                       out 0x13, eax
    48C704250010030003000200   mov qword [0x31000], 0x20003
    48C704250810030003100200   mov qword [0x31008], 0x21003
    0F20D8                     mov rax, cr3
    0F22D8                     mov cr3, rax
    8B03                       mov eax, [rbx]
    E714                       out 0x14, eax
    8B8300100000               mov eax, [rbx + 0x1000]
    E715                       out 0x15, eax
    0F20E0                     mov rax, cr4
    257FFFFFFF                 and eax, ~0x80
    0F22E0                     mov cr4, rax
    8B8300100000               mov eax, [rbx + 0x1000]
    E716                       out 0x16, eax
    F4                         hlt
    `);
    using m = machineFor(kvm, 'long', code);
    const ram = new DataView(m.ram.buffer, m.ram.byteOffset);
    for (let k = 0; k < 6; k++) ram.setUint32(0x20000 + k * 0x1000, 0xa000_0000 + k, true);
    const page = (port: number) => expectOut(m.vcpu, port) - 0xa000_0000;
    expect([page(0x10), page(0x11)]).toEqual([0, 3]);
    expect([page(0x12), page(0x13)]).toEqual([4, 5]);
    expect([page(0x14), page(0x15)]).toEqual([0, 5]);
    expect(page(0x16)).toBe(1);
    expect(runToExit(m.vcpu).reason).toBe('hlt');
  });

  it('IRETQ to ring 3, SYSCALL/SYSRET, INT through a DPL-3 gate onto RSP0, and an IST stack', () => {
    const code = listing(`
    0F01142500110000           lgdt [gdtr]
    0F011C250A110000           lidt [idtr]
    66B83000                   mov ax, 0x30
    0F00D8                     ltr ax
    48C704251C1100000070000048C704253C1100000060000048B8A610080000EE00004889042500A80000 mov [0xa000 + 0x80*16], rax
    48B8B4100800018E00004889042510A80000 mov [0xa000 + 0x81*16], rax
    B9810000C0                 mov ecx, 0xc0000081
    31C0                       xor eax, eax
    BA08001800                 mov edx, 0x00180008
    0F30                       wrmsr
    B9820000C0                 mov ecx, 0xc0000082
    B897100000                 mov eax, syscall_entry
    31D2                       xor edx, edx
    0F30                       wrmsr
    B9800000C0                 mov ecx, 0xc0000080
    0F32                       rdmsr
    83C801                     or eax, 1
    0F30                       wrmsr
    6A23                       push 0x23
    6800500000                 push 0x5000
    6A02                       push 0x2
    6A2B                       push 0x2b
    688D100000                 push user
    48CF                       iretq
                               user:
    B82A000000                 mov eax, 42
    0F05                       syscall
    CD80                       int 0x80
    F4                         hlt
                               syscall_entry:
    E714                       out 0x14, eax
    4889C8                     mov rax, rcx
    E715                       out 0x15, eax
    4C89D8                     mov rax, r11
    E716                       out 0x16, eax
    480F07                     o64 sysret
                               handler80:
    488B442408                 mov rax, [rsp+8]
    E710                       out 0x10, eax
    4889E0                     mov rax, rsp
    E711                       out 0x11, eax
    CD81                       int 0x81
                               handler81:
    4889E0                     mov rax, rsp
    E712                       out 0x12, eax
    F4                         hlt
    909090909090               align 8
                               gdt:
    0000000000000000           dq 0
    00000000009A2000           dq 0x00209a0000000000
    0000000000920000           dq 0x0000920000000000
    0000000000000000           dq 0
    0000000000F20000           dq 0x0000f20000000000
    0000000000FA2000           dq 0x0020fa0000000000
    67001811                   dw 0x67, tss
    00890000                   db 0, 0x89, 0, 0
    0000000000000000           dd 0, 0
                               gdt_end:
                               gdtr:
    3F00                       dw gdt_end - gdt - 1
    C010000000000000           dq gdt
                               idtr:
    1F08                       dw 0x82*16 - 1
    00A0000000000000           dq 0xa000
    90909090                   align 8
                               tss:
    `);
    using m = machineFor(kvm, 'long', code);
    // Let ring 3 use the first 2 MiB: set U/S in the PML4, PDPT and PD entries on the way.
    const tables = m.pageTables!;
    for (const entry of [tables.pml4, tables.pdpt, tables.pd]) m.ram[entry] |= 4;
    expect(expectOut(m.vcpu, 0x14)).toBe(42);
    // RCX holds the address after SYSCALL, R11 the user's RFLAGS.
    expect(expectOut(m.vcpu, 0x15)).toBe(code.labels.syscall_entry - 3);
    expect(expectOut(m.vcpu, 0x16)).toBe(0x2);
    expect(expectOut(m.vcpu, 0x10)).toBe(0x2b);
    expect(expectOut(m.vcpu, 0x11)).toBe(0x7000 - 40);
    expect(expectOut(m.vcpu, 0x12)).toBe(0x6000 - 40);
    expectExit(m.vcpu, 'hlt');
  });
});
