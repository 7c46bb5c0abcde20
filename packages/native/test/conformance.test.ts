/**
 * The conformance suite on the host's /dev/kvm, with this flavour's known deviations applied from the one
 * table in `support/flavours.ts`.
 */
import { runConformance } from '@kvm-ts/conformance';
import { describe, it } from 'vitest';
import { backend } from '../src/index.js';
import { conformanceDeviations } from './support/flavours.js';
import { hasKvm, noKvmReason } from './support/host.js';

if (hasKvm) {
  runConformance({
    name: 'native',
    open: async () => backend.open('conformance on the host /dev/kvm'),
    deviations: conformanceDeviations(),
  });
} else {
  describe('kvm-ts conformance: native', () => {
    it.skip(`needs /dev/kvm: ${noKvmReason}`, () => {});
  });
}
