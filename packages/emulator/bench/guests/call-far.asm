; Call/ret across pages: a call of a one-instruction leaf on the next page an iteration. A compiled trace follows
; calls only on its own page, so compiled code goes from block to block here (the call, the leaf, the return),
; as a kernel's calls between functions on different pages do.
PER_ITERATION equ 5
%include "prologue.inc"
    xor eax, eax
bench_loop:
    call leaf
    dec xcx
    jnz bench_loop
    jmp finish
align 4096
leaf:
    add xax, 1
    ret
finish:
%include "epilogue.inc"
