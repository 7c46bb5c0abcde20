/**
 * The long-mode scenarios (frame64.inc): 4-level page faults with NX and reserved bits, canonical checks, IDT
 * delivery with IST and privilege changes, IRETQ to ring 3 and to compatibility mode, SYSCALL/SYSRET,
 * compatibility mode and a trip out of long mode and back, SWAPGS, control-register checks, 64-bit call
 * gates and LAR/LSL on 16-byte system descriptors.
 */
import { maskField, product, sample, seeded, storeDescriptor } from './asm.js';
import type { Scenario } from './kernel.js';

const ACCESS = {
  read: '    mov rax, [TEST_PAGE + 0x1008]',
  write: '    mov qword [TEST_PAGE + 0x1008], 0x12345678',
  fetch: '    mov rax, TEST_PAGE + 0x1000\n    call rax',
} as const;

/** QEMU clears P in reserved-bit #PF error codes; see scenarios32.ts (SDM Vol. 3A 4.7 says RSVD implies P). */
const RSVD_NEEDS_P = {
  why: 'QEMU clears P in reserved-bit #PF error codes',
  fix: (line: string) => {
    const f = line.split(' ');
    if (f[0] !== 'S' || Number.parseInt(f[3], 16) !== 14) return line;
    const error = Number.parseInt(f[4], 16);
    if (error & 8) f[4] = (error | 1).toString(16).padStart(f[4].length, '0');
    return f.join(' ');
  },
  // The hashes of the ring-0 stack and the IST stacks hold the error code too.
  mask: (line: string) => (line.startsWith('M ') ? maskField(line, 8) : line),
};

/** 4-level paging: PTE and PDE P/W/U/NX, reserved bits at each level, EFER.NXE, each access at CPL 0 and 3. */
function pageFaults(next: () => number): Scenario[] {
  const cases = product({
    pte: [0, 1, 3, 5, 7],
    nx: [0, 1],
    pde: [3, 5, 7],
    rsvd: ['none', 'none', 'pte51', 'pde51', 'pde-ps13'],
    nxe: [1, 1, 0],
    access: ['read', 'write', 'fetch'],
    cpl: [0, 3],
  });
  return sample(cases, 150, next).map((c) => {
    const lines = [
      '    mov word [TEST_PAGE + 0x1000], 0x0b0f',
      `    mov dword [PT + 8], TEST_PAGE + 0x1000 + ${c.pte}`,
      `    mov dword [PT + 12], 0x${(((c.nx ? 0x80000000 : 0) | (c.rsvd === 'pte51' ? 0x80000 : 0)) >>> 0).toString(16)}`,
      `    mov dword [PD + 16], PT + ${c.pde}`,
    ];
    if (c.rsvd === 'pde51') lines.push('    mov dword [PD + 20], 0x80000');
    if (c.rsvd === 'pde-ps13') lines.push(`    mov dword [PD + 16], 0x400000 + 0x2000 + 0x80 + ${c.pte}`);
    if (!c.nxe) lines.push('    mov ecx, 0xc0000080\n    rdmsr\n    and eax, ~0x800\n    wrmsr');
    // The handler's own tables keep the kernel mapped; the scenario's cover the code too (PD entry 0).
    lines.push('    mov rax, cr3\n    mov cr3, rax', c.cpl ? '    TO_RING3 UCODE, 2' : '', ACCESS[c.access]);
    return {
      name: `pf64 pte=${c.pte} nx${c.nx} pde=${c.pde} rsvd=${c.rsvd} nxe${c.nxe} ${c.access} cpl${c.cpl}`,
      asm: lines.join('\n'),
      qemuFix: RSVD_NEEDS_P,
    };
  });
}

/** Stores a 16-byte IDT gate for `vector`: selector, handler (its stub), type, DPL, P and IST (Figure 6-8). */
function gate64(vector: number, selector: string, type: number, dpl: number, p: number, ist: number): string {
  const at = `IDT + ${vector * 16}`;
  return [
    `    mov eax, stubs + ${vector * 16}`,
    `    mov word [${at}], ax`,
    '    shr eax, 16',
    `    mov word [${at} + 6], ax`,
    `    mov word [${at} + 2], ${selector}`,
    `    mov byte [${at} + 4], ${ist}`,
    `    mov byte [${at} + 5], 0x${((p << 7) | (dpl << 5) | type).toString(16)}`,
    `    mov dword [${at} + 8], 0`,
  ].join('\n');
}

