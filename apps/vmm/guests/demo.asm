; kvm-ts demo guest.
;
; A flat binary loaded at 0x7c00 and entered in real mode (CS:IP = 0000:7C00), as a BIOS enters a boot sector.
; It switches to long mode on its own (identity page tables at 0x10000, PAE, EFER.LME, then CR0.PE|PG in one
; step and a far jump to a 64-bit code segment), prints on COM1 which hypervisor it runs on as CPUID leaf
; 0x40000000 reports it ("KVMKVMKVM" for KVM, "KVMTSEMU" for the kvm-ts emulator), counts the primes below
; 20000 with a progress dot per 1000 numbers, and then resets the machine through the i8042 (status 0) when
; the count is right, or writes 1 to the exit port 0xf4 (status 3) when it is not.
;
; Build: node guests/build.mjs (writes src/guests/generated.ts); check: node guests/build.mjs --check.

bits 16
org 0x7c00

COM1            equ 0x3f8
COM1_LSR        equ COM1 + 5
LSR_THRE        equ 0x20
EXIT_PORT       equ 0xf4
I8042_COMMAND   equ 0x64
I8042_RESET     equ 0xfe

PAGE_TABLES     equ 0x10000         ; PML4, then PDPT at +0x1000, then one PD at +0x2000
SIGNATURE_BUF   equ 0x14000         ; 12 signature bytes and a NUL, away from the code's page
STACK_TOP       equ 0x70000         ; long-mode stack, away from the code's page

LIMIT           equ 20000
EXPECTED        equ 2262            ; primes below 20000
DOT_EVERY       equ 500             ; odd numbers per dot (1000 numbers)

start:
    cli
    cld
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    mov si, msg_real
    call print16

    ; Identity map the first 1 GiB with 2 MiB pages.
    mov ax, PAGE_TABLES >> 4
    mov es, ax
    xor di, di
    xor eax, eax
    mov cx, 3 * 4096 / 4
    rep stosd
    mov dword [es:0x0000], PAGE_TABLES + 0x1000 + 3     ; PML4[0] -> PDPT, present + writable
    mov dword [es:0x1000], PAGE_TABLES + 0x2000 + 3     ; PDPT[0] -> PD
    mov di, 0x2000
    mov eax, 0x83                                       ; present + writable + 2 MiB page
    mov cx, 512
.pd:
    mov [es:di], eax
    add eax, 0x200000
    add di, 8
    loop .pd

    lgdt [gdt_pointer]
    mov eax, cr4
    or eax, 1 << 5                  ; CR4.PAE
    mov cr4, eax
    mov eax, PAGE_TABLES
    mov cr3, eax
    mov ecx, 0xc0000080             ; IA32_EFER
    rdmsr
    or eax, 1 << 8                  ; EFER.LME
    wrmsr
    mov eax, cr0
    or eax, 0x80000001              ; CR0.PG | CR0.PE: straight from real mode to long mode
    mov cr0, eax
    jmp 0x08:long_mode

; Prints the NUL-terminated string at DS:SI on COM1, polling LSR for an empty transmit register.
print16:
    lodsb
    test al, al
    jz .done
    mov bl, al
    mov dx, COM1_LSR
.wait:
    in al, dx
    test al, LSR_THRE
    jz .wait
    mov al, bl
    mov dx, COM1
    out dx, al
    jmp print16
.done:
    ret

bits 64
long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, STACK_TOP
    lea rsi, [rel msg_long]
    call print

    ; Which hypervisor? CPUID.1:ECX bit 31 says one is present; leaf 0x40000000 names it.
    mov eax, 1
    cpuid
    bt ecx, 31
    jnc .bare
    mov eax, 0x40000000
    cpuid
    mov edi, SIGNATURE_BUF
    mov [rdi], ebx
    mov [rdi + 4], ecx
    mov [rdi + 8], edx
    mov byte [rdi + 12], 0
    lea rsi, [rel msg_signature]
    call print
    mov esi, SIGNATURE_BUF
    call print
    lea rdx, [rel sig_kvm]
    lea rsi, [rel msg_kvm]
    call match_signature
    lea rdx, [rel sig_emulator]
    lea rsi, [rel msg_emulator]
    call match_signature
    lea rsi, [rel msg_other]
    call print
    jmp work
