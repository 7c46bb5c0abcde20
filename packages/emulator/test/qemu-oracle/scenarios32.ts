/**
 * The 32-bit protected-mode scenarios (frame32.inc): segment loads and limits, page faults with 32-bit and PAE
 * paging, IDT delivery and its DPL checks, IRET and call gates across rings, the IO permission bitmap, CPL
 * checks, LAR/LSL/VERR/VERW, SYSENTER/SYSEXIT, hardware task switches and trips through real mode. Each family
 * crosses its axes and keeps a seeded sample, so variations are generated, not written by hand.
 */
import { gateAccess, maskField, product, sample, seeded, storeDescriptor, storeGate } from './asm.js';
import type { Scenario } from './kernel.js';

const TEST = 'GDT + TEST_SEL';

// Descriptor variations for selector loads and the access-rights instructions. The accessed bit is clear so
// loads that set it show in the GDT hash (MOV to a data segment register; see frame32.inc for CS and SS).
const DESCRIPTORS = [
  { name: 'data-ro', type: 0x0, s: 1 },
  { name: 'data-rw', type: 0x2, s: 1 },
  { name: 'data-rw-down', type: 0x6, s: 1 },
  { name: 'code-xo', type: 0x8, s: 1 },
  { name: 'code-xr', type: 0xa, s: 1 },
  { name: 'code-xr-conf', type: 0xe, s: 1 },
  { name: 'ldt', type: 0x2, s: 0 },
  { name: 'tss-avail', type: 0x9, s: 0 },
  { name: 'tss-busy', type: 0xb, s: 0 },
  { name: 'call-gate', type: 0xc, s: 0 },
  { name: 'int-gate', type: 0xe, s: 0 },
  { name: 'reserved-0', type: 0x0, s: 0 },
] as const;

function segmentLoads(next: () => number): Scenario[] {
  const cases = product({
    d: DESCRIPTORS,
    dpl: [0, 3],
    p: [0, 1],
    rpl: [0, 3],
    reg: ['ds', 'ss', 'fs'],
    cpl: [0, 3],
  });
  const out: Scenario[] = sample(cases, 140, next).map((c) => ({
    name: `load ${c.reg} ${c.d.name} dpl${c.dpl} p${c.p} rpl${c.rpl} cpl${c.cpl}`,
    asm: [
      storeDescriptor(TEST, { type: c.d.type, s: c.d.s, dpl: c.dpl, p: c.p }),
      c.cpl ? '    TO_RING 3, 2' : '',
      `    mov bx, TEST_SEL | ${c.rpl}`,
      `    mov ${c.reg}, bx`,
    ].join('\n'),
  }));
  // Selectors no descriptor backs: null, past the GDT limit, in an LDT (absent, then present).
  for (const [reg, sel, ldt] of [
    ['ds', 0, false],
    ['ss', 0, false],
    ['ss', 3, false],
    ['ds', 0x100, false],
    ['ss', 0x1f8, false],
    ['ds', 0x0c, false],
    ['ds', 0x0c, true],
    ['ss', 0x0c, true],
    ['ds', 0x104, true],
  ] as const) {
    out.push({
      name: `load ${reg} selector ${sel.toString(16)}${ldt ? ' with ldt' : ''}`,
      asm: [
        storeDescriptor('LDT + 8', { type: 0x2, dpl: 0 }),
        ldt ? '    mov ax, LDT_SEL\n    lldt ax' : '',
        `    mov bx, ${sel}`,
        `    mov ${reg}, bx`,
      ].join('\n'),
    });
  }
  return out;
}

