; Real mode single step (KVM_GUESTDBG_SINGLESTEP): instructions of different lengths, so that the
; DEBUG exit after each step reports `pc` = the linear address of the next instruction: step1,
; step2, step3, step4 in turn.
bits 16
%include "layout.inc"
org LOAD_ADDR

start:
    nop                         ; 1 byte
step1:
    inc ax                      ; 1 byte
step2:
    mov bx, 0x1234              ; 3 bytes
step3:
    add ax, bx                  ; 2 bytes
step4:
    out PORT_OUT, ax            ; 2 bytes
done:
    hlt
