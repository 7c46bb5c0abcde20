import { readFileSync } from 'node:fs';
import { backend } from '../src/index.ts';
import { listing, machineFor } from './support/listing.ts';
const kvm = backend.open('bench');
const m = machineFor(kvm, 'protected', listing(readFileSync('/tmp/g/bench.lst', 'utf8')));
(m.vcpu as any).instructionBudget = 1e9;
const counts = [80e6, 50e6, 15e6];
for (let k = 0; k < 3; k++) {
  const t0 = performance.now();
  const e = m.vcpu.run() as any;
  const dt = (performance.now() - t0) / 1000;
  console.log(e.reason, e.port, (counts[k] / dt / 1e6).toFixed(1), 'M instr/s');
}
