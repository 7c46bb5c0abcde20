// The guest's initramfs, as gzip'd cpio parts concatenated (the kernel unpacks them one after
// the other into the same rootfs): parts that rarely change are cached, keyed by a digest of
// what they hold; the small workspace part (with /init and the command) is written for each run.
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { entriesDigest, writeGzipArchive } from './cpio.mjs';
import { commandScript, GUEST_DIR, initScript } from './guest-init.mjs';
import { EntrySet } from './host-files.mjs';
import { addNodeModules, addWorkspace } from './workspace.mjs';

/**
 * Debian's vmlinuz inside the guest (path without the leading slash), for the Linux boot test the
 * default command runs: the same kernel QEMU boots, booted again through `kvm-ts run` on nested KVM.
 */
export const GUEST_KERNEL = `${GUEST_DIR}/vmlinuz`;

/** Bump when the layout of a part changes, so cached parts of the old layout are not reused. */
const LAYOUT_VERSION = 1;

/**
 * The system part: busybox, node and the libraries both need, the KVM modules, Debian's vmlinuz
 * (for the Linux boot test; it changes only with the kernel, like the modules), the directories
 * /init mounts on and /dev/console (the kernel opens it for PID 1 before devtmpfs is mounted).
 */
function systemEntries({ busybox, node, kernel }) {
  const entries = new EntrySet();
  for (const dir of ['dev', 'proc', 'sys', 'root', GUEST_DIR, `${GUEST_DIR}/modules`]) {
    entries.add({ name: dir, kind: 'dir', mode: 0o755 });
  }
  entries.add({ name: 'tmp', kind: 'dir', mode: 0o1777 });
  entries.add({ name: 'dev/console', kind: 'char', mode: 0o600, rdev: [5, 1] });
  // /bin as on the host (merged /usr makes it a link to usr/bin): /init installs the applets there.
  entries.addHostPath('/bin');
  for (const binary of [busybox, node]) {
    entries.addHostPath(binary);
    entries.addSharedLibrariesOf(binary);
  }
  for (const name of readdirSync(kernel.modulesDir).sort()) {
    const source = join(kernel.modulesDir, name);
    const stat = statSync(source);
    entries.add({
      name: `${GUEST_DIR}/modules/${name}`,
      kind: 'file',
      mode: 0o644,
      mtime: Math.floor(stat.mtimeMs / 1000),
      size: stat.size,
      source,
    });
  }
  const vmlinuz = statSync(kernel.vmlinuz);
  entries.add({
    name: GUEST_KERNEL,
    kind: 'file',
    mode: 0o644,
    mtime: Math.floor(vmlinuz.mtimeMs / 1000),
    size: vmlinuz.size,
    source: kernel.vmlinuz,
  });
  return entries;
}

/** The dependency part: node_modules, plus the libraries of native addons not already present. */
function moduleEntries({ root, packageDirs, fullNodeModules }, provided) {
  const entries = new EntrySet(provided);
  const addons = addNodeModules(entries, root, packageDirs, { full: fullNodeModules });
  // Addons for other C libraries (musl builds pnpm installed as optional) are never loaded here.
  for (const addon of addons) entries.addSharedLibrariesOf(addon, { strict: false });
  return entries;
}

/** The workspace part: /init, the command and the built workspace packages. */
function workspaceEntries({ busybox, root, packageDirs, command, env }, provided) {
  const entries = new EntrySet(provided);
  const init = initScript({ busybox, workdir: root, env });
  entries.add({ name: 'init', kind: 'file', mode: 0o755, data: Buffer.from(init) });
  entries.add({
    name: `${GUEST_DIR}/command.sh`,
    kind: 'file',
    mode: 0o644,
    data: Buffer.from(commandScript(command)),
  });
  addWorkspace(entries, root, packageDirs);
  // The runner's own folder, for its smoke check (probe-kvm.mjs).
  entries.addHostTree(join(root, 'tools', 'nested-kvm'));
  return entries;
}

/**
 * Cached parts of a kind unused for this long are deleted (a newer one replaced them). A run
 * reads its parts within seconds of touching them, so this only has to outlast that.
 */
const STALE_PART_MS = 10 * 60 * 1000;

/**
 * Writes (or reuses, touching it) one cached part as `<cacheDir>/parts/<kind>-<digest>.cpio.gz`,
 * and deletes parts of the same kind unused for ten minutes: not at once, since another run on the
 * machine may be using an older one right now. Returns `{ kind, path, bytes, files, reused, seconds }`.
 */
async function ensureCachedPart(partsDir, kind, entries) {
  const started = performance.now();
  const list = entries.entries;
  const digest = entriesDigest(list, `${kind}/${LAYOUT_VERSION}`);
  const path = join(partsDir, `${kind}-${digest}.cpio.gz`);
  const reused = existsSync(path);
  if (reused) {
    const now = new Date();
    utimesSync(path, now, now);
  } else await writeGzipArchive(list, path);
  const sameKind = new RegExp(`^${kind}-[0-9a-f]+\\.cpio\\.gz(\\.\\d+\\.partial)?$`);
  for (const name of readdirSync(partsDir)) {
    const other = join(partsDir, name);
    if (other === path || !sameKind.test(name)) continue;
    try {
      if (Date.now() - statSync(other).mtimeMs > STALE_PART_MS) rmSync(other, { force: true });
    } catch {} // another run removed it first
  }
  return partInfo(kind, path, list, reused, started);
}

/** Writes the per-run part straight into the run's own folder (it changes with every command). */
async function writeRunPart(dir, kind, entries) {
  const started = performance.now();
  const path = join(dir, `${kind}.cpio.gz`);
  await writeGzipArchive(entries.entries, path);
  return partInfo(kind, path, entries.entries, false, started);
}

function partInfo(kind, path, list, reused, started) {
  const files = list.filter((entry) => entry.kind === 'file').length;
  const seconds = (performance.now() - started) / 1000;
  return { kind, path, bytes: statSync(path).size, files, reused, seconds };
}

/**
 * Builds the initramfs for one run at `output`: the system and node_modules parts from the
 * cache (rebuilt when their contents changed), then the workspace part, concatenated.
 */
export async function buildInitramfs({
  cacheDir,
  output,
  busybox,
  node,
  kernel,
  root,
  packageDirs,
  command,
  env,
  fullNodeModules,
}) {
  const partsDir = join(cacheDir, 'parts');
  mkdirSync(partsDir, { recursive: true });
  mkdirSync(dirname(output), { recursive: true });
  const system = systemEntries({ busybox, node, kernel });
  const modules = moduleEntries({ root, packageDirs, fullNodeModules }, system.names);
  const workspace = workspaceEntries({ busybox, root, packageDirs, command, env }, modules.names);
  const parts = [];
  parts.push(await ensureCachedPart(partsDir, 'system', system));
  parts.push(
    await ensureCachedPart(partsDir, fullNodeModules ? 'node-modules-full' : 'node-modules', modules),
  );
  parts.push(await writeRunPart(dirname(output), 'workspace', workspace));

  const out = createWriteStream(output);
  for (const part of parts) await pipeline(createReadStream(part.path), out, { end: false });
  await new Promise((resolve, reject) => out.end((error) => (error ? reject(error) : resolve())));
  return { parts, bytes: statSync(output).size };
}
