import { runConformance } from '@kvm-ts/conformance';
import { backend } from '../src/index.js';

// The shared suite, run on the emulator: every expectation there comes from real KVM and the manuals.
runConformance({ name: 'emulator', open: async () => backend.open('conformance suite') });