/** Non-canonical addresses: #GP(0), or #SS(0) when the access is through the stack (SDM Vol. 3A 3.3.7.1). */
function canonical(): Scenario[] {
  const bad = '0x0000800000000000';
  return [
    { name: 'noncanonical load', asm: `    mov rax, ${bad}\n    mov rbx, [rax]` },
    { name: 'noncanonical store', asm: `    mov rax, ${bad}\n    mov [rax], rbx` },
    {
      name: 'noncanonical jump',
      asm: `    mov rax, ${bad}\n    jmp rax`,
      // Intel faults on the JMP; QEMU (AMD-like) on the fetch at the target, so the frames differ.
      sdm: { vector: 13, error: 0, why: 'QEMU faults at the non-canonical target, Intel on the JMP' },
    },
    {
      name: 'noncanonical rbp-based load',
      asm: `    mov rbp, ${bad}\n    mov rbx, [rbp]`,
      sdm: { vector: 12, error: 0, why: 'QEMU TCG raises #GP, not #SS, for non-canonical stack accesses' },
    },
    {
      name: 'noncanonical push',
      // #SS through IST1: on the faulting stack its delivery would fault again (a triple fault).
      asm: `${gate64(12, 'KCODE', 0xe, 0, 1, 1)}\n    mov rsp, ${bad} + 8\n    push rax`,
      sdm: { vector: 12, error: 0, why: 'QEMU TCG raises #GP, not #SS, for non-canonical stack accesses' },
    },
  ];
}

/**
 * QEMU TCG puts the IDT entry's byte offset (vector * 16) in the error code of a fault on a long-mode gate;
 * the error code's index field holds the vector (SDM Vol. 3A 6.13, as in legacy mode: vector * 8 + 2). The
 * fix rewrites QEMU's error code; the ring-0 stack's hash holds it too and is masked. With `istSameCpl`,
 * QEMU's null SS after an IST delivery without a privilege change (SDM Vol. 3A 6.14.4 nulls SS only on a
 * CPL change) is put back to the kernel's SS.
 */
function idtErrorFix(istSameCpl: boolean) {
  return {
    why: 'QEMU reports vector * 16 in long-mode IDT error codes and nulls SS on same-CPL IST deliveries',
    fix: (line: string) => {
      const f = line.split(' ');
      if (f[0] === 'S') {
        const error = Number.parseInt(f[4], 16);
        if (error & 2) f[4] = (((error >> 4) << 3) | (error & 7)).toString(16).padStart(16, '0');
      }
      if (f[0] === 'G' && istSameCpl && Number.parseInt(f[5], 16) === 0) f[5] = '0000000000000010';
      return f.join(' ');
    },
    mask: (line: string) => (line.startsWith('M ') ? maskField(line, 8) : line),
  };
}

/** INT n and INT3 through 64-bit gates: type, DPL, P, IST, target code segment, from CPL 0 and 3. */
function interrupts(next: () => number): Scenario[] {
  const cases = product({
    insn: ['int 0x80', 'int3'],
    type: [0xe, 0xf, 0xc],
    dpl: [0, 3],
    p: [1, 1, 0],
    ist: [0, 1, 2],
    target: ['KCODE', 'UCODE', 'KCODE32', 'R1CODE'],
    cpl: [0, 3],
  });
  return sample(cases, 110, next).map((c) => {
    const vector = c.insn === 'int3' ? 3 : 0x80;
    const delivered = c.p === 1 && c.type !== 0xc && c.dpl >= c.cpl;
    // An IST delivery to a ring-3 handler: QEMU's null SS there changes every later frame, so the emulator's
    // outcome (that handler's first privileged instruction: #GP(0)) is checked against the SDM instead.
    const userIst = delivered && c.ist > 0 && c.cpl === 3 && c.target === 'UCODE';
    return {
      ...(userIst
        ? { sdm: { vector: 13, error: 0, why: 'QEMU nulls SS on an IST delivery at the same CPL' } }
        : {}),
      qemuFix: idtErrorFix(delivered && c.ist > 0 && c.cpl === 0 && c.target === 'KCODE'),
      name: `${c.insn} gate64 type ${c.type.toString(16)} dpl${c.dpl} p${c.p} ist${c.ist} -> ${c.target} cpl${c.cpl}`,
      asm: [
        gate64(vector, c.target, c.type, c.dpl, c.p, c.ist),
        c.cpl ? '    TO_RING3 UCODE, 0x202' : '',
        `    ${c.insn}`,
      ].join('\n'),
    };
  });
}

