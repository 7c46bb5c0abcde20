import { backend } from '../src/index.js';
import { listing, machineFor } from './support/listing.js';
import { readFileSync } from 'node:fs';
const [file, mode] = process.argv.slice(2);
const kvm = backend.open('dbg');
const code = listing(readFileSync(file, 'utf8'));
const m = machineFor(kvm, mode as any, code, { supportedCpuid: true });
m.vcpu.setGuestDebug({ control: 3, debugreg: [0n,0n,0n,0n,0n,0n,0n,0n] });
for (let k = 0; k < 60; k++) {
  const e = m.vcpu.run() as any;
  const r = m.vcpu.getRegs();
  const c = (m.vcpu as any).cpu;
  console.log(e.reason, e.pc?.toString(16), 'rip', r.rip.toString(16), 'rax', r.rax.toString(16), 'rsp', r.rsp.toString(16), e.port?.toString(16) ?? '', 'fault', c.faultVector, c.faultError, 'cs', c.segSel[1], c.codeMode);
  if (e.reason !== 'debug' && e.reason !== 'io') break;
}
import { Descriptor, readDescriptor } from '../src/cpu/segments.js';
const c = (m.vcpu as any).cpu;
const d = new Descriptor();
console.log('gdt', c.gdtBase.toString(16), c.gdtLimit, readDescriptor(c, 0x18, d), d.lo.toString(16), d.hi.toString(16), d.attr.toString(16));
