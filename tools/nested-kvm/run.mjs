#!/usr/bin/env node
// `pnpm test:kvm`: runs the native backend's tests on the reference KVM, Debian's kvm_amd
// inside QEMU's software CPU (see /work/shared/REAL-KVM.md and tools/nested-kvm/README.md).
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Apt } from './apt.mjs';
import { parseArgs, suitesCommand, USAGE } from './args.mjs';
import { bootGuest, qemuArgs } from './boot.mjs';
import { frozenMessage } from './freeze-watch.mjs';
import { buildInitramfs, GUEST_KERNEL } from './image.mjs';
import { ensureKernel } from './kernel.mjs';
import { SETUP_FAILURE_STATUS } from './marker.mjs';
import { chooseQemu, ensureNestedQemu, qemuVersionOf } from './qemu.mjs';
import { planRetryAfterFreeze, skippableAfterFreeze } from './retry.mjs';
import { checkBuilt, workspacePackageDirs } from './workspace.mjs';

/** Exit status when the guest printed no result: timeout, kernel panic, QEMU failure. */
const NO_RESULT_STATUS = 3;
/** Exit status for a problem on the host before the guest could start. */
const HOST_PROBLEM_STATUS = 2;

const ROOT = realpathSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..'));
/** Kernel and cached image parts, unless --cache-dir says otherwise. */
const DEFAULT_CACHE_DIR = join(ROOT, '.cache', 'nested-kvm');

