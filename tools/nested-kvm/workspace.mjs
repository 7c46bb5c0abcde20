// What of the pnpm workspace goes into the guest: the packages as built (the small part that
// changes every run) and the node_modules they resolve (the larger part that changes with the lockfile).
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

/** Directories never copied into the guest: caches and build bookkeeping, not inputs. */
const SKIPPED_DIRS = new Set(['node_modules', '.turbo', 'coverage', '.vite', '.vite-temp', '.cache']);

/** Cache directories inside node_modules, left out of the guest. */
const MODULE_CACHE_DIRS = new Set(['.vite', '.vite-temp', '.cache']);

/** Root files a package's tooling reads (package type, workspace layout, shared compiler options). */
const ROOT_FILES = ['package.json', 'pnpm-workspace.yaml', 'tsconfig.base.json', 'tsconfig.json'];

/**
 * Root node_modules entries left out by default: tools that lint, type-check, document,
 * orchestrate or publish, and never run inside the guest (together over 190 MB unpacked).
 * Everything else at the root stays, since tests resolve from their package up to the root
 * (vitest, and tsx, which tests use to start Node processes and Workers on TypeScript sources).
 */
const HOST_ONLY_ROOT_MODULES = new Set([
  '@arethetypeswrong',
  '@biomejs',
  '@changesets',
  'publint',
  'turbo',
  'typedoc',
  'typescript',
]);

/**
 * The package directories of the workspace, from the `packages:` list of pnpm-workspace.yaml.
 * Only literal directories and `dir/*` patterns are understood, which is what this repository uses.
 */
export function workspacePackageDirs(root) {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const patterns = [];
  let inPackages = false;
  for (const line of yaml.split('\n')) {
    if (/^\S/.test(line)) inPackages = /^packages:\s*$/.test(line);
    const item = inPackages && /^\s+-\s+['"]?([^'"#\s]+)['"]?/.exec(line);
    if (item) patterns.push(item[1]);
  }
  const dirs = [];
  for (const pattern of patterns) {
    if (pattern.endsWith('/*') && !pattern.slice(0, -2).includes('*')) {
      const parent = join(root, pattern.slice(0, -2));
      if (!existsSync(parent)) continue;
      for (const name of readdirSync(parent).sort()) {
        if (existsSync(join(parent, name, 'package.json'))) dirs.push(join(parent, name));
      }
    } else if (!pattern.includes('*')) {
      if (existsSync(join(root, pattern, 'package.json'))) dirs.push(join(root, pattern));
    } else {
      throw new Error(`nested-kvm: unsupported pnpm-workspace.yaml pattern "${pattern}"`);
    }
  }
  return dirs;
}

function newestMtime(dir) {
  let newest = 0;
  const walk = (path) => {
    const stat = lstatSync(path);
    if (stat.isDirectory()) {
      for (const name of readdirSync(path)) if (!SKIPPED_DIRS.has(name)) walk(join(path, name));
    } else newest = Math.max(newest, stat.mtimeMs);
  };
  if (existsSync(dir)) walk(dir);
  return newest;
}

/** The package the default command tests; its workspace dependencies must be built. */
export const TESTED_PACKAGE = 'packages/native';

function readManifest(dir) {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
}

/**
 * `tested` and the workspace packages it depends on (dependencies and devDependencies with the
 * `workspace:` protocol), transitively: what the tests import through package exports (dist/).
 */
export function workspaceClosure(packageDirs, tested) {
  const byName = new Map(packageDirs.map((dir) => [readManifest(dir).name, dir]));
  const closure = new Set();
  const visit = (dir) => {
    if (closure.has(dir)) return;
    closure.add(dir);
    const manifest = readManifest(dir);
    for (const [name, range] of Object.entries({ ...manifest.dependencies, ...manifest.devDependencies })) {
      if (String(range).startsWith('workspace:') && byName.has(name)) visit(byName.get(name));
    }
  };
  if (packageDirs.includes(tested)) visit(tested);
  return closure;
}

/**
 * Checks the build (this runner never builds): packages with a build script but no dist/ are
 * `missing` when the tested package needs them and `unbuilt` otherwise (they go in without
 * dist/); `stale` ones have src/ newer than dist/.
 */