// QEMU TCG checks no segment limit on data accesses (SDM Vol. 3A 5.3 requires #GP(0), or #SS(0) through SS), so
// these scenarios check the emulator against the limit rules themselves. They run at CPL 3, so a #SS is
// delivered on the ring-0 stack.
function limits(next: () => number): Scenario[] {
  const cases = product({
    reg: ['ds', 'ss'],
    down: [false, true],
    big: [0, 1],
    limit: [0x0fff, 0x1003],
    offset: [0x0ffc, 0x0ffe, 0x0fff, 0x1000, 0x1004],
    size: [1, 2, 4],
  });
  return sample(cases, 80, next).map((c) => {
    const width = { 1: 'byte', 2: 'word', 4: 'dword' }[c.size];
    const reg = { 1: 'al', 2: 'ax', 4: 'eax' }[c.size];
    const last = c.offset + c.size - 1;
    // Expand-down: valid offsets are limit + 1 up to 0xffff, or 0xffffffff with B set (SDM Vol. 3A 3.4.5.1).
    const inside = c.down ? c.offset > c.limit && last <= (c.big ? 0xffffffff : 0xffff) : last <= c.limit;
    return {
      name: `limit ${c.reg} ${c.down ? 'down' : 'up'} b${c.big} limit ${c.limit.toString(16)} at ${c.offset.toString(16)} size ${c.size}`,
      asm: [
        storeDescriptor(TEST, {
          type: c.down ? 0x7 : 0x3,
          limit: c.limit,
          g: 0,
          db: c.big,
          dpl: 3,
          base: 0x400000,
        }),
        '    TO_RING 3, 2',
        '    mov bx, TEST_SEL | 3',
        `    mov ${c.reg}, bx`,
        `    mov ${reg}, [${c.reg}:${c.offset}]`,
        `    mov ${width} [${c.reg}:${c.offset}], 0x5a`,
      ].join('\n'),
      sdm: {
        vector: inside ? 6 : c.reg === 'ss' ? 12 : 13,
        error: 0,
        why: 'QEMU TCG does not check data segment limits',
      },
    };
  });
}

const ACCESS = {
  read: '    mov eax, [TEST_PAGE + 0x1008]',
  write: '    mov dword [TEST_PAGE + 0x1008], 0x12345678',
  fetch: '    mov eax, TEST_PAGE + 0x1000\n    call eax',
} as const;

/** 32-bit paging: PDE and PTE P/W/U bits, each access kind, CPL 0 and 3, CR0.WP off and on. */
function pageFaults32(next: () => number): Scenario[] {
  const cases = product({
    pde: [1, 3, 5, 7],
    pte: [0, 1, 2, 3, 4, 5, 6, 7],
    access: ['read', 'write', 'fetch'],
    cpl: [0, 3],
    wp: [0, 1],
  });
  return sample(cases, 160, next).map((c) => ({
    name: `pf32 pde=${c.pde} pte=${c.pte} ${c.access} cpl${c.cpl} wp${c.wp}`,
    asm: [
      // UD2 at the fetched address, written before the tables change.
      '    mov word [TEST_PAGE + 0x1000], 0x0b0f',
      `    mov dword [PD + 4], PT1 + ${c.pde}`,
      `    mov dword [PT1 + 4], TEST_PAGE + 0x1000 + ${c.pte}`,
      '    mov eax, cr3',
      '    mov cr3, eax',
      c.wp ? '    mov eax, cr0\n    or eax, 0x10000\n    mov cr0, eax' : '',
      c.cpl ? '    TO_RING 3, 2' : '',
      ACCESS[c.access],
    ].join('\n'),
  }));
}

/**
 * QEMU TCG reports a reserved-bit page fault with the P bit of the error code clear; the SDM (Vol. 3A 4.7)
 * says RSVD is only ever set with P. The fix sets P in QEMU's error code; the ring-0 stack holds the error
 * code too, so its hash (the 11th on the M line) is masked in both dumps.
 */
const RSVD_NEEDS_P = {
  why: 'QEMU clears P in reserved-bit #PF error codes',
  fix: (line: string) => {
    const f = line.split(' ');
    if (f[0] !== 'S' || Number.parseInt(f[3], 16) !== 14) return line;
    const error = Number.parseInt(f[4], 16);
    if (error & 8) f[4] = (error | 1).toString(16).padStart(f[4].length, '0');
    return f.join(' ');
  },
  mask: (line: string) => (line.startsWith('M ') ? maskField(line, 11) : line),
};

