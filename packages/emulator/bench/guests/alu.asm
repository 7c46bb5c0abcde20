; ALU: register-only arithmetic and logic with flags consumed by ADC and the loop branch.
PER_ITERATION equ 10
%include "prologue.inc"
    mov xbx, 1
    mov xdx, 3
    xor xsi, xsi
    xor xdi, xdi
    xor eax, eax
bench_loop:
    add xax, xbx
    xor xdx, xax
    sub xbx, xdx
    and xsi, xax
    or xdi, xdx
    shl xax, 1
    inc xbx
    adc xsi, 5
    dec xcx
    jnz bench_loop
%include "epilogue.inc"
