; String ops: REP MOVSD of 8 dwords (8 instructions counted, one per element), then single LODS, STOS, MOVS,
; CMPS and SCAS.
PER_ITERATION equ 22
%include "prologue.inc"
bench_loop:
    mov xsi, DATA_BUF
    mov xdi, DATA_BUF + 0x8000
    mov xdx, xcx
    mov ecx, 8
    rep movsd
    mov xcx, xdx
    lodsd
    stosd
    movsd
    movsb
    mov xsi, DATA_BUF
    cmpsd
    scasb
    dec xcx
    jnz bench_loop
%include "epilogue.inc"
