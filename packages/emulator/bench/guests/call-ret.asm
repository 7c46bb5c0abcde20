; Call/ret: two near calls of a one-instruction leaf an iteration.
PER_ITERATION equ 8
%include "prologue.inc"
    xor eax, eax
bench_loop:
    call leaf
    call leaf
    dec xcx
    jnz bench_loop
    jmp finish
leaf:
    add xax, 1
    ret
finish:
%include "epilogue.inc"
