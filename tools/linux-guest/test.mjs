// `pnpm test:linux`: the Linux boot test (apps/cli/test/linux-boot.test.ts) with Debian's kernel from
// the cache, on one backend (default: the emulator, the milestone CI checks):
//   pnpm test:linux [-- --backend emulator|native|auto] [--flavour cloud|generic] [--cpus N] [--timeout S]
// Exits with vitest's status.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureLinuxGuest, scriptArgs } from './guest.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: options } = parseArgs({
  args: scriptArgs(),
  options: {
    backend: { type: 'string', default: 'emulator' },
    flavour: { type: 'string', default: 'cloud' },
    cpus: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '900' },
  },
});

const guest = await ensureLinuxGuest({
  flavour: options.flavour,
  cacheDir: join(root, '.cache', 'linux-guest'),
  log: (line) => console.error(`test:linux: ${line}`),
});
console.error(
  `test:linux: ${guest.label} on ${options.backend}, ${options.cpus} vCPU(s), ${options.timeout} s at most`,
);
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const result = spawnSync(
  process.execPath,
  [
    vitest,
    'run',
    '--reporter=verbose',
    `--testTimeout=${(Number(options.timeout) + 120) * 1000}`,
    'test/linux-boot.test.ts',
  ],
  {
    cwd: join(root, 'apps', 'cli'),
    stdio: 'inherit',
    env: {
      ...process.env,
      KVM_TS_LINUX_KERNEL: guest.kernel,
      KVM_TS_LINUX_BUSYBOX: guest.busybox,
      KVM_TS_LINUX_BACKEND: options.backend,
      KVM_TS_LINUX_CPUS: options.cpus,
      KVM_TS_LINUX_TIMEOUT: options.timeout,
    },
  },
);
process.exit(result.status ?? 1);
