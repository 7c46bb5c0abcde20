; 32-bit protected mode: executes CPUID leaf 0 and reports EAX, EBX, ECX, EDX to PORT_ECHO in that
; order, proving the guest sees the leaves set with KVM_SET_CPUID2.
bits 32
%include "layout.inc"
org LOAD_ADDR

start:
    xor eax, eax
    xor ecx, ecx
    cpuid
    out PORT_ECHO, eax
    mov eax, ebx
    out PORT_ECHO, eax
    mov eax, ecx
    out PORT_ECHO, eax
    mov eax, edx
    out PORT_ECHO, eax
done:
    hlt
