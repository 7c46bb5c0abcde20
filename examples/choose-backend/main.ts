// One program, three backend choices: `auto` (native when /dev/kvm opens, else the emulator), `native` and
// `emulator`, each opened through the same openKvm call and used to run the same guest. What was chosen, on
// which KVM, and why, comes back in kvm.backend. Run: npx tsx examples/choose-backend/main.ts [choice...]
import { IoDirection, KvmError, loadBackend, openKvm } from '@kvm-ts/core';

// biome-ignore format: one instruction a line, its disassembly beside it
const code = new Uint8Array([
  0xb0, 0x2a, // mov al, 42
  0xe6, 0x10, // out 0x10, al
  0xf4, //       hlt
]);

const choices = process.argv.length > 2 ? process.argv.slice(2) : ['auto', 'native', 'emulator'];
const fromEnvironment = process.env.KVM_TS_BACKEND;
console.log(
  fromEnvironment
    ? `KVM_TS_BACKEND=${fromEnvironment}: openKvm() without a backend option opens that one`
    : 'KVM_TS_BACKEND is not set: openKvm() without a backend option means auto',
);

// What `auto` asks the native backend before choosing: a cheap check that never throws.
try {
  const probe = (await loadBackend('native')).probe();
  console.log(`native probe: ${probe.usable ? 'usable' : 'not usable'}: ${probe.reason}`);
} catch (error) {
  console.log(`native probe: the package does not load: ${(error as Error).message}`);
}

for (const choice of choices) {
  try {
    await openAndRun(choice);
  } catch (error) {
    // A backend that cannot run here is a KvmError with the errno KVM's open would give (ENOENT, EACCES, ...).
    if (!(error instanceof KvmError)) throw error;
    console.log(`${choice}: unavailable: ${error.code}: ${error.message}`);
  }
}

// `using` lives in a function of its own, not in the loop: tsx's esbuild (0.28) lowers a `using` inside a loop
// body so that an error thrown in one iteration is thrown again at the end of the next.
async function openAndRun(choice: string): Promise<void> {
  using kvm = await openKvm({ backend: choice });
  const { name, flavour, reason } = kvm.backend;
  console.log(`${choice}: opened ${name} (flavour ${flavour}) because ${reason}`);
  console.log(`${choice}: KVM API version ${kvm.getApiVersion()}, guest says ${runGuest(kvm)}`);
}

/** Runs the three-instruction guest and returns what it wrote to port 0x10. */
function runGuest(kvm: Awaited<ReturnType<typeof openKvm>>): string {
  using vm = kvm.createVm();
  const memory = vm.createMemory(0x1000);
  memory.bytes.set(code);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0x1000n, memorySize: 0x1000n, memory });
  using vcpu = vm.createVcpu(0);
  vcpu.setSregs({ ...vcpu.getSregs(), cs: { ...vcpu.getSregs().cs, base: 0n, selector: 0 } });
  vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rflags: 0x2n });
  const exit = vcpu.run();
  const said =
    exit.reason === 'io' && exit.direction === IoDirection.OUT
      ? String(exit.data[0])
      : `(${exit.reason} exit)`;
  // Memory outlives slots: unmap it (size 0 deletes the slot) before releasing it.
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0x1000n, memorySize: 0n });
  memory.close();
  return said;
}