/** PAE paging: NX with EFER.NXE on and off, reserved bits in the PTE, PDE and PDPTE, 2 MiB pages. */
function pageFaultsPae(next: () => number): Scenario[] {
  const enable = (nxe: number) =>
    [
      nxe ? '    mov ecx, 0xc0000080\n    rdmsr\n    or eax, 0x800\n    wrmsr' : '',
      '    mov eax, 0x11',
      '    mov cr0, eax',
      '    mov eax, 0x20',
      '    mov cr4, eax',
      '    mov eax, PDPT',
      '    mov cr3, eax',
      '    mov eax, 0x80000011',
      '    mov cr0, eax',
    ].join('\n');
  const cases = product({
    pte: [1, 3, 5, 7],
    nx: [0, 1],
    nxe: [0, 1],
    rsvd: ['none', 'pte51', 'pde51', 'pde-ps13'],
    access: ['read', 'write', 'fetch'],
    cpl: [0, 3],
  });
  const out: Scenario[] = sample(cases, 110, next).map((c) => {
    const pteHi = ((c.nx ? 0x80000000 : 0) | (c.rsvd === 'pte51' ? 0x80000 : 0)) >>> 0;
    const lines = [
      '    mov word [TEST_PAGE + 0x1000], 0x0b0f',
      `    mov dword [PAE_PT2 + 8], TEST_PAGE + 0x1000 + ${c.pte}`,
      `    mov dword [PAE_PT2 + 12], 0x${pteHi.toString(16)}`,
    ];
    if (c.rsvd === 'pde51') lines.push('    mov dword [PAE_PD + 20], 0x80000');
    // A 2 MiB page at 4 MiB with bit 13 set: reserved (SDM Vol. 3A Table 4-16).
    if (c.rsvd === 'pde-ps13') lines.push(`    mov dword [PAE_PD + 16], 0x400000 + 0x2000 + 0x80 + ${c.pte}`);
    lines.push(enable(c.nxe), c.cpl ? '    TO_RING 3, 2' : '', ACCESS[c.access]);
    return {
      name: `pae pte=${c.pte} nx${c.nx} nxe${c.nxe} rsvd=${c.rsvd} ${c.access} cpl${c.cpl}`,
      asm: lines.join('\n'),
      qemuFix: RSVD_NEEDS_P,
    };
  });
  // PDPTEs are loaded with CR3 in PAE mode: a reserved bit (bit 1 here, or bit 51) is #GP(0) there.
  for (const bits of ['0x2', '0x80000 << 32', '0x100']) {
    const [lo, hi] = bits.includes('<<') ? ['PAE_PD + 1', '0x80000'] : [`PAE_PD + 1 + ${bits}`, '0'];
    out.push({
      name: `pae pdpte reserved ${bits}`,
      asm: [`    mov dword [PDPT], ${lo}`, `    mov dword [PDPT + 4], ${hi}`, enable(0)].join('\n'),
      sdm: { vector: 13, error: 0, why: 'QEMU TCG does not check PDPTEs when CR0/CR3/CR4 load them' },
    });
  }
  return out;
}

/** INT n, INT3 and INTO through interrupt, trap and invalid gates, with the gate's DPL and P, from CPL 0 and 3. */
function softwareInterrupts(next: () => number): Scenario[] {
  const cases = product({
    insn: ['int 0x80', 'int3', 'into', 'int 0x0e'],
    type: [0xe, 0xf, 0xc],
    dpl: [0, 3],
    p: [0, 1],
    target: ['KCODE', 'UCODE', 'TEST_SEL'],
    cpl: [0, 3],
  });
  return sample(cases, 120, next).map((c) => {
    const vector = { 'int 0x80': 0x80, int3: 3, into: 4, 'int 0x0e': 0x0e }[c.insn];
    return {
      name: `${c.insn} gate type ${c.type.toString(16)} dpl${c.dpl} p${c.p} -> ${c.target} cpl${c.cpl}`,
      asm: [
        // TEST_SEL: a non-present ring-0 code segment.
        storeDescriptor(TEST, { type: 0xb, p: 0 }),
        storeGate(`IDT + ${vector * 8}`, c.target, `stubs + ${vector * 16}`, gateAccess(c.type, c.dpl, c.p)),
        c.cpl ? '    TO_RING 3, 0x802' : '    push 0x802\n    popfd',
        `    ${c.insn}`,
      ].join('\n'),
    };
  });
}

