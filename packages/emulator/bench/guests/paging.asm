; Paging-heavy: each iteration loads and stores on the next 4 KiB page of a 16 MiB window, then INVLPGs it,
; so every iteration walks the page tables (32-bit paging in protected mode, 4-level paging in long mode).
PER_ITERATION equ 9
%ifndef LONG
%define PAGING32
%endif
%include "prologue.inc"
    mov xbx, WINDOW
bench_loop:
    mov eax, [xbx]
    add eax, ecx
    mov [xbx + 64], eax
    invlpg [xbx]
    add ebx, 0x1000
    and ebx, WINDOW_SIZE - 1
    or ebx, WINDOW
    dec xcx
    jnz bench_loop
%include "epilogue.inc"
