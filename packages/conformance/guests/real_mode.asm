; Real mode (16-bit, CS base 0): proves the guest runs real-mode code from LOAD_ADDR and that
; - an OUT exits as IO (out, size 1, port PORT_OUT, data 0x5a),
; - an IN exit is completed by the VMM filling the data (the guest echoes it to PORT_ECHO),
; - a store to an address no slot backs exits as an MMIO write (2 bytes at MMIO_ADDR),
; - a load from it exits as an MMIO read that the VMM completes (echoed to PORT_ECHO),
; - HLT exits as HLT (no in-kernel irqchip).
bits 16
%include "layout.inc"
org LOAD_ADDR

start:
    mov al, 0x5a
    out PORT_OUT, al            ; IO out, 1 byte
    in ax, PORT_IN              ; IO in, 2 bytes: the VMM fills them
    out PORT_ECHO, ax           ; the value the guest received
    mov ax, MMIO_SEG
    mov ds, ax
    mov word [0], 0xbeef        ; MMIO write, 2 bytes at MMIO_ADDR
    mov ax, [8]                 ; MMIO read, 2 bytes at MMIO_ADDR + 8
    out PORT_ECHO, ax           ; the value the VMM supplied
done:
    hlt
