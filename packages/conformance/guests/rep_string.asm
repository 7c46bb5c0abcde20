; Real mode string IO: proves `rep outsb` hands the VMM exactly the bytes of `message` in order,
; `rep insb` stores what the VMM supplies (CX items), and the guest saw them: it sends the
; received buffer back out to PORT_ECHO with another `rep outsb`.
bits 16
%include "layout.inc"
org LOAD_ADDR

IN_COUNT equ 5

start:
    cld
    mov si, message
    mov cx, message_end - message
    mov dx, PORT_STRING
    rep outsb                   ; OUT to PORT_STRING, CX bytes from DS:SI
    out PORT_DONE, al
    mov di, DATA_ADDR
    mov cx, IN_COUNT
    rep insb                    ; IN from PORT_STRING, CX bytes to ES:DI
    mov si, DATA_ADDR
    mov cx, IN_COUNT
    mov dx, PORT_ECHO
    rep outsb                   ; what the guest received
done:
    hlt

message:
    db "kvm-ts"
message_end:
