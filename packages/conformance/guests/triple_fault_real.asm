; Real mode triple fault: with an IVT limit of 0, #UD (ud2) cannot be delivered (#GP), nor can the
; #GP (#DF), nor the #DF: the CPU shuts down, which KVM reports as KVM_EXIT_SHUTDOWN.
bits 16
%include "layout.inc"
org LOAD_ADDR

start:
    lidt [empty_idt]
fault:
    ud2

empty_idt:
    dw 0                        ; limit 0: no vector fits
    dd 0
