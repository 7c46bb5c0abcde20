// Command-line options of `pnpm test:kvm`.

/** Seconds the guest may run, from QEMU's start to the result marker, before it is killed. */
export const DEFAULT_TIMEOUT_S = 900;

/**
 * Runs the native backend's tests (its own and the conformance suite it runs) from the repo
 * root. The timeouts are raised because QEMU's software CPU runs JavaScript about 5-6x slower
 * than the host; the verbose reporter puts every test's name and the totals in the log.
 */
export const DEFAULT_COMMAND =
  'cd packages/native && node ../../node_modules/vitest/vitest.mjs run --reporter=verbose --testTimeout=120000 --hookTimeout=120000';

export const USAGE = `Usage: pnpm test:kvm [-- options]

Boots Debian's kernel with kvm_amd under QEMU's software CPU (the reference KVM) and runs the
native backend's tests inside it, against that nested /dev/kvm. Exits with the guest's status.
Expects a built workspace (pnpm build); installs qemu-system-x86 and busybox-static if missing
(root), and caches the kernel and image parts in .cache/nested-kvm/.

Options:
  --command <shell command>  run this instead, from the repo root inside the guest
                             (default: ${DEFAULT_COMMAND})
  --timeout <seconds>        kill the guest after this long (default ${DEFAULT_TIMEOUT_S})
  --full-node-modules        put the whole root node_modules in the guest, not only what the
                             workspace packages and vitest resolve
  --cache-dir <path>         keep the kernel and image parts there, not in .cache/nested-kvm/
  --keep                     keep the built initramfs and print how to boot it again
  --help                     show this help`;

/**
 * Parses argv (without node and the script). `--name value` and `--name=value` both work; a
 * bare `--` (which pnpm may pass through) is ignored. Throws on anything unknown or malformed.
 */
export function parseArgs(argv) {
  const options = {
    command: DEFAULT_COMMAND,
    timeoutS: DEFAULT_TIMEOUT_S,
    keep: false,
    fullNodeModules: false,
    cacheDir: null,
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
      case '--command': {
        const command = value();
        if (command.trim() === '') throw new Error('--command must not be empty');
        options.command = command;
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

function splitOnce(arg) {
  const at = arg.indexOf('=');
  return [arg.slice(0, at), arg.slice(at + 1)];
}
