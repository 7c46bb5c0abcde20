import type { KvmExit, KvmRegs, KvmSegment, KvmSregs, Vcpu } from '@kvm-ts/core';

/** A vCPU for unit tests: the members given, and a clear failure for any other member a test touches. */
export function fakeVcpu(members: Partial<Vcpu>): Vcpu {
  const target = { id: 0, immediateExit: false, requestInterruptWindow: false, ...members } as Record<
    string,
    unknown
  >;
  return new Proxy(target, {
    get(object, name) {
      if (name in object) return object[name as string];
      throw new Error(`fake vCPU: ${String(name)} is not implemented`);
    },
    set(object, name, value) {
      object[name as string] = value;
      return true;
    },
  }) as unknown as Vcpu;
}

/** A vCPU whose `run()` returns the given exits in order, then fails the test if called again. */
export function scriptedVcpu(exits: KvmExit[], members: Partial<Vcpu> = {}): Vcpu & { runs: number } {
  const queue = [...exits];
  const state = { runs: 0 };
  const vcpu = fakeVcpu({
    ...members,
    run() {
      state.runs++;
      const next = queue.shift();
      if (!next) throw new Error('fake vCPU: run() called after the scripted exits');
      return next;
    },
  });
  return new Proxy(vcpu, {
    get(object, name) {
      if (name === 'runs') return state.runs;
      return Reflect.get(object, name);
    },
  }) as Vcpu & { runs: number };
}

const segment = (selector: number, base: bigint, type: number): KvmSegment => ({
  base,
  limit: 0xffff,
  selector,
  type,
  present: 1,
  dpl: 0,
  db: 0,
  s: 1,
  l: 0,
  g: 0,
  avl: 0,
  unusable: 0,
});

/** The special registers of a vCPU after reset, as KVM reports them (CS F000 base FFFF0000). */
export function resetSregs(): KvmSregs {
  const data = segment(0, 0n, 3);
  return {
    cs: segment(0xf000, 0xffff0000n, 11),
    ds: data,
    es: data,
    fs: data,
    gs: data,
    ss: data,
    tr: { ...segment(0, 0n, 11), s: 0 },
    ldt: { ...segment(0, 0n, 2), s: 0 },
    gdt: { base: 0n, limit: 0xffff },
    idt: { base: 0n, limit: 0xffff },
    cr0: 0x60000010n,
    cr2: 0n,
    cr3: 0n,
    cr4: 0n,
    cr8: 0n,
    efer: 0n,
    apicBase: 0xfee00900n,
    interruptBitmap: [0n, 0n, 0n, 0n],
  };
}

/** A vCPU that records what KVM_SET_SREGS and KVM_SET_REGS were given. */
export function recordingVcpu(): Vcpu & { sregs: KvmSregs | null; regs: KvmRegs | null } {
  const seen: { sregs: KvmSregs | null; regs: KvmRegs | null } = { sregs: null, regs: null };
  const vcpu = fakeVcpu({
    getSregs: () => resetSregs(),
    setSregs: (sregs) => {
      seen.sregs = sregs;
    },
    setRegs: (regs) => {
      seen.regs = regs;
    },
  });
  return new Proxy(vcpu, {
    get(object, name) {
      if (name === 'sregs' || name === 'regs') return seen[name];
      return Reflect.get(object, name);
    },
  }) as Vcpu & { sregs: KvmSregs | null; regs: KvmRegs | null };
}
