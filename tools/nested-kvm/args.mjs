// Command-line options of `pnpm test:kvm`.
import { MAX_FREEZE_RETRIES } from './retry.mjs';

/**
 * Seconds the guest may run, from QEMU's start to the result marker, before it is killed: the
 * four default suites take 7-12 minutes under QEMU's software CPU on a loaded machine. A frozen
 * nested machine does not wait for this: the freeze watch stops it after a minute (freeze-watch.mjs).
 */
export const DEFAULT_TIMEOUT_S = 1200;

/** Prefix of the line the default command prints before each suite, so the totals can be labelled. */
export const SUITE_HEADER = '[suite]';

/**
 * The suites the default command runs, each from its folder: the native backend's tests (its own
 * and the conformance suite it runs), the examples on native, the `kvm-ts` command's runs on
 * native (the demo guest among them), and the Linux boot test: Debian's kernel through
 * `kvm-ts run --backend native` to a shell that answers typed commands. `requiresFileIn` names an
 * environment variable that must point at a non-empty file: that suite fails, rather than skips,
 * when the kernel the runner puts in the guest is missing.
 */
export const DEFAULT_SUITES = [
  { name: 'native', dir: 'packages/native', files: [] },
  { name: 'examples', dir: 'examples', files: [] },
  { name: 'cli', dir: 'apps/cli', files: ['test/cli.test.ts'] },
  {
    name: 'linux',
    dir: 'apps/cli',
    files: ['test/linux-boot.test.ts'],
    requiresFileIn: 'KVM_TS_LINUX_KERNEL',
  },
];

/** The default suites by name, for --suites. */
export const SUITE_NAMES = DEFAULT_SUITES.map(({ name }) => name);

/**
 * One shell command running `suites` one after the other whatever each gives, then failing when
 * any failed. Timeouts are raised because QEMU's software CPU runs JavaScript about 5-6x slower
 * than the host; the verbose reporter puts every test's name and the totals in the log.
 */
export function suitesCommand(suites) {
  const steps = suites.map(({ name, dir, files, requiresFileIn }) => {
    const up = dir
      .split('/')
      .map(() => '..')
      .join('/');
    const vitest = [
      `node ${up}/node_modules/vitest/vitest.mjs run --reporter=verbose`,
      '--testTimeout=300000 --hookTimeout=120000',
      ...files,
    ].join(' ');
    const run = `(cd ${dir} && ${vitest})`;
    const guarded = requiresFileIn
      ? `if test -s "$${requiresFileIn}"; then ${run}; else echo "${SUITE_HEADER} ${name}: no file at \\$${requiresFileIn}=$${requiresFileIn}"; false; fi`
      : run;
    return `echo "${SUITE_HEADER} ${name}"; ${guarded}; s_${name}=$?; echo "${SUITE_HEADER} ${name} status=$s_${name}"`;
  });
  const statuses = suites.map(({ name }) => `${name}=$s_${name}`).join(' ');
  const allPassed = suites.map(({ name }) => `[ $s_${name} -eq 0 ]`).join(' && ');
  return `${steps.join('; ')}; echo "${SUITE_HEADER} statuses: ${statuses}"; ${allPassed}`;
}

/** The command the guest runs unless --command says otherwise. */
export const DEFAULT_COMMAND = suitesCommand(DEFAULT_SUITES);

