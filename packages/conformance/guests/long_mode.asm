; 64-bit long mode (paging through the identity tables the VMM builds, CS.L = 1): proves
; - 64-bit registers: the high half of a 64-bit immediate reaches PORT_OUT only in 64-bit mode,
; - paging: a load through ALIAS_BASE (a second mapping of physical 0) returns `marker`,
; - IO in completed by the VMM, MMIO write and MMIO read of 8 bytes, then HLT.
bits 64
%include "layout.inc"
org LOAD_ADDR

start:
    mov rax, 0x1122334455667788
    shr rax, 32
    out PORT_OUT, eax           ; 0x11223344 only if RAX is 64 bits wide
    mov eax, [ALIAS_BASE + marker]
    out PORT_ECHO, eax          ; `marker`, read through the alias mapping
    in eax, PORT_IN
    out PORT_ECHO, eax
    mov rbx, MMIO_ADDR
    mov rax, 0x0102030405060708
    mov [rbx], rax              ; MMIO write, 8 bytes
    mov rax, [rbx + 8]          ; MMIO read, 8 bytes
    out PORT_ECHO, eax          ; low half of what the VMM supplied
    shr rax, 32
    out PORT_ECHO, eax          ; high half
done:
    hlt

align 4
marker:
    dd 0x600dcafe