/** IRETQ to ring 3 (64-bit and compatibility code), to ring 0 with a null SS, and bad frames. */
function irets(): Scenario[] {
  const frame = (ss: string, rsp: string, flags: string, cs: string, rip: string) =>
    `    push ${ss}\n    push ${rsp}\n    push ${flags}\n    push ${cs}\n    mov rax, ${rip}\n    push rax\n    iretq`;
  return [
    {
      name: 'iretq to ring 3, 64-bit',
      asm: `    mov ax, KDATA\n    mov ds, ax\n${frame('UDATA', 'STACK3_TOP - 8', '0x3202', 'UCODE', '@u')}\n@u:\n    pushfq`,
    },
    {
      name: 'iretq to ring 3, compatibility mode',
      asm: `${frame('UDATA', 'STACK3_TOP - 8', '0x202', 'UCODE32', '@u')}\nbits 32\n@u:\n    push eax\n    mov ebx, esp`,
    },
    {
      name: 'iretq to ring 0 with a null ss',
      asm: `${frame('0', 'STACK0_TOP - 0x100', '2', 'KCODE', '@u')}\n@u:\n    mov rbx, rsp`,
    },
    { name: 'iretq to ring 3 with a null ss', asm: `${frame('3', 'STACK3_TOP', '2', 'UCODE', '@u')}\n@u:` },
    {
      name: 'iretq to ring 3 with a ring-0 ss',
      asm: `${frame('KDATA', 'STACK3_TOP', '2', 'UCODE', '@u')}\n@u:`,
    },
    {
      name: 'iretq to a noncanonical rip',
      asm: frame('UDATA', 'STACK3_TOP', '2', 'UCODE', '0x0000800000000000'),
      // SDM Vol. 2 IRET: #GP(0) on the IRETQ; QEMU returns and faults on the fetch in ring 3.
      sdm: { vector: 13, error: 0, why: 'QEMU completes an IRETQ to a non-canonical RIP' },
    },
    {
      name: 'iretq to ring 1',
      asm: `${frame('R1DATA', 'STACK1_TOP - 8', '0x1002', 'R1CODE', '@u')}\n@u:\n    pushfq`,
    },
    {
      name: 'iretq at cpl3 to ring 0',
      asm: `    TO_RING3 UCODE, 2\n${frame('KDATA', 'STACK0_TOP', '2', 'KCODE', '@u')}\n@u:`,
    },
  ];
}

/**
 * QEMU TCG loses the arithmetic flags on SYSCALL (RFLAGS comes out as if they were clear); the SDM (Vol. 2B
 * SYSCALL) keeps RFLAGS AND NOT IA32_FMASK. The fix puts `expected` in QEMU's frame (the UD2 after SYSCALL)
 * and in the handler's RFLAGS (an interrupt gate clears TF, NT, RF and IF, none of them set here); the frame
 * is on the user stack, whose hash is masked.
 */
function syscallFlagsFix(expected: number) {
  return {
    why: 'QEMU TCG clears the arithmetic flags on SYSCALL',
    fix: (line: string) => {
      const f = line.split(' ');
      if (f[0] === 'S') f[7] = (expected | 2).toString(16).padStart(16, '0');
      if (f[0] === 'G') f[8] = ((expected | 2) & ~0x200).toString(16).padStart(16, '0');
      return f.join(' ');
    },
    mask: (line: string) => (line.startsWith('M ') ? maskField(line, 10) : line),
  };
}