export const USAGE = `Usage: pnpm test:kvm [-- options]

Boots Debian's kernel with kvm_amd under QEMU's software CPU (the reference KVM) and runs, against
that nested /dev/kvm, the native backend's tests, the examples, the kvm-ts command on native and
the Linux boot test (the same Debian kernel through \`kvm-ts run\`). Exits with the guest's status.
Expects a built workspace (pnpm build); installs qemu-system-x86 and busybox-static if missing
(root), boots with QEMU 10 from bookworm-backports (unpacked into the cache, the system's QEMU
when that fails), and caches it, the kernel and image parts in .cache/nested-kvm/.

Options:
  --command <shell command>  run this instead, from the repo root inside the guest
                             (default: the suites ${SUITE_NAMES.join(', ')})
  --suites <a,b,...>         run only these of the default suites, in their usual order
  --timeout <seconds>        kill the guest after this long (default ${DEFAULT_TIMEOUT_S})
  --full-node-modules        put the whole root node_modules in the guest, not only what the
                             workspace packages and vitest resolve
  --cache-dir <path>         keep the kernel, QEMU and image parts there, not in .cache/nested-kvm/
  --system-qemu              boot with the system's QEMU, not QEMU 10 from bookworm-backports
  --freeze-retries <n>       fresh machines after freezes of the nested machine, 0-${MAX_FREEZE_RETRIES}
                             (default ${MAX_FREEZE_RETRIES}); each costs about 3 minutes
  --may-skip <a,b,...>       suites a freeze may leave unfinished once the retries are spent:
                             they end as skipped, loudly, instead of failing the run (CI: linux)
  --keep                     keep the built initramfs and print how to boot it again
  --help                     show this help`;

/**
 * Parses argv (without node and the script). `--name value` and `--name=value` both work; a
 * bare `--` (which pnpm may pass through) is ignored. Throws on anything unknown or malformed.
 */
export function parseArgs(argv) {
  const options = {
    command: DEFAULT_COMMAND,
    // The suites the command runs (null for --command): a freeze of the nested machine reruns those not finished.
    suites: DEFAULT_SUITES,
    timeoutS: DEFAULT_TIMEOUT_S,
    keep: false,
    fullNodeModules: false,
    cacheDir: null,
    systemQemu: false,
    freezeRetries: MAX_FREEZE_RETRIES,
    maySkip: [],
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') continue;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? splitOnce(arg) : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new Error(`${name} needs a value`);
      return argv[++i];
    };
    const flag = () => {
      if (inline !== undefined) throw new Error(`${name} takes no value`);
      return true;
    };
    switch (name) {
      case '--suites': {
        const names = suiteNames(name, value());
        options.suites = DEFAULT_SUITES.filter(({ name }) => names.includes(name));
        options.command = suitesCommand(options.suites);
        break;
      }
      case '--may-skip':
        options.maySkip = suiteNames(name, value());
        break;
      case '--freeze-retries': {
        const text = value();
        if (!/^\d+$/.test(text) || Number(text) > MAX_FREEZE_RETRIES) {
          throw new Error(
            `--freeze-retries wants a whole number from 0 to ${MAX_FREEZE_RETRIES}, got "${text}"`,
          );
        }
        options.freezeRetries = Number(text);
        break;
      }
      case '--command': {
        const command = value();
        if (command.trim() === '') throw new Error('--command must not be empty');
        options.command = command;
        options.suites = null;
        break;
      }
      case '--timeout': {
        const text = value();
        const seconds = Number(text);
        if (!/^\d+(\.\d+)?$/.test(text) || !(seconds > 0)) {
          throw new Error(`--timeout wants a positive number of seconds, got "${text}"`);
        }
        options.timeoutS = seconds;
        break;
      }
      case '--cache-dir': {
        const dir = value();
        if (dir === '') throw new Error('--cache-dir must not be empty');
        options.cacheDir = dir;
        break;
      }
      case '--keep':
        options.keep = flag();
        break;
      case '--full-node-modules':
        options.fullNodeModules = flag();
        break;
      case '--system-qemu':
        options.systemQemu = flag();
        break;
      case '--help':
      case '-h':
        options.help = flag();
        break;
      default:
        throw new Error(`unknown argument "${arg}"`);
    }
  }
  return options;
}

/** The comma-separated suite names of option `option`; throws on an empty list or an unknown name. */
function suiteNames(option, text) {
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = names.filter((name) => !SUITE_NAMES.includes(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new Error(`${option} wants names from ${SUITE_NAMES.join(', ')}, got "${unknown.join(',')}"`);
  }
  return names;
}

function splitOnce(arg) {
  const at = arg.indexOf('=');
  return [arg.slice(0, at), arg.slice(at + 1)];
}
