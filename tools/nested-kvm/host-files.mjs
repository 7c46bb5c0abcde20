// Collects host files into archive entries at the same absolute paths inside the guest, keeping
// symlinks as symlinks (merged-/usr links such as /lib -> usr/lib, pnpm's node_modules farm).
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';

/** Archive name of a host absolute path: the same path without its leading slash. */
function archiveName(hostPath) {
  return hostPath.replace(/^\/+/, '');
}

function entryFromStat(hostPath, stat) {
  const base = {
    name: archiveName(hostPath),
    mode: stat.mode & 0o7777,
    mtime: Math.floor(stat.mtimeMs / 1000),
  };
  if (stat.isSymbolicLink()) return { ...base, kind: 'symlink', target: readlinkSync(hostPath) };
  // A directory's mtime changes whenever the host adds a file to it (a package install in
  // /usr/bin), which would invalidate cached parts for nothing: the guest does not need it.
  if (stat.isDirectory()) return { ...base, kind: 'dir', mtime: 0 };
  if (stat.isFile()) return { ...base, kind: 'file', source: hostPath, size: stat.size };
  return null;
}

/**
 * An ordered, de-duplicated list of archive entries, parents always before children (the
 * kernel's unpacker creates no missing directories). Entries named in `provided` (already in
 * an earlier archive part) are left out.
 */
export class EntrySet {
  #byName = new Map();
  #provided;

  constructor(provided = new Set()) {
    this.#provided = provided;
  }

  /** Entries in insertion order. */
  get entries() {
    return [...this.#byName.values()];
  }

  /** Names of every entry, for the parts built after this one. */
  get names() {
    return new Set([...this.#provided, ...this.#byName.keys()]);
  }

  has(name) {
    return this.#byName.has(name) || this.#provided.has(name);
  }

  /** Adds a synthetic entry (inline file, device node, directory) unless that name exists. */
  add(entry) {
    if (!this.has(entry.name)) this.#byName.set(entry.name, entry);
  }

  /**
   * Adds one host path as the guest will see it: each directory on the way, each symlink on the
   * way together with what it points to, and the final file, symlink (and its target) or
   * directory (without its contents).
   */
  addHostPath(hostPath) {
    const parts = resolve(hostPath).split(sep).filter(Boolean);
    let current = '';
    for (let i = 0; i < parts.length; i++) {
      current += `/${parts[i]}`;
      const stat = lstatSync(current);
      const entry = entryFromStat(current, stat);
      if (entry === null) throw new Error(`nested-kvm: unsupported file type at ${current}`);
      this.add(entry);
      if (entry.kind === 'symlink') {
        const target = resolve(dirname(current), entry.target);
        this.addHostPath(join(target, ...parts.slice(i + 1)));
        return;
      }
    }
  }

  /**
   * Adds a host directory and everything below it. `skip(path, stat)` prunes; `onSymlink(path,
   * target)` is told about each symlink met (the link itself is always kept as a link).
   */
  addHostTree(hostPath, { skip = () => false, onSymlink = () => {} } = {}) {
    this.addHostPath(hostPath);
    const walk = (dir) => {
      for (const name of readdirSync(dir).sort()) {
        const path = join(dir, name);
        const stat = lstatSync(path);
        if (skip(path, stat)) continue;
        const entry = entryFromStat(path, stat);
        if (entry === null) continue;
        this.add(entry);
        if (entry.kind === 'dir') walk(path);
        else if (entry.kind === 'symlink') onSymlink(path, resolve(dir, entry.target));
      }
    };
    if (lstatSync(hostPath).isDirectory()) walk(hostPath);
  }

  /**
   * Adds the shared libraries and dynamic loader `ldd` lists for an executable or `.node` addon.
   * Returns the libraries ldd could not find (an addon built for musl, say, which this host's
   * Node never loads); `strict` makes those an error instead.
   */
  addSharedLibrariesOf(binary, { strict = true } = {}) {
    const { paths, missing } = sharedLibraries(binary);
    if (strict && missing.length > 0) {
      throw new Error(`nested-kvm: ldd cannot find ${missing.join(', ')} for ${binary}`);
    }
    for (const library of paths) this.addHostPath(library);
    return missing;
  }
}

/**
 * `{ paths, missing }` from `ldd` for a binary: libraries and dynamic loader found, names not
 * found; both empty for a static binary (ldd says "not a dynamic executable" and fails).
 */
export function sharedLibraries(binary) {
  let output;
  try {
    output = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    if (/not a dynamic executable|statically linked/.test(`${error.stdout}${error.stderr}`)) {
      return { paths: [], missing: [] };
    }
    throw error;
  }
  return parseLddOutput(output);
}

/**
 * The absolute paths in `ldd` output ("libc.so.6 => /lib/.../libc.so.6 (0x...)",
 * "/lib64/ld-linux-x86-64.so.2 (0x...)") and the names it reports as "not found".
 */
export function parseLddOutput(output) {
  const paths = [];
  const missing = [];
  for (const line of output.split('\n')) {
    const notFound = /^\s*(\S+)\s*=>\s*not found/.exec(line);
    if (notFound) missing.push(notFound[1]);
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (match) paths.push(match[1]);
  }
  return { paths, missing };
}
