; Real mode string IO: proves `rep outsb` hands the VMM exactly the bytes of `message` in order,
; `rep insb` stores what the VMM supplies (IN_COUNT bytes), and the guest saw them: it sends the
; received buffer back out to PORT_ECHO with another `rep outsb`. Then the same with words
; (`rep insw` / `rep outsw`, WORD_COUNT items of 2 bytes), so size and count are both exercised.
bits 16
%include "layout.inc"
org LOAD_ADDR

IN_COUNT equ 5
WORD_COUNT equ 3
WORDS_ADDR equ DATA_ADDR + 0x100

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
    out PORT_DONE, al
words:
    mov di, WORDS_ADDR
    mov cx, WORD_COUNT
    mov dx, PORT_STRING
    rep insw                    ; IN from PORT_STRING, CX words to ES:DI
    mov si, WORDS_ADDR
    mov cx, WORD_COUNT
    mov dx, PORT_ECHO
    rep outsw                   ; what the guest received, word by word
done:
    hlt

message:
    db "kvm-ts"
message_end:
