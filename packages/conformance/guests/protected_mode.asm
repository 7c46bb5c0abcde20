; 32-bit protected mode with flat segments (loaded by the VMM through KVM_SET_SREGS, no GDT needed):
; proves 32-bit operand and address size by doing the real_mode.asm steps with 4-byte accesses:
; IO out (4 bytes), IO in completed by the VMM and echoed, MMIO write and MMIO read of 4 bytes at a
; flat 32-bit address, then HLT.
bits 32
%include "layout.inc"
org LOAD_ADDR

start:
    mov eax, 0x12345678
    out PORT_OUT, eax           ; IO out, 4 bytes
    in eax, PORT_IN             ; IO in, 4 bytes
    out PORT_ECHO, eax
    mov dword [MMIO_ADDR], 0xdeadbeef   ; MMIO write, 4 bytes
    mov eax, [MMIO_ADDR + 8]            ; MMIO read, 4 bytes
    out PORT_ECHO, eax
done:
    hlt