/** IRET from ring 0 to rings 1-3 (data segments the new CPL may not use are nulled), and bad frames. */
function irets(next: () => number): Scenario[] {
  const cases = product({
    ring: [1, 2, 3],
    ds: ['KDATA', 'UDATA', 'R1DATA', 'TEST_SEL'],
    flags: [0x2, 0x3202, 0x200202],
    ssRpl: ['same', 'other'],
  });
  const out: Scenario[] = sample(cases, 50, next).map((c) => ({
    name: `iret to ring ${c.ring} ds=${c.ds} flags=${c.flags.toString(16)} ss ${c.ssRpl}`,
    asm: [
      // TEST_SEL: a conforming readable code segment, kept by IRET whatever the new CPL.
      storeDescriptor(TEST, { type: 0xf, dpl: 0 }),
      `    mov ax, ${c.ds}`,
      '    mov ds, ax',
      '    mov fs, ax',
      `    push ${c.ssRpl === 'same' ? `R${c.ring}DATA` : `R${c.ring === 3 ? 1 : 3}DATA`}`,
      `    push STACK${c.ring}_TOP - 0x40`,
      `    push 0x${c.flags.toString(16)}`,
      `    push R${c.ring}CODE`,
      '    push @there',
      '    iretd',
      '@there:',
      '    pushfd',
    ].join('\n'),
  }));
  // IRET at CPL 3 to CPL 0 (#GP(CS)), and POPF's IF/IOPL rules at CPL 3 and IOPL 0/3.
  for (const iopl of [0, 3]) {
    out.push({
      name: `iret cpl3 to ring 0 iopl${iopl}`,
      asm: [
        `    TO_RING 3, 0x${(0x2 | (iopl << 12)).toString(16)}`,
        '    push KDATA\n    push STACK0_TOP - 0x40\n    push 2\n    push KCODE\n    push @x\n    iretd\n@x:',
      ].join('\n'),
    });
    out.push({
      name: `popf cpl3 iopl${iopl}`,
      asm: [
        `    TO_RING 3, 0x${(0x2 | (iopl << 12)).toString(16)}`,
        '    push 0x3ed7\n    popfd\n    pushfd\n    pop ebx',
        iopl === 3 ? '    cli\n    pushfd\n    pop ecx\n    sti\n    pushfd\n    pop edx' : '    cli',
      ].join('\n'),
    });
  }
  return out;
}

/**
 * QEMU TCG loads CS with the target's DPL as RPL on a call gate to a conforming segment; the SDM (Vol. 2 CALL,
 * "CALL-TO-SAME-PRIVILEGE") sets CS.RPL to the CPL, 3 here. The fix puts RPL 3 in QEMU's frame; the ring-0
 * stack's hash covers that frame and is masked.
 */
const CONFORMING_CS_RPL = {
  why: 'QEMU loads CS.RPL = DPL through a call gate to a conforming segment',
  fix: (line: string) => {
    const f = line.split(' ');
    if (f[0] === 'S' && Number.parseInt(f[6], 16) === 0x78) f[6] = '0000007b';
    return f.join(' ');
  },
  mask: (line: string) => (line.startsWith('M ') ? maskField(line, 11) : line),
};

/** Far CALL and JMP through call gates: gate DPL, selector RPL, target DPL and conforming, parameter copy. */
function callGates(next: () => number): Scenario[] {
  const cases = product({
    gateDpl: [0, 3],
    rpl: [0, 3],
    target: ['KCODE', 'R1CODE', 'UCODE', 'TEST_SEL'],
    params: [0, 2],
    how: ['call', 'jmp'],
    p: [1, 0],
  });
  return sample(cases, 60, next).map((c) => ({
    name: `${c.how} gate dpl${c.gateDpl} rpl${c.rpl} -> ${c.target} params ${c.params} p${c.p} from cpl3`,
    asm: [
      // TEST_SEL: a conforming ring-0 code segment.
      storeDescriptor(TEST, { type: 0xf, dpl: 0 }),
      storeGate('GDT + GATE_SEL', c.target, '@target', gateAccess(0xc, c.gateDpl, c.p), c.params),
      '    TO_RING 3, 2',
      '    push 0x11111111\n    push 0x22222222\n    push 0x33333333',
      `    ${c.how} GATE_SEL | ${c.rpl}:0`,
      '    mov eax, 0xbad',
      '@target:',
      '    mov ebx, [esp]',
      '    mov ecx, [esp + 4]',
      '    mov edx, [esp + 8]',
      '    mov esi, [esp + 12]',
    ].join('\n'),
    ...(c.target === 'TEST_SEL' ? { qemuFix: CONFORMING_CS_RPL } : {}),
  }));
}

