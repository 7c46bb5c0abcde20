// Which QEMU boots the nested machine: QEMU 10 from Debian's bookworm-backports, fetched with a
// private apt configuration (nothing under /etc/apt or /var/lib/apt changes) and unpacked into
// the cache, or, when that cannot be had, the system's QEMU (bookworm's 7.2, whose nested SVM
// freezes the machine now and then: README "When the nested machine freezes").
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCandidate, run } from './apt.mjs';
import { parseLddOutput } from './host-files.mjs';

/** The Debian suite the nested QEMU comes from. */
export const BACKPORTS_SUITE = 'bookworm-backports';
/** The one apt source of the private configuration (signed by the key bookworm's keyring package ships). */
export const BACKPORTS_SOURCE =
  'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main';
/** The packages whose files the x86-64 system emulator needs: the binary, its shared parts, its ROMs. */
export const QEMU_PACKAGES = Object.freeze(['qemu-system-x86', 'qemu-system-common', 'qemu-system-data']);
/** The oldest QEMU the runner accepts from backports: 7.2's nested SVM is what it replaces. */
export const MIN_QEMU_MAJOR = 10;
/** Package lists younger than this are used as they are: a run then needs no network. */
export const LISTS_MAX_AGE_S = 24 * 3600;
/**
 * Where the BIOS comes from: QEMU's Debian build looks for firmware in /usr/share/seabios (its
 * configured firmware path), which the system's qemu-system-x86 pulls in; backports' own ROMs
 * (linuxboot_dma.bin, kvmvapic.bin) come from `-L`.
 */
export const SYSTEM_FIRMWARE_DIRS = Object.freeze(['/usr/share/seabios']);
/** The BIOS image QEMU's pc machine loads. */
const BIOS_IMAGE = 'bios-256k.bin';
/** Written last into a version folder: its presence means the extraction is complete. */
const READY_STAMP = 'ready';
/** Touched after each successful `apt-get update`: its age is the lists' age. */
const UPDATED_STAMP = 'updated';

/** The files and folders of the private apt configuration and the unpacked versions, under `cacheDir/qemu`. */
export function qemuCachePaths(cacheDir) {
  const base = join(cacheDir, 'qemu');
  const apt = join(base, 'apt');
  return {
    base,
    apt,
    sourceList: join(apt, 'sources.list'),
    emptyDir: join(apt, 'empty.d'),
    emptyFile: join(apt, 'empty'),
    lists: join(apt, 'lists'),
    aptCache: join(apt, 'cache'),
    updatedStamp: join(apt, UPDATED_STAMP),
    versions: join(base, 'versions'),
  };
}

/**
 * The `-o` options that point apt at the private configuration: its own sources, no system
 * sources or pinning, its own lists and download cache, and an empty dpkg status (so the
 * candidate is backports' version, never the installed 7.2). Downloads run as root into the
 * cache, which apt's `_apt` sandbox user could not write.
 */
export function privateAptOptions(paths) {
  const settings = [
    `Dir::Etc::SourceList=${paths.sourceList}`,
    `Dir::Etc::SourceParts=${paths.emptyDir}`,
    `Dir::Etc::Preferences=${paths.emptyFile}`,
    `Dir::Etc::PreferencesParts=${paths.emptyDir}`,
    `Dir::State::Lists=${paths.lists}`,
    `Dir::State::status=${paths.emptyFile}`,
    `Dir::Cache=${paths.aptCache}`,
    'APT::Sandbox::User=root',
    'Acquire::Languages=none',
  ];
  return settings.flatMap((setting) => ['-o', setting]);
}

/** Whether lists updated at `updatedMs` (null: never) are still fresh at `nowMs`. */
export function listsAreFresh(updatedMs, nowMs) {
  return updatedMs !== null && nowMs - updatedMs >= 0 && nowMs - updatedMs < LISTS_MAX_AGE_S * 1000;
}

/** `{ version, major }` from `qemu-system-x86_64 --version` (`QEMU emulator version 10.0.2 (...)`), or null. */
export function parseQemuVersion(text) {
  const match = /^QEMU emulator version (\d+)\.(\d+)(?:\.(\d+))?/m.exec(text);
  if (!match) return null;
  return { version: match.slice(1).filter(Boolean).join('.'), major: Number(match[1]) };
}

