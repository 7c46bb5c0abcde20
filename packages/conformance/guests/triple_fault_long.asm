; Long mode triple fault: an IDT with limit 0 makes the #UD of ud2 escalate to #GP, #DF and a
; shutdown (KVM_EXIT_SHUTDOWN).
bits 64
%include "layout.inc"
org LOAD_ADDR

start:
    lidt [rel empty_idt]
fault:
    ud2

empty_idt:
    dw 0                        ; limit 0: no vector fits
    dq 0