/** IN/OUT at CPL 3 against IOPL and the TSS bitmap (bits for the port and the ones after it, and the limit). */
function ioPermission(next: () => number): Scenario[] {
  const cases = product({
    iopl: [0, 3],
    bits: [0x00, 0x01, 0x02, 0x08, 0xff],
    size: [1, 2, 4],
    dir: ['in', 'out'],
    short: [false, true],
  });
  return sample(cases, 60, next).map((c) => {
    const reg = { 1: 'al', 2: 'ax', 4: 'eax' }[c.size];
    return {
      name: `${c.dir} ${c.size} port 0x2e6 iopl${c.iopl} bitmap ${c.bits.toString(16)} ${c.short ? 'short tss' : ''}`,
      asm: [
        // Port 0x2e6 is bit 6 of bitmap byte 0x5c: the bits value covers ports 0x2e6-0x2ed.
        '    mov dword [IOMAP + 0x5c], 0xffffffff',
        '    mov dword [IOMAP + 0x5c + 4], 0xffffffff',
        `    mov eax, ~(0x${(c.bits ^ 0xff).toString(16)} << 6)`,
        '    and dword [IOMAP + 0x5c], eax',
        // A TSS whose limit ends inside the port's bitmap bytes: the bits past it count as set.
        c.short
          ? '    mov word [GDT + TSS_SEL], 0x68 + 0x5c\n    and byte [GDT + TSS_SEL + 5], ~2\n    mov ax, TSS_SEL\n    ltr ax'
          : '',
        `    TO_RING 3, 0x${(0x2 | (c.iopl << 12)).toString(16)}`,
        '    mov dx, 0x2e6',
        '    mov eax, 0x5a5a5a5a',
        c.dir === 'in' ? `    in ${reg}, dx` : `    out dx, ${reg}`,
      ].join('\n'),
    };
  });
}

/** Privileged instructions at CPL 1 and 3 (#GP(0)), and the IOPL-sensitive ones. */
function privileged(): Scenario[] {
  const insns = [
    'hlt',
    'mov eax, cr0\n    mov cr0, eax',
    'mov eax, cr3',
    'lgdt [TEST_PAGE]',
    'lidt [TEST_PAGE]',
    'lldt ax',
    'ltr ax',
    'invlpg [TEST_PAGE]',
    'mov ecx, 0x10\n    rdmsr',
    'wrmsr',
    'mov eax, dr7',
    'clts',
    'lmsw ax',
    'wbinvd',
    'invd',
    'rdpmc',
    'cli',
    'sti',
    'in al, 0x80',
    'sgdt [TEST_PAGE]\n    str ebx\n    smsw ecx',
    'rdtsc\n    xor eax, eax\n    xor edx, edx',
  ];
  const out: Scenario[] = [];
  for (const insn of insns) {
    for (const ring of [1, 3]) {
      out.push({
        name: `cpl${ring} ${insn.split('\n').at(-1)?.trim()}`,
        asm: `    TO_RING ${ring}, 2\n    xor eax, eax\n    xor ecx, ecx\n    ${insn}\n    mov esi, 0x600d`,
      });
    }
  }
  // RDTSC with CR4.TSD is privileged too.
  out.push({
    name: 'cpl3 rdtsc with tsd',
    asm: '    mov eax, 4\n    mov cr4, eax\n    TO_RING 3, 2\n    rdtsc',
  });
  return out;
}

/** LAR, LSL, VERR and VERW over the descriptor variations, selector RPLs and CPLs. */
function accessRights(next: () => number): Scenario[] {
  const cases = product({
    d: [...DESCRIPTORS, { name: 'task-gate', type: 0x5, s: 0 }, { name: 'tss16', type: 0x1, s: 0 }],
    dpl: [0, 3],
    p: [0, 1],
    rpl: [0, 3],
    cpl: [0, 3],
  });
  return sample(cases, 100, next).map((c) => ({
    name: `lar/lsl/verr/verw ${c.d.name} dpl${c.dpl} p${c.p} rpl${c.rpl} cpl${c.cpl}`,
    asm: [
      storeDescriptor(TEST, { type: c.d.type, s: c.d.s, dpl: c.dpl, p: c.p, limit: 0x12345, g: 0 }),
      c.cpl ? '    TO_RING 3, 2' : '',
      `    mov si, TEST_SEL | ${c.rpl}`,
      '    mov eax, 0xaaaaaaaa\n    mov ebx, 0xbbbbbbbb\n    xor ecx, ecx\n    xor edx, edx',
      '    lar eax, si\n    setz cl',
      '    lsl ebx, si\n    setz ch',
      '    verr si\n    setz dl',
      '    verw si\n    setz dh',
    ].join('\n'),
  }));
}