/** SYSCALL and SYSRET (SDM Vol. 2B): EFER.SCE, STAR/LSTAR/SFMASK, both SYSRET sizes, CPL and RCX checks. */
function syscalls(): Scenario[] {
  const setup = (sce: boolean, sfmask: number) =>
    [
      sce ? '    mov ecx, 0xc0000080\n    rdmsr\n    or eax, 1\n    wrmsr' : '',
      '    mov ecx, 0xc0000081\n    xor eax, eax\n    mov edx, 0x00180008\n    wrmsr',
      '    mov ecx, 0xc0000082\n    mov eax, @kernel\n    xor edx, edx\n    wrmsr',
      `    mov ecx, 0xc0000084\n    mov eax, 0x${sfmask.toString(16)}\n    wrmsr`,
    ].join('\n');
  const out: Scenario[] = [];
  for (const sfmask of [0, 0x200, 0x4700, 0x3ffd5]) {
    for (const flags of [0x202, 0xcd7]) {
      out.push({
        name: `syscall from ring 3 sfmask ${sfmask.toString(16)} rflags ${flags.toString(16)}`,
        asm: `${setup(true, sfmask)}\n    TO_RING3 UCODE, 0x${flags.toString(16)}\n    mov rbx, 0x5ca11\n    syscall\n@kernel:\n    pushfq\n    mov rdx, rsp`,
        qemuFix: syscallFlagsFix(flags & ~sfmask),
      });
    }
  }
  out.push(
    {
      name: 'syscall without efer.sce',
      asm: `${setup(false, 0)}\n    TO_RING3 UCODE, 2\n    syscall\n@kernel:`,
    },
    {
      name: 'sysretq to ring 3',
      asm: `${setup(true, 0)}\n    mov rcx, @user\n    mov r11, 0x3257\n    o64 sysret\n@user:\n    pushfq\n@kernel:`,
    },
    {
      name: 'sysretd to compatibility mode',
      asm: `${setup(true, 0)}\n    mov rcx, @user\n    mov r11, 0x202\n    sysret\nbits 32\n@user:\n    push eax\nbits 64\n@kernel:`,
    },
    { name: 'sysret at cpl3', asm: `${setup(true, 0)}\n    TO_RING3 UCODE, 2\n    o64 sysret\n@kernel:` },
    {
      name: 'sysret without efer.sce',
      asm: `${setup(false, 0)}\n    mov rcx, @kernel\n    o64 sysret\n@kernel:`,
    },
    {
      name: 'sysretq to a noncanonical rcx',
      asm: `${setup(true, 0)}\n    mov rcx, 0x0000800000000000\n    o64 sysret\n@kernel:`,
      // Intel raises #GP(0) at CPL 0; AMD (QEMU's qemu64 model) returns first. The emulator is GenuineIntel.
      sdm: { vector: 13, error: 0, why: 'SYSRET with a non-canonical RCX is vendor-specific; Intel: #GP(0)' },
    },
    {
      name: 'syscall in compatibility mode',
      asm: `${setup(true, 0)}\n    TO_RING3 UCODE32, 2\nbits 32\n    syscall\nbits 64\n@kernel:`,
      // Intel: #UD outside 64-bit mode; AMD enters through CSTAR. The emulator is GenuineIntel.
      sdm: { vector: 6, error: 0, why: 'SYSCALL in compatibility mode is vendor-specific; Intel: #UD' },
    },
  );
  return out;
}

/** Compatibility mode at ring 0, and out of long mode (paging off) and back in (SDM Vol. 3A 9.8.5.4). */
function compatibility(): Scenario[] {
  const toCompat = '    push KCODE32\n    push @compat\n    retfq\nbits 32\n@compat:';
  return [
    {
      name: 'ring 0 compatibility mode',
      asm: `${toCompat}\n    push eax\n    mov ebx, esp\n    mov ecx, cr0`,
    },
    {
      name: 'long mode -> compatibility -> protected mode -> long mode',
      asm: [
        toCompat,
        '    mov eax, cr0\n    and eax, 0x7fffffff\n    mov cr0, eax',
        '    mov ecx, 0xc0000080\n    rdmsr\n    mov esi, eax',
        '    mov eax, cr0\n    or eax, 0x80000000\n    mov cr0, eax',
        '    jmp KCODE:@long\nbits 64\n@long:\n    mov ecx, 0xc0000080\n    rdmsr\n    mov edi, eax',
      ].join('\n'),
    },
    {
      name: 'paging off in 64-bit mode',
      asm: '    mov rax, cr0\n    btr eax, 31\n    mov cr0, rax',
      // SDM Vol. 3A 9.8.5.4: clearing CR0.PG is only allowed in compatibility mode; QEMU TCG takes it and hangs.
      sdm: { vector: 13, error: 0, why: 'QEMU TCG lets 64-bit code clear CR0.PG' },
    },
    // SDM Vol. 3A 9.8.5.4 and 2.2.1: #GP(0) for both; QEMU TCG takes them and the kernel is lost.
    {
      name: 'cr4.pae off in long mode',
      asm: '    mov rax, cr4\n    and eax, ~0x20\n    mov cr4, rax',
      sdm: { vector: 13, error: 0, why: 'QEMU TCG lets long mode clear CR4.PAE' },
    },
    {
      name: 'efer.lme off with paging on',
      asm: '    mov ecx, 0xc0000080\n    rdmsr\n    and eax, ~0x100\n    wrmsr',
      sdm: { vector: 13, error: 0, why: 'QEMU TCG lets WRMSR clear EFER.LME with paging on' },
    },
    {
      name: 'cr3 with reserved high bits',
      asm: '    mov rax, cr3\n    bts rax, 62\n    mov cr3, rax',
      // Bits 62:MAXPHYADDR of CR3 are reserved without PCIDE (SDM Vol. 3A 4.5.2); QEMU TCG loads them.
      sdm: { vector: 13, error: 0, why: 'QEMU TCG loads reserved CR3 bits' },
    },
    {
      name: 'cr8 round trip',
      asm: '    mov eax, 9\n    mov cr8, rax\n    mov rbx, cr8\n    xor eax, eax\n    mov cr8, rax',
    },
  ];
}

