// Debian's stock kernel for the nested guest: fetched with `apt-get download`, unpacked with
// `dpkg -x` (never installed on the host), cut down to vmlinuz and the modules KVM needs.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** The module the guest must end up with; everything it depends on is loaded before it. */
export const KVM_MODULE = 'kvm_amd';

/** Written last into a kernel cache folder: its presence means the folder is complete. */
const READY_STAMP = 'ready';

/** Module names treat '-' and '_' alike (kvm-amd.ko is module kvm_amd). */
function moduleName(fileName) {
  return fileName.replace(/\.ko(\.xz)?$/, '').replaceAll('-', '_');
}

/** The `depends=` list from a module's .modinfo section, read straight from the object file. */
export function moduleDepends(object) {
  const text = object.toString('latin1');
  const match = /(?:^|\0)depends=([^\0]*)\0/.exec(text);
  if (!match) return [];
  return match[1].split(',').filter(Boolean).map(moduleName);
}

/**
 * Load order for `target`: its dependencies first, depth first, each once (what modprobe would
 * do with modules.dep, which the Debian package does not ship). `dependsOf(name)` lists a
 * module's direct dependencies.
 */
export function loadOrder(target, dependsOf) {
  const order = [];
  const visiting = new Set();
  const visit = (name) => {
    if (order.includes(name)) return;
    if (visiting.has(name)) throw new Error(`nested-kvm: module dependency cycle at ${name}`);
    visiting.add(name);
    for (const dependency of dependsOf(name)) visit(dependency);
    order.push(name);
  };
  visit(target);
  return order;
}

function findFiles(dir, predicate, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) findFiles(path, predicate, found);
    else if (predicate(entry.name)) found.push(path);
  }
  return found;
}

/** Module object bytes, decompressed when the package ships .ko.xz (busybox insmod wants plain .ko). */
function readModule(path) {
  return path.endsWith('.xz')
    ? execFileSync('xz', ['-dc', path], { maxBuffer: 256 << 20 })
    : readFileSync(path);
}

/** Cuts an unpacked kernel package down to `dest/vmlinuz` and `dest/modules/NN-name.ko`. */
function extractKernel(unpacked, dest) {
  const vmlinuz = findFiles(join(unpacked, 'boot'), (name) => name.startsWith('vmlinuz-'));
  if (vmlinuz.length !== 1)
    throw new Error(`nested-kvm: expected one boot/vmlinuz-* in the package, found ${vmlinuz.length}`);
  const modules = new Map();
  for (const path of findFiles(join(unpacked, 'lib', 'modules'), (name) => /\.ko(\.xz)?$/.test(name))) {
    modules.set(moduleName(path.split('/').at(-1)), path);
  }
  const objects = new Map();
  const objectOf = (name) => {
    if (!objects.has(name)) {
      const path = modules.get(name);
      if (!path) throw new Error(`nested-kvm: module ${name} is not in the kernel package`);
      objects.set(name, readModule(path));
    }
    return objects.get(name);
  };
  const order = loadOrder(KVM_MODULE, (name) => moduleDepends(objectOf(name)));
  mkdirSync(join(dest, 'modules'), { recursive: true });
  copyFileSync(vmlinuz[0], join(dest, 'vmlinuz'));
  order.forEach((name, index) => {
    const fileName = `${String(index + 1).padStart(2, '0')}-${name}.ko`;
    writeFileSync(join(dest, 'modules', fileName), objectOf(name));
  });
  return order;
}

/** The cached kernel folder: `{ dir, vmlinuz, modulesDir, label }`. */
function kernelAt(dir, label) {
  return { dir, label, vmlinuz: join(dir, 'vmlinuz'), modulesDir: join(dir, 'modules') };
}

/**
 * Makes sure `cacheDir/kernel/<package>_<version>/` holds the current Debian kernel and the KVM
 * modules in load order; downloads only when that version is not cached yet, and drops older
 * cached kernels. Without package lists or archive access, falls back to a cached kernel.
 */
export function ensureKernel(apt, cacheDir, log) {
  const kernelsDir = join(cacheDir, 'kernel');
  mkdirSync(kernelsDir, { recursive: true });
  const cached = readdirSync(kernelsDir).filter((name) => existsSync(join(kernelsDir, name, READY_STAMP)));

  let wanted = apt.resolveKernelPackage();
  if (wanted === null && cached.length === 0) {
    apt.update();
    wanted = apt.resolveKernelPackage();
  }
  if (wanted === null) {
    if (cached.length === 0) throw new Error('nested-kvm: cannot resolve linux-image-amd64 with apt-cache');
    const label = cached.sort().at(-1);
    log(`kernel: apt-cache cannot resolve linux-image-amd64; using the cached ${label}`);
    return kernelAt(join(kernelsDir, label), label);
  }

  const label = `${wanted.name}_${wanted.version}`;
  const dir = join(kernelsDir, label);
  if (cached.includes(label)) return kernelAt(dir, label);

  const work = mkdtempSync(join(cacheDir, 'download-'));
  try {
    log(`kernel: downloading ${wanted.name} ${wanted.version}`);
    if (!apt.download(wanted, work)) {
      if (!apt.update()) throw new Error(`nested-kvm: apt-get download ${wanted.name} failed`);
      wanted = apt.resolveKernelPackage();
      if (wanted === null || !apt.download(wanted, work)) {
        throw new Error('nested-kvm: apt-get download of the kernel failed after apt-get update');
      }
      return ensureKernelFromDownload(work, kernelsDir, `${wanted.name}_${wanted.version}`, log);
    }
    return ensureKernelFromDownload(work, kernelsDir, label, log);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function ensureKernelFromDownload(work, kernelsDir, label, log) {
  const deb = readdirSync(work).find((name) => name.endsWith('.deb'));
  if (!deb) throw new Error('nested-kvm: apt-get download left no .deb');
  const unpacked = join(work, 'unpacked');
  execFileSync('dpkg', ['-x', join(work, deb), unpacked]);
  const staging = join(work, 'kernel');
  const order = extractKernel(unpacked, staging);
  writeFileSync(join(staging, READY_STAMP), `${label}\n${order.join('\n')}\n`);
  const dir = join(kernelsDir, label);
  if (existsSync(dir) && !existsSync(join(dir, READY_STAMP))) rmSync(dir, { recursive: true, force: true });
  try {
    renameSync(staging, dir);
  } catch (error) {
    // Another run on this machine finished the same kernel first: use theirs.
    if (!existsSync(join(dir, READY_STAMP))) throw error;
  }
  log(`kernel: ${label} unpacked; modules in load order: ${order.join(', ')}`);
  for (const old of readdirSync(kernelsDir)) {
    if (old !== label) rmSync(join(kernelsDir, old), { recursive: true, force: true });
  }
  return kernelAt(dir, label);
}