/** SYSENTER and SYSEXIT (SDM Vol. 2B): the MSRs, CPL checks and the flat segments they load. */
function sysenter(): Scenario[] {
  const msrs = (cs: string) =>
    [
      `    mov ecx, 0x174\n    mov eax, ${cs}\n    xor edx, edx\n    wrmsr`,
      '    mov ecx, 0x175\n    mov eax, STACK0_TOP - 0x20\n    wrmsr',
      '    mov ecx, 0x176\n    mov eax, @kernel\n    wrmsr',
    ].join('\n');
  return [
    {
      name: 'sysenter from cpl3',
      asm: `${msrs('KCODE')}\n    TO_RING 3, 0x202\n    mov ebx, 0x1234\n    sysenter\n@kernel:\n    pushfd`,
    },
    { name: 'sysenter with cs 0', asm: `${msrs('0')}\n    TO_RING 3, 2\n    sysenter\n@kernel:` },
    { name: 'sysenter at cpl0', asm: `${msrs('KCODE')}\n    sysenter\n@kernel:\n    mov eax, 1` },
    {
      name: 'sysexit to cpl3 then sysenter',
      asm: `${msrs('KCODE')}\n    mov ecx, STACK3_TOP - 0x10\n    mov edx, @user\n    sysexit\n@user:\n    mov eax, ss\n    mov ebx, esp\n    sysenter\n@kernel:`,
    },
    { name: 'sysexit at cpl3', asm: `${msrs('KCODE')}\n    TO_RING 3, 2\n    sysexit\n@kernel:` },
    { name: 'sysexit with cs 0', asm: `${msrs('0')}\n    sysexit\n@kernel:` },
  ];
}

/** Interrupts from ring 3 through the TSS's SS0:ESP0, with good and bad stack selectors. */
function stackSwitch(): Scenario[] {
  const ss0 = [
    ['KDATA', 'STACK0_TOP - 0x100'],
    ['0', 'STACK0_TOP'],
    ['UDATA', 'STACK0_TOP'],
    ['R1DATA', 'STACK0_TOP'],
    ['KCODE', 'STACK0_TOP'],
    ['TEST_SEL', 'STACK0_TOP'],
    ['0x100', 'STACK0_TOP'],
    ['KDATA', '0x10'],
  ];
  const out: Scenario[] = [];
  for (const [sel, esp] of ss0) {
    for (const event of ['int 0x80', 'ud2']) {
      out.push({
        name: `ring3 ${event} with tss ss0=${sel} esp0=${esp}`,
        asm: [
          storeDescriptor(TEST, { type: 0x3, p: 0 }),
          storeGate('IDT + 0x80 * 8', 'KCODE', 'stubs + 0x80 * 16', gateAccess(0xe, 3)),
          `    mov dword [TSS + 8], ${sel}`,
          `    mov dword [TSS + 4], ${esp}`,
          // The fault a bad SS0:ESP0 raises would need the same stack again (a triple fault), so #TS, #NP,
          // #SS, #GP and #DF go through task gates to a task of their own (vector 8's stub: the dump tells the
          // faults apart by the error code and the state saved in the TSS).
          tss2Setup('stubs + 8 * 16'),
          ...[8, 10, 11, 12, 13].map((v) => storeGate(`IDT + ${v * 8}`, 'TSS2_SEL', '0', gateAccess(0x5, 0))),
          '    TO_RING 3, 2',
          `    ${event}`,
        ].join('\n'),
      });
    }
  }
  return out;
}

/** Fills TSS2 (SDM Vol. 3A Figure 7-2) for a ring-0 task that starts at `eip` on its own stack. */
function tss2Setup(eip: string): string {
  return [
    '    mov dword [TSS2 + 0x1c], PD',
    `    mov dword [TSS2 + 0x20], ${eip}`,
    '    mov dword [TSS2 + 0x24], 0x2',
    '    mov dword [TSS2 + 0x28], 0x11110000',
    '    mov dword [TSS2 + 0x2c], 0x22220000',
    '    mov dword [TSS2 + 0x30], 0x33330000',
    '    mov dword [TSS2 + 0x34], 0x44440000',
    '    mov dword [TSS2 + 0x38], STACKT_TOP - 0x10',
    '    mov dword [TSS2 + 0x3c], 0x66660000',
    '    mov dword [TSS2 + 0x40], 0x77770000',
    '    mov dword [TSS2 + 0x44], 0x88880000',
    '    mov dword [TSS2 + 0x48], KDATA',
    '    mov dword [TSS2 + 0x4c], KCODE',
    '    mov dword [TSS2 + 0x50], KDATA',
    '    mov dword [TSS2 + 0x54], KDATA',
    '    mov dword [TSS2 + 0x58], KDATA',
    '    mov dword [TSS2 + 0x5c], KDATA',
  ].join('\n');
}