export function checkBuilt(root, packageDirs) {
  const needed = workspaceClosure(packageDirs, join(root, TESTED_PACKAGE));
  const missing = [];
  const unbuilt = [];
  const stale = [];
  for (const dir of packageDirs) {
    if (!readManifest(dir).scripts?.build) continue;
    const dist = join(dir, 'dist');
    const name = relative(root, dir);
    if (!existsSync(dist) || readdirSync(dist).length === 0) (needed.has(dir) ? missing : unbuilt).push(name);
    else if (newestMtime(join(dir, 'src')) > newestMtime(dist)) stale.push(name);
  }
  return { missing, unbuilt, stale };
}

/**
 * Adds the workspace as built: the root files and each package directory except its
 * node_modules and caches (package.json, dist/, src/, test/, configs, fixtures).
 */
export function addWorkspace(entries, root, packageDirs) {
  for (const file of ROOT_FILES) if (existsSync(join(root, file))) entries.addHostPath(join(root, file));
  for (const name of readdirSync(root).sort()) {
    if (/^vitest\.(config|workspace)\.[cm]?[jt]s$/.test(name)) entries.addHostPath(join(root, name));
  }
  for (const dir of packageDirs) {
    entries.addHostTree(dir, {
      skip: (path, stat) =>
        (stat.isDirectory() && SKIPPED_DIRS.has(path.split(sep).at(-1))) || path.endsWith('.tsbuildinfo'),
    });
  }
}

/**
 * Adds the node_modules the workspace packages resolve. pnpm keeps each package at
 * node_modules/.pnpm/<id>/node_modules/<name> with its dependencies as sibling symlinks, so
 * following links from the packages' own node_modules and from the chosen root entries, and
 * taking each reached `.pnpm/<id>/node_modules` whole, gives the closure with links kept as links.
 * `full` takes the whole root node_modules instead. Returns the `.node` addons met, whose shared
 * libraries the guest also needs.
 */
export function addNodeModules(entries, root, packageDirs, { full = false } = {}) {
  const rootModules = join(root, 'node_modules');
  const store = join(rootModules, '.pnpm');
  const takenGroups = new Set();
  const addons = [];
  const skip = (path, stat) => {
    if (stat.isDirectory()) return MODULE_CACHE_DIRS.has(path.split(sep).at(-1));
    if (stat.isFile() && path.endsWith('.node')) addons.push(path);
    return false;
  };
  const follow = (_link, target) => {
    if (!target.startsWith(store + sep)) return; // workspace packages come with the workspace part
    const id = relative(store, target).split(sep)[0];
    if (id === 'node_modules' || takenGroups.has(id)) return;
    takenGroups.add(id);
    const group = join(store, id, 'node_modules');
    if (existsSync(group)) entries.addHostTree(group, { skip, onSymlink: follow });
  };

  if (full) entries.addHostTree(rootModules, { skip, onSymlink: follow });
  else addRootModules(entries, rootModules, store, skip, follow);
  for (const dir of packageDirs) {
    const modules = join(dir, 'node_modules');
    if (existsSync(modules)) entries.addHostTree(modules, { skip, onSymlink: follow });
  }
  return addons;
}

/** The root node_modules entries but the host-only tools, and pnpm's hoisted links. */
function addRootModules(entries, rootModules, store, skip, follow) {
  for (const name of readdirSync(rootModules).sort()) {
    if (name.startsWith('.') || HOST_ONLY_ROOT_MODULES.has(name)) continue;
    const path = join(rootModules, name);
    if (lstatSync(path).isSymbolicLink()) {
      entries.addHostPath(path);
      follow(path, resolve(rootModules, readlinkSync(path)));
    } else entries.addHostTree(path, { skip, onSymlink: follow });
  }
  // pnpm's hoisted links, for packages that import what they do not declare; links only, so
  // the ones into packages outside the closure dangle and resolve as "not installed".
  const hoisted = join(store, 'node_modules');
  if (existsSync(hoisted)) entries.addHostTree(hoisted);
}
