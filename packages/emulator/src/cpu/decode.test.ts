import { describe, expect, it } from 'vitest';
import { decode, Insn, InsnFlag, NO_REG, UD_OP } from './decode.js';
import { CodeMode, Seg } from './state.js';

function dec(mode: number, hex: string): Insn {
  const bytes = hex.match(/../g)!.map((b) => Number.parseInt(b, 16));
  const out = new Insn();
  expect(decode(mode, (k) => (k < bytes.length ? bytes[k] : 0x90), out)).toBe(true);
  return out;
}

describe('decode', () => {
  it('lengths and operand sizes in each mode', () => {
    // [mode, bytes, length, operand size, address size]
    const cases: [number, string, number, number, number][] = [
      [CodeMode.M16, 'b83412', 3, 2, 2], // mov ax, 0x1234
      [CodeMode.M16, '66b878563412', 6, 4, 2], // mov eax, 0x12345678
      [CodeMode.M16, '8b4706', 3, 2, 2], // mov ax, [bx+6]
      [CodeMode.M16, '678b4306', 4, 2, 4], // mov ax, [ebx+6]
      [CodeMode.M32, '8b848878563412', 7, 4, 4], // mov eax, [eax+ecx*4+0x12345678]
      [CodeMode.M32, '66c7001000', 5, 2, 4], // mov word [eax], 0x10
      [CodeMode.M64, '48b88877665544332211', 10, 8, 8], // mov rax, 0x1122334455667788
      [CodeMode.M64, '8b0500100000', 6, 4, 8], // mov eax, [rip+0x1000]
      [CodeMode.M64, '41ffd3', 3, 8, 8], // call r11
      [CodeMode.M64, '6650', 2, 2, 8], // push ax
      [CodeMode.M64, 'e800000000', 5, 8, 8], // call rel32
      [CodeMode.M64, '0fb6c0', 3, 4, 8], // movzx eax, al
      [CodeMode.M64, '0f38f00f', 4, 4, 8], // movbe ecx, [rdi]
    ];
    for (const [mode, hex, len, osize, asize] of cases) {
      const i = dec(mode, hex);
      expect([hex, i.len, i.osize, i.asize]).toEqual([hex, len, osize, asize]);
    }
  });

  it('ModRM, SIB and RIP-relative fields', () => {
    // 8b 84 88 78 56 34 12: mov eax, [eax+ecx*4+0x12345678]
    const sib = dec(CodeMode.M32, '8b848878563412');
    expect([sib.base, sib.index, sib.scale, sib.disp]).toEqual([0, 1, 2, 0x12345678]);
    // 8b 05 00 10 00 00: mov eax, [rip+0x1000]
    const rip = dec(CodeMode.M64, '8b0500100000');
    expect([rip.flags & InsnFlag.RIPREL, rip.base, rip.disp]).toEqual([InsnFlag.RIPREL, NO_REG, 0x1000]);
    // 8b 46 fc: mov ax, [bp-4] uses SS
    const bp = dec(CodeMode.M16, '8b46fc');
    expect([bp.seg, bp.disp]).toEqual([Seg.SS, -4]);
    // 64 8b 03: mov eax, fs:[rbx]
    expect(dec(CodeMode.M64, '648b03').seg).toBe(Seg.FS);
    // 4c 8b 4c 24 08: mov r9, [rsp+8]
    const r9 = dec(CodeMode.M64, '4c8b4c2408');
    expect([r9.reg, r9.base, r9.index, r9.disp, r9.osize]).toEqual([9, 4, NO_REG, 8, 8]);
  });

  it('byte registers: AH..BH without REX, SPL..DIL with it', () => {
    // 88 e0: mov al, ah
    expect(dec(CodeMode.M64, '88e0').regB).toBe(16);
    // 40 88 e0: mov al, spl
    expect(dec(CodeMode.M64, '4088e0').regB).toBe(4);
  });

  it('invalid encodings decode to #UD: opcodes invalid in 64-bit mode, LOCK on a register, unknown opcodes', () => {
    expect(dec(CodeMode.M64, '06').op).toBe(UD_OP); // push es
    expect(dec(CodeMode.M32, '06').op).toBe(0x06);
    expect(dec(CodeMode.M32, 'f001c0').op).toBe(UD_OP); // lock add eax, eax
    expect(dec(CodeMode.M32, 'f00100').op).toBe(0x01); // lock add [eax], eax
    expect(dec(CodeMode.M32, '0f04').op).toBe(UD_OP); // 0f 04: no such opcode
  });

  it('an instruction longer than 15 bytes is marked for #GP', () => {
    const i = dec(CodeMode.M32, '6666666666666666666666666666669090');
    expect(i.op).toBe(UD_OP);
    expect(i.flags & InsnFlag.LOCK).toBe(InsnFlag.LOCK);
  });
});
