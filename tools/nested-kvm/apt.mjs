// Debian's package tools, as the runner uses them: install what is missing, resolve and fetch
// the kernel package. `apt-get update` runs at most once a run, and only when something fails
// for want of current package lists.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Host commands the runner needs, each with the Debian package that provides it. */
export const REQUIRED_COMMANDS = Object.freeze([
  { command: 'qemu-system-x86_64', debianPackage: 'qemu-system-x86' },
  { command: 'busybox', debianPackage: 'busybox-static' },
]);

/** apt without questions, and in the C locale so that the output the tools parse (`Candidate:`) is English. */
const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' };
/** Waits for another apt or dpkg run on the machine instead of failing at once. */
const LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=300'];

/** The full path of `command` on PATH (plus the sbin directories root has), or null. */
export function findCommand(command) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const path = join(dir, command);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  return null;
}

/**
 * Runs a package tool (or any command) in apt's environment: its output on the terminal, or with `capture`
 * returned as text in `{ status, stdout, stderr }`. Throws when the command cannot be started.
 */
export function run(command, args, { cwd, capture = false } = {}) {
  const result = spawnSync(command, args, {
    cwd,
    env: APT_ENV,
    encoding: 'utf8',
    stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'],
    maxBuffer: 64 << 20,
  });
  if (result.error) throw new Error(`cannot run ${command}: ${result.error.message}`);
  return result;
}

/** The candidate version in `apt-cache policy` output, or null when there is none. */
export function parseCandidate(policyOutput) {
  const version = /^\s*Candidate:\s*(\S+)/m.exec(policyOutput)?.[1];
  return version && version !== '(none)' ? version : null;
}

/** Runs apt on the runner's behalf, remembering whether the package lists were refreshed. */
export class Apt {
  #updated = false;

  /** Refreshes the package lists once per run; later calls do nothing and return false. */
  update() {
    if (this.#updated) return false;
    this.#updated = true;
    console.log('[test:kvm] apt-get update');
    const result = run('apt-get', ['update', ...LOCK_WAIT]);
    if (result.status !== 0) throw new Error(`apt-get update failed with status ${result.status}`);
    return true;
  }

  /** Installs Debian packages (without recommends), refreshing the lists once if that fails. */
  install(packages) {
    if (process.getuid?.() !== 0) {
      throw new Error(
        `nested-kvm: missing ${packages.join(', ')}; run as root or install them: apt-get install ${packages.join(' ')}`,
      );
    }
    const attempt = () =>
      run('apt-get', ['install', '-y', '--no-install-recommends', ...LOCK_WAIT, ...packages]).status === 0;
    console.log(`[test:kvm] apt-get install ${packages.join(' ')}`);
    if (attempt()) return;
    if (this.update() && attempt()) return;
    throw new Error(`nested-kvm: apt-get install ${packages.join(' ')} failed`);
  }

  /** Installs the packages behind any missing command in REQUIRED_COMMANDS; returns their paths. */
  ensureCommands() {
    const missing = REQUIRED_COMMANDS.filter(({ command }) => findCommand(command) === null);
    if (missing.length > 0) this.install(missing.map(({ debianPackage }) => debianPackage));
    return Object.fromEntries(
      REQUIRED_COMMANDS.map(({ command }) => {
        const path = findCommand(command);
        if (path === null) throw new Error(`nested-kvm: ${command} still missing after install`);
        return [command, path];
      }),
    );
  }

  /**
   * The exact kernel package `metapackage` (`linux-image-amd64`, or `linux-image-cloud-amd64`)
   * currently depends on and its version, e.g. `{ name: 'linux-image-6.1.0-56-amd64', version:
   * '6.1.192-2' }`, or null without package lists. One `apt-cache show` (the metapackage pins the
   * exact version), `apt-cache policy` otherwise.
   */
  resolveKernelPackage(metapackage = 'linux-image-amd64') {
    const show = run('apt-cache', ['show', '--no-all-versions', metapackage], { capture: true });
    const depends = parseKernelDepends(show.status === 0 ? show.stdout : '');
    if (depends === null) return null;
    if (depends.version !== null) return depends;
    const policy = run('apt-cache', ['policy', depends.name], { capture: true });
    const version = parseCandidate(policy.stdout ?? '');
    return version === null ? null : { name: depends.name, version };
  }

  /** Downloads `name=version` as a .deb into `dir` (no install); false when the archive refuses. */
  download({ name, version }, dir) {
    return run('apt-get', ['download', `${name}=${version}`], { cwd: dir }).status === 0;
  }
}

/**
 * The kernel package in the `Depends:` of `apt-cache show linux-image-amd64`, with the version
 * it pins (`linux-image-6.1.0-56-amd64 (= 6.1.192-2)`) or null when it pins none; null if absent.
 */
export function parseKernelDepends(showOutput) {
  const line = /^Depends:(.*)$/m.exec(showOutput)?.[1] ?? '';
  const match = /(linux-image-[\w.+-]+-amd64)\b(?:\s*\(=\s*([^)\s]+)\))?/.exec(line);
  return match ? { name: match[1], version: match[2] ?? null } : null;
}
