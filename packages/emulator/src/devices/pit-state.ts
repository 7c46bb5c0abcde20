/**
 * The state of KVM's in-kernel i8254 PIT (KVM_CREATE_PIT2), as KVM_GET_PIT2/KVM_SET_PIT2 see it, with the
 * reset values of `arch/x86/kvm/i8254.c` `kvm_pit_reset` (checked on a real KVM: count 0x10000, mode 0xff,
 * gate 1 on channels 0 and 1). Counting and the timer interrupt are a later piece of work.
 */
import { type KvmPitChannelState, type KvmPitState2, kvmFail } from '@kvm-ts/core';

function resetChannel(index: number): KvmPitChannelState {
  return {
    count: 0x10000,
    latchedCount: 0,
    countLatched: 0,
    statusLatched: 0,
    status: 0,
    readState: 0,
    writeState: 0,
    writeLatch: 0,
    rwMode: 0,
    mode: 0xff,
    bcd: 0,
    gate: index === 2 ? 0 : 1,
    countLoadTime: 0n,
  };
}

/** The PIT's state for round trips. */
export class PitState {
  private state: KvmPitState2 = { channels: [0, 1, 2].map(resetChannel), flags: 0 };

  constructor(readonly configFlags: number) {}

  /** KVM_GET_PIT2. */
  get(): KvmPitState2 {
    return { channels: this.state.channels.map((ch) => ({ ...ch })), flags: this.state.flags };
  }

  /** KVM_SET_PIT2. */
  set(state: KvmPitState2): void {
    if (state.channels.length !== 3) kvmFail('KVM_SET_PIT2', 'EINVAL', 'the PIT has exactly 3 channels');
    this.state = { channels: state.channels.map((ch) => ({ ...ch })), flags: state.flags };
  }
}