/** `VERSION_CODENAME` from /etc/os-release text, or null. */
export function parseCodename(osRelease) {
  return /^VERSION_CODENAME=["']?([^"'\s]*)/m.exec(osRelease)?.[1] || null;
}

/** A folder name for a Debian version: the epoch's `:` becomes `_` (paths go on QEMU's command line). */
export function versionDirName(debianVersion) {
  return debianVersion.replaceAll(':', '_');
}

/** Runs a command with its output captured as `{ status, stdout, stderr }` (apt.mjs's `run`). */
function runCommand(command, args, { cwd } = {}) {
  return run(command, args, { cwd, capture: true });
}

/**
 * A failed command's reason in one line: its first error (`E:` from apt; the first says what
 * failed to fetch and why, the last only that something did), else its last line.
 */
export function failureReason(stderr) {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.find((line) => line.startsWith('E: ')) ?? lines.at(-1) ?? '';
}

function modifiedMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/** The cached extraction of `debianVersion`: `{ root, binary, dataDir, moduleDir }`. */
function layout(paths, debianVersion) {
  const dir = join(paths.versions, versionDirName(debianVersion));
  const root = join(dir, 'root');
  return {
    dir,
    root,
    binary: join(root, 'usr', 'bin', 'qemu-system-x86_64'),
    dataDir: join(root, 'usr', 'share', 'qemu'),
    moduleDir: join(root, 'usr', 'lib', 'x86_64-linux-gnu', 'qemu'),
  };
}

/** Debian versions fully extracted in the cache. */
function cachedVersions(paths) {
  if (!existsSync(paths.versions)) return [];
  return readdirSync(paths.versions)
    .filter((name) => existsSync(join(paths.versions, name, READY_STAMP)))
    .map((name) => readFileSync(join(paths.versions, name, READY_STAMP), 'utf8').split('\n')[0]);
}

/** Writes the private apt configuration (idempotent; no network). */
function writeAptConfig(paths) {
  for (const dir of [
    paths.emptyDir,
    join(paths.lists, 'partial'),
    join(paths.aptCache, 'archives', 'partial'),
  ])
    mkdirSync(dir, { recursive: true });
  if (!existsSync(paths.emptyFile)) writeFileSync(paths.emptyFile, '');
  const source = `${BACKPORTS_SOURCE}\n`;
  if (!existsSync(paths.sourceList) || readFileSync(paths.sourceList, 'utf8') !== source)
    writeFileSync(paths.sourceList, source);
}

/**
 * Checks that an extraction runs here: `--version` says QEMU `MIN_QEMU_MAJOR` or later, `ldd`
 * finds every library, and the BIOS is where QEMU looks. Returns the parsed version.
 */
function verify(found, exec, firmwareDirs) {
  if (!existsSync(found.binary)) throw new Error(`${found.binary} is missing from the extraction`);
  const ldd = exec('ldd', [found.binary]);
  const { missing } = parseLddOutput(ldd.stdout);
  if (missing.length > 0)
    throw new Error(`QEMU from ${BACKPORTS_SUITE} needs ${missing.join(', ')}, which this machine lacks`);
  const printed = exec(found.binary, ['-L', found.dataDir, '--version']);
  const parsed = parseQemuVersion(printed.stdout);
  if (printed.status !== 0 || parsed === null)
    throw new Error(
      `${found.binary} --version failed: ${failureReason(printed.stderr) || printed.stdout.trim()}`,
    );
  if (parsed.major < MIN_QEMU_MAJOR)
    throw new Error(`${BACKPORTS_SUITE} gave QEMU ${parsed.version}, older than ${MIN_QEMU_MAJOR}`);
  const bios = [found.dataDir, ...firmwareDirs].some((dir) => existsSync(join(dir, BIOS_IMAGE)));
  if (!bios)
    throw new Error(
      `no ${BIOS_IMAGE} in ${firmwareDirs.join(', ')} (the seabios package: apt-get install seabios)`,
    );
  return parsed;
}

/** Downloads the packages of `debianVersion` and unpacks them into its version folder. */
function fetchVersion(paths, debianVersion, { exec, aptOptions, log }) {
  mkdirSync(paths.versions, { recursive: true });
  const work = mkdtempSync(join(paths.base, 'download-'));
  try {
    const specs = QEMU_PACKAGES.map((name) => `${name}=${debianVersion}`);
    log(`QEMU: apt-get download ${specs.join(' ')}`);
    const download = exec('apt-get', [...aptOptions, 'download', ...specs], { cwd: work });
    if (download.status !== 0)
      throw new Error(
        `apt-get download failed (status ${download.status}): ${failureReason(download.stderr)}`,
      );
    const debs = readdirSync(work).filter((name) => name.endsWith('.deb'));
    if (debs.length !== QEMU_PACKAGES.length)
      throw new Error(`apt-get download left ${debs.length} .deb files, wanted ${QEMU_PACKAGES.length}`);
    const staging = join(work, 'version');
    // dpkg -x creates only the last folder of its target.
    mkdirSync(join(staging, 'root'), { recursive: true });
    for (const deb of debs) {
      const unpack = exec('dpkg', ['-x', join(work, deb), join(staging, 'root')]);
      if (unpack.status !== 0) throw new Error(`dpkg -x ${deb} failed: ${failureReason(unpack.stderr)}`);
    }
    writeFileSync(join(staging, READY_STAMP), `${debianVersion}\n${debs.join('\n')}\n`);
    const { dir } = layout(paths, debianVersion);
    if (existsSync(dir) && !existsSync(join(dir, READY_STAMP))) rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(staging, dir);
    } catch (error) {
      // Another run on this machine unpacked the same version first: use theirs.
      if (!existsSync(join(dir, READY_STAMP))) throw error;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  // Older versions go; a run still using one keeps its open files.
  for (const name of readdirSync(paths.versions)) {
    if (name !== versionDirName(debianVersion))
      rmSync(join(paths.versions, name), { recursive: true, force: true });
  }
}

/**
 * Makes sure QEMU from bookworm-backports is unpacked in `cacheDir/qemu/versions/<version>/root`
 * and runs here; returns `{ binary, dataDir, moduleDir, version, debianVersion, fetched }`
 * (`dataDir` is for QEMU's `-L`, `moduleDir` for `QEMU_MODULE_DIR`), or throws with the reason.
 * Network only when the private package lists are a day old or more, or the candidate version
 * is not unpacked yet; with stale lists and no network, a version already unpacked is used.
 * `exec`, `now`, `osRelease` and `firmwareDirs` are for tests.
 */
export function ensureNestedQemu({
  cacheDir,
  log,
  exec = runCommand,
  now = Date.now(),
  osRelease = () => readFileSync('/etc/os-release', 'utf8'),
  firmwareDirs = SYSTEM_FIRMWARE_DIRS,
}) {
  let codename;
  try {
    codename = parseCodename(osRelease());
  } catch {
    codename = null;
  }
  if (codename !== 'bookworm')
    throw new Error(`this is not Debian bookworm (codename ${codename ?? 'unknown'})`);

  // apt reads relative Dir:: paths against its own folders, so every path is made absolute.
  const paths = qemuCachePaths(resolve(cacheDir));
  writeAptConfig(paths);
  const aptOptions = privateAptOptions(paths);
  const cached = cachedVersions(paths);

  const candidate = () => {
    const policy = exec('apt-cache', [...aptOptions, 'policy', QEMU_PACKAGES[0]]);
    return policy.status === 0 ? parseCandidate(policy.stdout) : null;
  };
  /** Refreshes the lists; the reason when that failed (apt-get update exits 0 on a failed fetch unless told). */
  const update = () => {
    log(`QEMU: apt-get update (${BACKPORTS_SUITE} only, lists in ${paths.lists})`);
    const result = exec('apt-get', [...aptOptions, 'update', '--error-on=any']);
    return result.status === 0
      ? null
      : `apt-get update failed (status ${result.status}): ${failureReason(result.stderr)}`;
  };

  let updated = false;
  let debianVersion = null;
  // Fresh lists that somehow lack the package get one update too.
  if (listsAreFresh(modifiedMs(paths.updatedStamp), now)) debianVersion = candidate();
  if (debianVersion === null) {
    const why = update();
    if (why !== null) {
      if (cached.length === 0) throw new Error(why);
      const newest = cached.sort().at(-1);
      log(`QEMU: ${why}; using the unpacked ${newest}`);
      const found = layout(paths, newest);
      return { ...found, ...verify(found, exec, firmwareDirs), debianVersion: newest, fetched: false };
    }
    updated = true;
    debianVersion = candidate();
  }
  if (debianVersion === null) throw new Error(`${BACKPORTS_SUITE} offers no ${QEMU_PACKAGES[0]}`);
  // Only lists that gave a candidate count as fresh.
  if (updated) {
    writeFileSync(paths.updatedStamp, '');
    utimesSync(paths.updatedStamp, now / 1000, now / 1000);
  }
  const fetched = !cached.includes(debianVersion);
  if (fetched) fetchVersion(paths, debianVersion, { exec, aptOptions, log });
  const found = layout(paths, debianVersion);
  return { ...found, ...verify(found, exec, firmwareDirs), debianVersion, fetched };
}

/**
 * The QEMU a run boots with: `{ binary, dataDir, moduleDir, label }` (`dataDir` and `moduleDir`
 * null for the system's). Backports' QEMU 10 unless `forceSystem` (--system-qemu); when
 * `fetchNested` throws, one line says why and the system QEMU (`systemBinary`) is used.
 * `systemVersion(binary)` gives the system QEMU's version text for the log line.
 */
export function chooseQemu({ forceSystem, fetchNested, systemBinary, systemVersion, log }) {
  const system = (why) => {
    const version = systemVersion(systemBinary) ?? 'of unknown version';
    log(`QEMU ${version} (system, ${systemBinary}${why})`);
    return { binary: systemBinary, dataDir: null, moduleDir: null, label: `system QEMU ${version}` };
  };
  if (forceSystem) return system(': --system-qemu');
  let nested;
  try {
    nested = fetchNested();
  } catch (error) {
    log(`QEMU from ${BACKPORTS_SUITE} unavailable: ${error.message}; falling back to the system QEMU`);
    return system('');
  }
  log(
    `QEMU ${nested.version} (${BACKPORTS_SUITE}, ${nested.fetched ? 'fetched' : 'cached'}: ${nested.debianVersion})`,
  );
  return {
    binary: nested.binary,
    dataDir: nested.dataDir,
    moduleDir: nested.moduleDir,
    label: `QEMU ${nested.version} from ${BACKPORTS_SUITE}`,
  };
}

/** The version `<binary> --version` prints (`7.2.22`), or null. */
export function qemuVersionOf(binary, exec = runCommand) {
  try {
    return parseQemuVersion(exec(binary, ['--version']).stdout)?.version ?? null;
  } catch {
    return null;
  }
}
