; Real mode interrupt injection (KVM_INTERRUPT and KVM_NMI, no in-kernel irqchip): every IVT entry
; points at `wrong`, except VECTOR's, which points at `handler`, and the NMI's (2), which points at
; `nmi_handler`. After STI the guest reports PORT_DONE (IF = 1 from then on) and halts. The handler
; reports VECTOR on PORT_VECTOR, `nmi_handler` NMI_VECTOR, and `wrong` 0xee. So an interrupt the VMM
; injects proves it was delivered through the right IVT entry.
bits 16
%include "layout.inc"
org LOAD_ADDR

VECTOR equ 0x20
NMI_VECTOR equ 2
WRONG_VECTOR_MARK equ 0xee

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, STACK_TOP
    xor di, di
    mov cx, 256
fill:
    mov word [di], wrong        ; offset
    mov word [di + 2], 0        ; segment
    add di, 4
    loop fill
    mov word [VECTOR * 4], handler
    mov word [NMI_VECTOR * 4], nmi_handler
    sti
    out PORT_DONE, al           ; ready: interrupts enabled
waiting:
    hlt
after_interrupt:
    out PORT_DONE, al
    hlt

handler:
    mov al, VECTOR
    out PORT_VECTOR, al
    iret

nmi_handler:
    mov al, NMI_VECTOR
    out PORT_VECTOR, al
    iret

wrong:
    mov al, WRONG_VECTOR_MARK
    out PORT_VECTOR, al
    iret