/** Hardware task switches (SDM Vol. 3A 7.3): JMP, CALL and a task gate into TSS2, IRET back through NT. */
function taskSwitches(): Scenario[] {
  const tss2 = tss2Setup('@task');
  const task = '@task:\n    pushfd\n    pop esi\n    str edi';
  return [
    { name: 'task switch jmp', asm: `${tss2}\n    jmp TSS2_SEL:0\n${task}` },
    {
      name: 'task switch call, iret back',
      asm: `${tss2}\n    call TSS2_SEL:0\n    mov ebp, 0xca11\n    ud2\n${task}\n    iretd\n    jmp @task`,
    },
    {
      name: 'task switch through int 0x80 task gate',
      asm: `${tss2}\n${storeGate('IDT + 0x80 * 8', 'TSS2_SEL', '0', gateAccess(0x5, 0))}\n    int 0x80\n${task}`,
    },
    {
      name: 'task switch to a busy tss',
      asm: `${tss2}\n    or byte [GDT + TSS2_SEL + 5], 2\n    jmp TSS2_SEL:0\n${task}`,
    },
    {
      name: 'task switch to a short tss',
      asm: `${tss2}\n    mov word [GDT + TSS2_SEL], 0x60\n    jmp TSS2_SEL:0\n${task}`,
    },
    // Past the commit point a bad selector in the new TSS faults in the new task (SDM Vol. 3A 7.3, Table 7-1):
    // QEMU TCG's handler then records a frame of zeros, so these two are checked against the SDM.
    {
      name: 'task switch to a tss with a bad cs',
      asm: `${tss2}\n    mov dword [TSS2 + 0x4c], KDATA\n    jmp TSS2_SEL:0\n${task}`,
      sdm: { vector: 10, error: 0x10, why: 'QEMU records no frame for faults after a task switch commits' },
    },
    {
      name: 'task switch with a bad ldt',
      asm: `${tss2}\n    mov dword [TSS2 + 0x60], KDATA\n    jmp TSS2_SEL:0\n${task}`,
      sdm: { vector: 10, error: 0x10, why: 'QEMU records no frame for faults after a task switch commits' },
    },
    {
      name: 'task switch from cpl3 through a dpl0 tss',
      asm: `${tss2}\n    TO_RING 3, 2\n    jmp TSS2_SEL:0\n${task}`,
    },
  ];
}

/** Protected mode to real mode and back (with a 4 GiB data limit kept in real mode), and paging toggles. */
function modeSwitches(): Scenario[] {
  const down = (label: string) =>
    [
      '    mov eax, 0x11\n    mov cr0, eax',
      '    mov ax, DATA16\n    mov ds, ax\n    mov es, ax\n    mov ss, ax',
      `    jmp CODE16:(TRAMPOLINE + ${label} - trampoline_start)`,
    ].join('\n');
  const up = ['    mov eax, cr0\n    or al, 1\n    mov cr0, eax', '    jmp dword KCODE:@back'].join('\n');
  const real = (label: string, body: string) =>
    [
      `${label}:`,
      '    mov eax, cr0\n    and al, 0xfe\n    mov cr0, eax',
      `    jmp 0:(TRAMPOLINE + @real - trampoline_start)`,
      '@real:',
      '    xor ax, ax\n    mov ss, ax\n    mov sp, 0xa000',
      body,
      up,
    ].join('\n');
  const back = '@back:\n    mov ax, KDATA\n    mov ds, ax\n    mov ss, ax\n    lidt [idtr]\n    pushfd';
  return [
    {
      name: 'pm -> real -> pm',
      asm: `${down('@r16')}\n${back}`,
      trampoline: real(
        '@r16',
        '    mov ax, 0x800\n    mov ds, ax\n    mov word [0x10], 0x1234\n    push cs\n    push ds\n    pop word [0x20]\n    pop word [0x22]',
      ),
    },
    {
      name: 'real mode ivt delivery',
      asm: `${down('@r16')}\n${back}`,
      trampoline: real(
        '@r16',
        [
          '    lidt [cs:TRAMPOLINE + @ivt - trampoline_start]',
          '    mov word [0x40 * 4], TRAMPOLINE + @handler - trampoline_start',
          '    mov word [0x40 * 4 + 2], 0',
          '    mov bx, 0x1111\n    stc\n    int 0x40',
          '    mov [0x8010], sp\n    jmp @done',
          '@handler:\n    mov bp, sp\n    mov ax, [bp]\n    mov [0x8000], ax\n    mov ax, [bp + 2]\n    mov [0x8002], ax\n    mov ax, [bp + 4]\n    mov [0x8004], ax\n    mov bx, 0x2222\n    iret',
          '@ivt:\n    dw 0x3ff\n    dd 0',
          '@done:',
        ].join('\n'),
      ),
    },
    {
      name: 'unreal mode: a 4 GiB DS limit survives real mode',
      asm: `    mov ax, KDATA\n    mov fs, ax\n${down('@r16')}\n${back}`,
      trampoline: real(
        '@r16',
        '    xor ax, ax\n    mov ds, ax\n    mov dword [fs:0x400010], 0xfeedbeef\n    mov ebx, [fs:0x400010]',
      ),
    },
    {
      // Protected mode -> 4-level paging and long mode (compatibility, then 64-bit code) -> compatibility ->
      // protected mode with 32-bit paging again (SDM Vol. 3A 9.8.5). Nothing may fault in long mode: the IDT
      // holds 32-bit gates. The 4-level tables sit on the test pages.
      name: 'protected -> long -> compatibility -> protected',
      asm: [
        storeDescriptor('GDT + TEST_SEL', { type: 0xb, l: 1, db: 0 }),
        '    mov eax, 0x11\n    mov cr0, eax',
        '    mov dword [TEST_PAGE], TEST_PAGE + 0x1000 + 3',
        '    mov dword [TEST_PAGE + 0x1000], TEST_PAGE + 0x2000 + 3',
        '    mov dword [TEST_PAGE + 0x2000], 0x83',
        '    mov dword [TEST_PAGE + 0x2008], 0x200000 + 0x83',
        '    mov dword [TEST_PAGE + 0x2010], 0x400000 + 0x83',
        '    mov eax, 0x20\n    mov cr4, eax',
        '    mov eax, TEST_PAGE\n    mov cr3, eax',
        '    mov ecx, 0xc0000080\n    rdmsr\n    or eax, 0x100\n    wrmsr',
        '    mov eax, 0x80000011\n    mov cr0, eax',
        '    mov ecx, 0xc0000080\n    rdmsr\n    mov esi, eax',
        '    jmp TEST_SEL:@long',
        'bits 64',
        '@long:',
        '    mov rax, 0x123456789abcdef0\n    ror rax, 16\n    mov rdi, rax\n    shr rdi, 32',
        '    push KCODE\n    push @compat\n    retfq',
        'bits 32',
        '@compat:',
        '    mov eax, 0x11\n    mov cr0, eax',
        '    mov ecx, 0xc0000080\n    rdmsr\n    mov ebp, eax\n    and eax, ~0x100\n    wrmsr',
        '    xor eax, eax\n    mov cr4, eax\n    mov eax, PD\n    mov cr3, eax\n    mov eax, 0x80000011\n    mov cr0, eax',
      ].join('\n'),
    },
    {
      name: 'paging off and on with a different cr3',
      asm: '    mov eax, 0x11\n    mov cr0, eax\n    mov dword [PT0 + 4 * 0x400], TEST_PAGE + 0x1000 + 3\n    mov eax, PD\n    mov cr3, eax\n    mov eax, 0x80000011\n    mov cr0, eax\n    mov eax, [0x400000 + 8]\n    mov dword [0x400000 + 12], 7',
    },
  ];
}

/** Every 32-bit scenario, in a fixed order. */
export function scenarios32(): Scenario[] {
  const next = seeded(0x5eed32);
  return [
    ...segmentLoads(next),
    ...limits(next),
    ...pageFaults32(next),
    ...pageFaultsPae(next),
    ...softwareInterrupts(next),
    ...irets(next),
    ...callGates(next),
    ...ioPermission(next),
    ...privileged(),
    ...accessRights(next),
    ...sysenter(),
    ...stackSwitch(),
    ...taskSwitches(),
    ...modeSwitches(),
  ];
}
