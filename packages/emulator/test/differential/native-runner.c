/*
 * Runs x86 snippets on the host CPU for the emulator's differential tests (differential.test.ts).
 * Each input line: <mode 64|32> <code hex> <rflags hex> <16 registers hex, encoding order> <data hex>. The
 * snippet is copied to CODE_ADDR followed by a jump back, the registers (but RSP) and RFLAGS are loaded, it
 * runs, and the line printed back is: <16 registers hex> <rflags hex> <data hex>. Code and data sit at the
 * same fixed addresses as in the emulated guest, so addresses compare equal. Mode 32 runs the snippet in
 * compatibility mode through Linux's 32-bit user code segment (0x23) on a stack below 4 GiB.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CODE_ADDR 0x20000UL
#define DATA_ADDR 0x30000UL
#define DATA_SIZE 256
#define STACK32_ADDR 0x50000UL
#define RETURN64_OFFSET 0x800

struct state {
  uint64_t r[16];
  uint64_t flags;
};

struct state snip_state;
uint64_t saved_rsp;
uint64_t back_addr;
uint64_t code_addr = CODE_ADDR;
extern void run_snippet(void);
extern void run_snippet32(void);
extern char snippet_back[];

__asm__(
    ".intel_syntax noprefix\n"
    ".globl run_snippet\n"
    "run_snippet:\n"
    "  push rbx\n push rbp\n push r12\n push r13\n push r14\n push r15\n"
    "  mov [rip + saved_rsp], rsp\n"
    "  push qword ptr [rip + snip_state + 128]\n"
    "  popfq\n"
    "  mov rcx, [rip + snip_state + 8]\n mov rdx, [rip + snip_state + 16]\n mov rbx, [rip + snip_state + 24]\n"
    "  mov rbp, [rip + snip_state + 40]\n mov rsi, [rip + snip_state + 48]\n mov rdi, [rip + snip_state + 56]\n"
    "  mov r8, [rip + snip_state + 64]\n mov r9, [rip + snip_state + 72]\n mov r10, [rip + snip_state + 80]\n mov r11, [rip + snip_state + 88]\n"
    "  mov r12, [rip + snip_state + 96]\n mov r13, [rip + snip_state + 104]\n mov r14, [rip + snip_state + 112]\n mov r15, [rip + snip_state + 120]\n"
    "  mov rax, [rip + snip_state + 0]\n"
    "  jmp qword ptr [rip + code_addr]\n"
    ".globl run_snippet32\n"
    "run_snippet32:\n"
    "  push rbx\n push rbp\n push r12\n push r13\n push r14\n push r15\n"
    "  mov [rip + saved_rsp], rsp\n"
    "  push qword ptr [rip + snip_state + 128]\n"
    "  popfq\n"
    "  mov rcx, [rip + snip_state + 8]\n mov rdx, [rip + snip_state + 16]\n mov rbx, [rip + snip_state + 24]\n"
    "  mov rbp, [rip + snip_state + 40]\n mov rsi, [rip + snip_state + 48]\n mov rdi, [rip + snip_state + 56]\n"
    "  mov ax, 0x2b\n mov ds, ax\n mov es, ax\n"
    "  mov rsp, 0x5f000\n"
    "  push 0x23\n"
    "  push 0x20000\n"
    "  mov rax, [rip + snip_state + 0]\n"
    "  .byte 0x48, 0xcb\n"
    ".globl snippet_back\n"
    "snippet_back:\n"
    "  mov [rip + snip_state + 0], rax\n mov [rip + snip_state + 8], rcx\n mov [rip + snip_state + 16], rdx\n mov [rip + snip_state + 24], rbx\n"
    "  mov [rip + snip_state + 40], rbp\n mov [rip + snip_state + 48], rsi\n mov [rip + snip_state + 56], rdi\n"
    "  mov [rip + snip_state + 64], r8\n mov [rip + snip_state + 72], r9\n mov [rip + snip_state + 80], r10\n mov [rip + snip_state + 88], r11\n"
    "  mov [rip + snip_state + 96], r12\n mov [rip + snip_state + 104], r13\n mov [rip + snip_state + 112], r14\n mov [rip + snip_state + 120], r15\n"
    "  pushfq\n"
    "  pop qword ptr [rip + snip_state + 128]\n"
    "  cld\n"
    "  mov rsp, [rip + saved_rsp]\n"
    "  pop r15\n pop r14\n pop r13\n pop r12\n pop rbp\n pop rbx\n"
    "  ret\n"
    ".att_syntax\n");

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

static size_t unhex(const char *s, uint8_t *out) {
  size_t n = 0;
  while (s[0] && s[1]) {
    out[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
    s += 2;
  }
  return n;
}

int main(void) {
  uint8_t *code = mmap((void *)CODE_ADDR, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  uint8_t *data = mmap((void *)DATA_ADDR, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                       -1, 0);
  uint8_t *stack32 = mmap((void *)STACK32_ADDR, 0x10000, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (code != (uint8_t *)CODE_ADDR || data != (uint8_t *)DATA_ADDR || stack32 != (uint8_t *)STACK32_ADDR) {
    fprintf(stderr, "cannot map the fixed code and data pages\n");
    return 2;
  }
  back_addr = (uint64_t)snippet_back;
  static char line[65536];
  static char field[16384];
  while (fgets(line, sizeof line, stdin)) {
    char *p = line;
    int used;
    int mode;
    if (sscanf(p, "%d%n", &mode, &used) != 1) continue;
    p += used;
    if (sscanf(p, "%16383s%n", field, &used) != 1) continue;
    p += used;
    size_t len = unhex(field, code);
    uint8_t *jump = code + len;
    if (mode == 32) {
      /* jmp far 0x33:CODE_ADDR+RETURN64_OFFSET, back to 64-bit mode, where the jump below waits. */
      uint32_t target = CODE_ADDR + RETURN64_OFFSET;
      code[len] = 0xea;
      memcpy(code + len + 1, &target, 4);
      code[len + 5] = 0x33;
      code[len + 6] = 0x00;
      jump = code + RETURN64_OFFSET;
    }
    /* jmp qword [rip + 0]; dq snippet_back */
    jump[0] = 0xff;
    jump[1] = 0x25;
    memset(jump + 2, 0, 4);
    memcpy(jump + 6, &back_addr, 8);
    unsigned long long v;
    sscanf(p, "%llx%n", &v, &used);
    p += used;
    snip_state.flags = v;
    for (int i = 0; i < 16; i++) {
      sscanf(p, "%llx%n", &v, &used);
      p += used;
      snip_state.r[i] = v;
    }
    sscanf(p, "%16383s", field);
    memset(data, 0, DATA_SIZE);
    unhex(field, data);
    __builtin___clear_cache((char *)code, (char *)code + 4096);
    if (mode == 32)
      run_snippet32();
    else
      run_snippet();
    for (int i = 0; i < 16; i++) printf("%llx ", (unsigned long long)snip_state.r[i]);
    printf("%llx ", (unsigned long long)snip_state.flags);
    for (int i = 0; i < DATA_SIZE; i++) printf("%02x", data[i]);
    printf("\n");
  }
  return 0;
}
