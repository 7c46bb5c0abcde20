; Load/store: two loads and two stores an iteration, base + index addressing, over a 64 KiB data buffer.
PER_ITERATION equ 9
%include "prologue.inc"
    mov xbx, DATA_BUF
    xor esi, esi
bench_loop:
    mov xax, [xbx + xsi]
    add xax, xcx
    mov [xbx + xsi + 0x8000], xax
    mov xdx, [xbx + xsi + 8]
    mov [xbx + xsi + 0x8008], xdx
    add esi, 16
    and esi, 0x7ff0
    dec xcx
    jnz bench_loop
%include "epilogue.inc"
