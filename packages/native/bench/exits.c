/*
 * The C side of `pnpm bench` in @kvm-ts/native: the same real-mode guests and the same loop as exits.ts,
 * straight on the ioctls. Prints one line per loop: "<name> <exits> <nanoseconds>".
 * Usage: exits <io|mmio> <exits>
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

static void die(const char *what) {
  perror(what);
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s io|mmio exits\n", argv[0]);
    return 2;
  }
  int mmio = strcmp(argv[1], "mmio") == 0;
  long exits = atol(argv[2]);
  /* Same guest bytes as exits.ts: out 0x10, al; jmp $-2  /  mov ax, 0xd000; mov ds, ax; mov [0], al; jmp $-3 */
  static const uint8_t io_code[] = {0xe6, 0x10, 0xeb, 0xfc};
  static const uint8_t mmio_code[] = {0xb8, 0x00, 0xd0, 0x8e, 0xd8, 0xa2, 0x00, 0x00, 0xeb, 0xfb};

  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  size_t ram_size = 0x10000;
  uint8_t *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (ram == MAP_FAILED) die("mmap");
  if (mmio) memcpy(ram + 0x1000, mmio_code, sizeof mmio_code);
  else memcpy(ram + 0x1000, io_code, sizeof io_code);
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = ram_size, .userspace_addr = (uint64_t)ram};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs = {.rip = 0x1000, .rflags = 2};
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

  uint32_t expected = mmio ? KVM_EXIT_MMIO : KVM_EXIT_IO;
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long i = 0; i < exits; i++) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
    if (run->exit_reason != expected) {
      fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  long long ns = (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
  printf("%s %ld %lld\n", argv[1], exits, ns);
  return 0;
}
