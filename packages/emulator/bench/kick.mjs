/**
 * Kick latency: how long a `run()` that makes no exit takes to return after another thread kicks it (the
 * emulator's `kickSignal`, as a signal interrupts KVM_RUN). The guest spins forever in a two-instruction loop
 * with no instruction budget to end the run; a worker thread sets the kick after a random 2-12 ms and records
 * when, on the clock both threads share (`performance.timeOrigin + performance.now()`); the figure is the time
 * from that store until `run()` has returned INTR on the main thread. The bound is 10 ms.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { enterMultibootState } from './guest.mjs';

const ROUNDS = 40;
/** Where the spinning code sits: 32-bit protected mode, flat segments, paging off. */
const CODE = 0x1000;
const RAM = 1 << 20;

const wallNow = () => performance.timeOrigin + performance.now();

if (!isMainThread) {
  // The kicking thread: waits for round n (go[0] === n), sleeps, kicks and notes the time.
  const { kick, go, kickedAt } = workerData;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let round = 1; round <= ROUNDS; round++) {
    while (Atomics.load(go, 0) < round) Atomics.wait(go, 0, round - 1, 1000);
    Atomics.wait(nap, 0, 0, 2 + Math.random() * 10);
    kickedAt[0] = wallNow();
    Atomics.store(kick, 0, 1);
  }
  parentPort.postMessage('done');
}

/**
 * Runs the measurement with `backend` (the emulator's) and returns the latencies in milliseconds, sorted.
 * @returns {Promise<number[]>}
 */
export async function kickLatencies(backend) {
  const kvm = backend.open('kick bench');
  const vm = kvm.createVm();
  const mem = vm.createMemory(RAM);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(RAM), memory: mem });
  // spin: add eax, 1; jmp spin
  mem.bytes.set([0x83, 0xc0, 0x01, 0xeb, 0xfb], CODE);
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  vcpu.setSregs(enterMultibootState(sregs));
  const regs = vcpu.getRegs();
  regs.rip = BigInt(CODE);
  regs.rflags = 2n;
  vcpu.setRegs(regs);
  // No budget and no time slice: only the kick ends the run.
  vcpu.instructionBudget = Number.MAX_SAFE_INTEGER;
  vcpu.timeSliceMs = 0;
  const kick = new Int32Array(new SharedArrayBuffer(4));
  const go = new Int32Array(new SharedArrayBuffer(4));
  const kickedAt = new Float64Array(new SharedArrayBuffer(8));
  vcpu.kickSignal = kick;
  const worker = new Worker(new URL(import.meta.url), { workerData: { kick, go, kickedAt } });
  const finished = new Promise((resolve) => worker.once('message', resolve));
  const latencies = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      Atomics.store(kick, 0, 0);
      Atomics.store(go, 0, round);
      Atomics.notify(go, 0);
      const exit = vcpu.run();
      const returned = wallNow();
      if (exit.reason !== 'intr') throw new Error(`the spinning guest made a ${exit.reason} exit`);
      latencies.push(returned - kickedAt[0]);
    }
    await finished;
  } finally {
    await worker.terminate();
    vcpu.close();
    vm.close();
    kvm.close();
  }
  return latencies.sort((a, b) => a - b);
}