function log(message) {
  console.log(`[test:kvm] ${message}`);
}

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Times a step and logs its duration. */
async function step(label, action) {
  const started = performance.now();
  const value = await action();
  log(`${label}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return value;
}

/**
 * Environment of the command inside the guest; `busybox` is the static busybox the system part
 * holds, which the Linux boot test also puts in its own initramfs.
 */
function guestEnv({ busybox }) {
  return {
    PATH: [
      dirname(process.execPath),
      '/usr/local/sbin',
      '/usr/local/bin',
      '/usr/sbin',
      '/usr/bin',
      '/sbin',
      '/bin',
    ].join(':'),
    HOME: '/tmp',
    TMPDIR: '/tmp',
    // Non-interactive output for the serial log: no TTY redraws, no colours.
    CI: 'true',
    NO_COLOR: '1',
    TERM: 'dumb',
    // Tells tests they run on the reference KVM (they still detect the KVM flavour themselves).
    KVM_TS_NESTED: '1',
    // The Linux boot test (apps/cli/test/linux-boot.test.ts): Debian's kernel, in the guest's system part.
    KVM_TS_LINUX_KERNEL: `/${GUEST_KERNEL}`,
    KVM_TS_LINUX_BUSYBOX: busybox,
    KVM_TS_LINUX_BACKEND: 'native',
    // It boots in 35-60 s here; a boot that stalls fails after five minutes instead of holding the run.
    KVM_TS_LINUX_TIMEOUT: '300',
  };
}

async function main(argv) {
  let options;
  try {
    options = parseArgs(argv);
  } catch (error) {
    console.error(`test:kvm: ${error.message}\n\n${USAGE}`);
    return HOST_PROBLEM_STATUS;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error(`test:kvm: needs Linux on x86-64 (this is ${process.platform}/${process.arch})`);
    return HOST_PROBLEM_STATUS;
  }

  const packageDirs = workspacePackageDirs(ROOT);
  const { missing, unbuilt, stale } = checkBuilt(ROOT, packageDirs);
  if (missing.length > 0) {
    console.error(`test:kvm: not built: ${missing.join(', ')} have no dist/. Run \`pnpm build\` first.`);
    return HOST_PROBLEM_STATUS;
  }
  if (unbuilt.length > 0)
    log(`warning: ${unbuilt.join(', ')} have no dist/ (the native tests do not need them)`);
  if (stale.length > 0) log(`warning: src/ is newer than dist/ in ${stale.join(', ')}: run \`pnpm build\`?`);

  const cacheDir = options.cacheDir === null ? DEFAULT_CACHE_DIR : resolve(options.cacheDir);
  const total = performance.now();
  const apt = new Apt();
  const commands = await step('host packages', () => apt.ensureCommands());
  const kernel = await step('kernel', () => ensureKernel(apt, cacheDir, log));
  log(`kernel: ${kernel.label}`);
  const qemu = await step('QEMU', () =>
    chooseQemu({
      forceSystem: options.systemQemu,
      fetchNested: () => ensureNestedQemu({ cacheDir, log }),
      systemBinary: commands['qemu-system-x86_64'],
      systemVersion: (binary) => qemuVersionOf(binary),
      log,
    }),
  );

  const work = mkdtempSync(join(tmpdir(), 'kvm-ts-nested-'));
  let stopQemu = () => {};
  const onSignal = (signal) => {
    console.error(`test:kvm: ${signal}: stopping QEMU`);
    stopQemu();
    if (!options.keep) rmSync(work, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const initrd = join(work, 'initramfs.cpio.gz');
    /** Builds the initramfs for `command` and boots it once. */
    const bootWith = async (command) => {
      const image = await step('initramfs', () =>
        buildInitramfs({
          cacheDir,
          output: initrd,
          busybox: commands.busybox,
          node: process.execPath,
          kernel,
          root: ROOT,
          packageDirs,
          command,
          env: guestEnv({ busybox: commands.busybox }),
          fullNodeModules: options.fullNodeModules,
        }),
      );
      for (const part of image.parts) {
        const how = part.reused ? 'cached' : `built in ${part.seconds.toFixed(1)} s`;
        log(
          `  part ${part.kind}: ${megabytes(part.bytes)} (${part.bytes} bytes), ${part.files} files, ${how}`,
        );
      }
      log(`  initramfs: ${megabytes(image.bytes)} (${image.bytes} bytes)`);
      log(`booting with ${qemu.label}: timeout ${options.timeoutS} s, command: ${command}`);
      const boot = await bootGuest({
        qemu: qemu.binary,
        dataDir: qemu.dataDir,
        moduleDir: qemu.moduleDir,
        kernel: kernel.vmlinuz,
        initrd,
        qmpSocket: join(work, 'qmp.sock'),
        timeoutS: options.timeoutS,
        write: (text) => process.stdout.write(text),
        register: (stop) => {
          stopQemu = stop;
        },
      });
      const markerAt =
        boot.markerSeconds === null ? 'no result' : `result after ${boot.markerSeconds.toFixed(1)} s`;
      log(
        `guest: ${markerAt}, QEMU ended after ${boot.seconds.toFixed(1)} s (QEMU status ${boot.qemuStatus})`,
      );
      return boot;
    };

    let boot = await bootWith(options.command);
    const boots = [boot];
    // A frozen machine is the reference machine's fault (see freeze-watch.mjs): the suites it had
    // not finished get a fresh machine (at most --freeze-retries), loudly, and only if nothing failed while it was alive.
    let suites = options.suites;
    const retries = [];
    while (boot.frozen !== null) {
      console.error(`test:kvm: ${frozenMessage(boot.frozen)}`);
      const plan = planRetryAfterFreeze({
        suites,
        finished: boot.finished,
        failureSeen: boot.failureSeen,
        retriesDone: retries.length,
        maxRetries: options.freezeRetries,
      });
      if (plan.suites === null) {
        log(`no retry after the freeze: ${plan.why}`);
        break;
      }
      suites = plan.suites;
      const names = suites.map(({ name }) => name).join(', ');
      retries.push(names);
      log('='.repeat(72));
      log(
        `RETRY ${retries.length}/${options.freezeRetries}: the nested machine froze; booting a fresh one for: ${names}`,
      );
      log('='.repeat(72));
      boot = await bootWith(suitesCommand(suites));
      boots.push(boot);
    }

    for (const [i, { totals }] of boots.entries()) {
      const which = boots.length > 1 ? ` (boot ${i + 1})` : '';
      for (const line of totals) log(`guest vitest${which}: ${line}`);
    }
    if (boots.length > 1) {
      const finished = boots.flatMap(({ finished }) => finished);
      log(`suites across boots: ${finished.map(({ name, status }) => `${name}=${status}`).join(' ')}`);
    }
    const kicks = boots.flatMap(({ kicks }) => kicks);
    const revived = kicks.filter(({ revivedAfterS }) => revivedAfterS !== null);
    log(
      `freezes of the nested machine (${qemu.label}): ${kicks.length} (${revived.length} revived by an NMI, ` +
        `${boots.filter(({ frozen }) => frozen !== null).length} stopped); fresh boots after a freeze: ` +
        `${retries.length}${retries.length > 0 ? ` (${retries.join('; ')})` : ''}`,
    );
    log(`total: ${((performance.now() - total) / 1000).toFixed(1)} s`);
    if (options.keep) {
      const args = qemuArgs({ kernel: kernel.vmlinuz, initrd, dataDir: qemu.dataDir }).map((arg) =>
        /\s/.test(arg) ? `"${arg}"` : arg,
      );
      const env = qemu.moduleDir === null ? '' : `QEMU_MODULE_DIR=${qemu.moduleDir} `;
      log(`kept ${initrd}; boot it again with:\n  ${env}${qemu.binary} ${args.join(' ')}`);
    }

    if (boot.frozen !== null) {
      const skipped = skippableAfterFreeze({
        suites,
        finished: boot.finished,
        failureSeen: boot.failureSeen,
        maySkip: options.maySkip,
      });
      if (skipped !== null) {
        const freezes = boots.filter(({ frozen }) => frozen !== null).length;
        log('='.repeat(72));
        log(
          `SKIPPED: ${skipped.join(', ')}, unfinished: the nested machine froze ${freezes} time(s) in a row ` +
            `(${qemu.label}), the reference machine's fault, not kvm-ts; --may-skip lets it end so`,
        );
        log('='.repeat(72));
        log('PASSED: every suite that ran to its end succeeded on nested kvm_amd');
        return 0;
      }
      console.error(`test:kvm: FAILED: ${frozenMessage(boot.frozen)}`);
      return NO_RESULT_STATUS;
    }
    if (boot.result === null) {
      const why = boot.timedOut ? `timed out after ${options.timeoutS} s` : 'ended without printing a result';
      console.error(`test:kvm: FAILED: the guest ${why}`);
      return NO_RESULT_STATUS;
    }
    const { status, reason } = boot.result;
    if (status === 0) {
      log('PASSED: the command succeeded on nested kvm_amd');
      return 0;
    }
    const what =
      status === SETUP_FAILURE_STATUS && reason ? `guest setup failed (${reason})` : `status ${status}`;
    console.error(`test:kvm: FAILED: ${what}`);
    return Math.min(status, 255);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!options.keep) rmSync(work, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error) => {
    console.error(`test:kvm: ${error.stack ?? error}`);
    process.exitCode = HOST_PROBLEM_STATUS;
  },
);
