; 32-bit protected mode memory probe, driven by registers the VMM sets before each run:
; ESI = address to read (4 bytes, echoed to PORT_ECHO), EDI = address to write, ECX = value.
; Used for slots: a read from RAM, a read-only slot or an unbacked address (MMIO read), and a
; write to RAM (dirty log), a read-only slot or an unbacked address (MMIO write).
bits 32
%include "layout.inc"
org LOAD_ADDR

start:
    mov eax, [esi]
    out PORT_ECHO, eax          ; what the read returned
    mov [edi], ecx
    out PORT_DONE, al           ; the write is complete
done:
    hlt