/** SWAPGS at CPL 0 and 3 with distinct GS bases. */
function swapgs(): Scenario[] {
  const bases = [
    '    mov ecx, 0xc0000101\n    mov eax, 0x11112222\n    mov edx, 0x3333\n    wrmsr',
    '    mov ecx, 0xc0000102\n    mov eax, 0x55556666\n    mov edx, 0x7777\n    wrmsr',
  ].join('\n');
  return [
    { name: 'swapgs at cpl0', asm: `${bases}\n    swapgs\n    mov ax, KDATA\n    mov gs, ax` },
    { name: 'swapgs twice', asm: `${bases}\n    swapgs\n    swapgs` },
    { name: 'swapgs at cpl3', asm: `${bases}\n    TO_RING3 UCODE, 2\n    swapgs` },
  ];
}

/** Far CALL and JMP from ring 3 through a 16-byte call gate (SDM Vol. 3A 5.8.3.1). */
function callGates(next: () => number): Scenario[] {
  const cases = product({
    dpl: [0, 3],
    rpl: [0, 3],
    target: ['KCODE', 'UCODE', 'KCODE32'],
    how: ['call', 'jmp'],
    p: [1, 0],
  });
  return sample(cases, 24, next).map((c) => ({
    name: `${c.how} gate64 dpl${c.dpl} rpl${c.rpl} -> ${c.target} p${c.p} from cpl3`,
    asm: [
      '    mov eax, @target',
      '    mov word [GDT + GATE_SEL], ax',
      '    shr eax, 16',
      '    mov word [GDT + GATE_SEL + 6], ax',
      `    mov word [GDT + GATE_SEL + 2], ${c.target}`,
      `    mov word [GDT + GATE_SEL + 4], 0x${(((c.p << 7) | (c.dpl << 5) | 0xc) << 8).toString(16)}`,
      '    mov dword [GDT + GATE_SEL + 8], 0',
      '    mov dword [GDT + GATE_SEL + 12], 0',
      '    TO_RING3 UCODE, 2',
      '    push 0x77',
      `    ${c.how} far dword [rel @pointer]`,
      '@pointer:',
      `    dd 0\n    dw GATE_SEL | ${c.rpl}`,
      '@target:',
      '    mov rbx, [rsp]',
      '    mov rcx, [rsp + 8]',
      '    mov rdx, [rsp + 16]',
      '    mov rsi, [rsp + 24]',
    ].join('\n'),
  }));
}

/** LAR and LSL in 64-bit mode: 16-byte system descriptors are valid or not by their 64-bit types. */
function accessRights(): Scenario[] {
  const out: Scenario[] = [];
  for (const type of [0x2, 0x9, 0xb, 0xc, 0xe, 0x1, 0x3]) {
    out.push({
      name: `lar/lsl system type ${type.toString(16)} in 64-bit mode`,
      asm: [
        storeDescriptor('GDT + TEST_SEL', { type, s: 0, limit: 0x2345, g: 0 }),
        '    mov dword [GDT + TEST_SEL + 8], 0',
        '    mov dword [GDT + TEST_SEL + 12], 0',
        '    mov si, TEST_SEL',
        '    mov rax, -1\n    mov rbx, -1\n    xor ecx, ecx',
        '    lar rax, si\n    setz cl',
        '    lsl rbx, si\n    setz ch',
        // A valid descriptor ends in #BP, an invalid one in the final #UD, so the SDM check sees the outcome.
        '    test ecx, ecx\n    jz @invalid\n    int3\n@invalid:',
      ].join('\n'),
      // 64-bit mode has no 16-bit TSS types: LAR and LSL refuse them (SDM Vol. 2A LAR, LSL); QEMU accepts them.
      ...(type === 1 || type === 3
        ? { sdm: { vector: 6, error: 0, why: 'QEMU TCG accepts 16-bit TSS types in 64-bit mode' } }
        : {}),
    });
  }
  return out;
}

/** Every long-mode scenario, in a fixed order. */
export function scenarios64(): Scenario[] {
  const next = seeded(0x5eed64);
  return [
    ...pageFaults(next),
    ...canonical(),
    ...interrupts(next),
    ...irets(),
    ...syscalls(),
    ...compatibility(),
    ...swapgs(),
    ...callGates(next),
    ...accessRights(),
  ];
}
