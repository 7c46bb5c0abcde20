import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Kvm, type KvmBackend, KvmError, openKvm, registerBackend } from '../src/index.js';

// A stand-in backend for testing the selection logic only: it records which backend was opened and why.
function fakeBackend(name: string, usable: boolean, probeReason: string): KvmBackend & { opened: string[] } {
  const opened: string[] = [];
  return {
    name,
    opened,
    probe: () => ({ usable, reason: probeReason }),
    open(reason: string): Kvm {
      opened.push(reason);
      return { backend: { name, flavour: name, reason } } as unknown as Kvm;
    },
  };
}

describe('openKvm backend selection', () => {
  const saved = process.env.KVM_TS_BACKEND;
  let native: ReturnType<typeof fakeBackend>;
  let emulator: ReturnType<typeof fakeBackend>;

  beforeEach(() => {
    delete process.env.KVM_TS_BACKEND;
    native = fakeBackend('native', true, '/dev/kvm opened (kvm_amd)');
    emulator = fakeBackend('emulator', true, 'always available');
    registerBackend('native', async () => native);
    registerBackend('emulator', async () => emulator);
  });

  afterEach(() => {
    if (saved === undefined) delete process.env.KVM_TS_BACKEND;
    else process.env.KVM_TS_BACKEND = saved;
  });

  it('auto picks native when its probe says it is usable, and says why', async () => {
    const kvm = await openKvm();
    expect(kvm.backend.name).toBe('native');
    expect(kvm.backend.reason).toBe('auto: /dev/kvm opened (kvm_amd)');
  });

  it('auto falls back to the emulator with the reason native was not usable', async () => {
    native = fakeBackend('native', false, '/dev/kvm does not exist');
    registerBackend('native', async () => native);
    const kvm = await openKvm({ backend: 'auto' });
    expect(kvm.backend.name).toBe('emulator');
    expect(kvm.backend.reason).toBe('auto: /dev/kvm does not exist; using the emulator');
    expect(native.opened).toEqual([]);
  });

  it('auto falls back to the emulator when the native package cannot be loaded', async () => {
    registerBackend('native', async () => {
      throw new Error("Cannot find package '@kvm-ts/native'");
    });
    const kvm = await openKvm();
    expect(kvm.backend.name).toBe('emulator');
    expect(kvm.backend.reason).toContain("Cannot find package '@kvm-ts/native'");
  });

  it('KVM_TS_BACKEND chooses when no option is given, and the option wins over it', async () => {
    process.env.KVM_TS_BACKEND = 'emulator';
    expect((await openKvm()).backend.reason).toBe('emulator was chosen by KVM_TS_BACKEND');
    expect((await openKvm({ backend: 'native' })).backend.reason).toBe('native was chosen by the caller');
  });

  it('opens a backend object passed directly', async () => {
    const custom = fakeBackend('custom', true, 'ok');
    const kvm = await openKvm({ backend: custom });
    expect(kvm.backend.name).toBe('custom');
    expect(custom.opened).toHaveLength(1);
  });

  it('an unknown backend name is a KvmError ENODEV naming the known ones', async () => {
    const failure = openKvm({ backend: 'hyperv' });
    await expect(failure).rejects.toBeInstanceOf(KvmError);
    await expect(failure).rejects.toMatchObject({ code: 'ENODEV' });
    await expect(failure).rejects.toThrow(/unknown kvm-ts backend 'hyperv' \(known: auto, native, emulator/);
  });

  it('a backend that cannot be loaded is a KvmError, not a crash', async () => {
    registerBackend('emulator', async () => {
      throw new Error('module not found');
    });
    await expect(openKvm({ backend: 'emulator' })).rejects.toMatchObject({
      code: 'ENODEV',
      message: expect.stringContaining('is @kvm-ts/emulator installed?'),
    });
  });

  it("refuses to register a backend called 'auto'", () => {
    expect(() => registerBackend('auto', async () => emulator)).toThrow(/not a backend name/);
  });
});