.bare:
    lea rsi, [rel msg_bare]
    call print

; Counts primes below LIMIT by trial division, printing a dot every 5000 numbers.
work:
    lea rsi, [rel msg_work]
    call print
    mov r12d, 1                     ; 2 is prime
    mov r13d, 3                     ; candidate (odd)
    mov r14d, DOT_EVERY
.candidate:
    cmp r13d, LIMIT
    jae .counted
    mov r8d, 3
.trial:
    mov eax, r8d
    imul eax, eax
    cmp eax, r13d
    ja .prime
    mov eax, r13d
    xor edx, edx
    div r8d
    test edx, edx
    jz .next
    add r8d, 2
    jmp .trial
.prime:
    inc r12d
.next:
    add r13d, 2
    dec r14d
    jnz .candidate
    mov r14d, DOT_EVERY
    mov al, '.'
    call putc
    jmp .candidate
.counted:
    mov al, ' '
    call putc
    mov eax, r12d
    call print_decimal
    lea rsi, [rel msg_found]
    call print
    cmp r12d, EXPECTED
    jne .wrong
    lea rsi, [rel msg_done]
    call print
    mov al, I8042_RESET
    out I8042_COMMAND, al
    jmp halt
.wrong:
    lea rsi, [rel msg_wrong]
    call print
    mov al, 1
    out EXIT_PORT, al
halt:
    cli
    hlt
    jmp halt

; If the signature at SIGNATURE_BUF equals the 12 bytes at RDX, prints RSI and continues at `work`
; (dropping this call's return address); otherwise returns.
match_signature:
    push rsi
    mov esi, SIGNATURE_BUF
    mov rdi, rdx
    mov ecx, 12
    repe cmpsb
    pop rsi
    jne .no
    add rsp, 8
    call print
    jmp work
.no:
    ret

; Prints the NUL-terminated string at RSI.
print:
    lodsb
    test al, al
    jz .done
    call putc
    jmp print
.done:
    ret

; Writes AL to COM1 once the transmit holding register is empty.
putc:
    mov bl, al
    mov dx, COM1_LSR
.wait:
    in al, dx
    test al, LSR_THRE
    jz .wait
    mov al, bl
    mov dx, COM1
    out dx, al
    ret

; Prints EAX in decimal.
print_decimal:
    sub rsp, 16
    lea rdi, [rsp + 15]
    mov byte [rdi], 0
    mov ecx, 10
.digit:
    xor edx, edx
    div ecx
    add dl, '0'
    dec rdi
    mov [rdi], dl
    test eax, eax
    jnz .digit
    mov rsi, rdi
    call print
    add rsp, 16
    ret

align 8
gdt:
    dq 0
    dq 0x00af9a000000ffff           ; 0x08: 64-bit code, present, DPL 0
    dq 0x00cf92000000ffff           ; 0x10: data, read/write
gdt_pointer:
    dw gdt_pointer - gdt - 1
    dd gdt

sig_kvm:        db 'KVMKVMKVM', 0, 0, 0
sig_emulator:   db 'KVMTSEMU', 0, 0, 0, 0

msg_real:       db 13, 10, 'kvm-ts demo guest: started in 16-bit real mode at 0000:7C00', 13, 10, 0
msg_long:       db 'switched to 64-bit long mode', 13, 10, 0
msg_signature:  db 'CPUID 0x40000000 hypervisor signature: ', 0
msg_kvm:        db ' -> running on KVM (hardware virtualization)', 13, 10, 0
msg_emulator:   db ' -> running on the kvm-ts emulator (x86-64 in TypeScript)', 13, 10, 0
msg_other:      db ' -> running on an unknown hypervisor', 13, 10, 0
msg_bare:       db 'no hypervisor bit in CPUID: bare metal?', 13, 10, 0
msg_work:       db 'counting primes below 20000 ', 0
msg_found:      db ' found', 13, 10, 0
msg_done:       db 'that is right: resetting the machine through the i8042. Bye!', 13, 10, 0
msg_wrong:      db 'that is wrong (expected 2262): exit port status 3', 13, 10, 0
