// The guest's /init (run by busybox sh as PID 1) and the command file it runs.
import { HEARTBEAT_S } from './freeze-watch.mjs';
import { RESULT_MARKER, SETUP_FAILURE_STATUS } from './marker.mjs';

/** Where the runner's own files live inside the guest (modules, the command). */
export const GUEST_DIR = 'nested-kvm';

/**
 * Parameters the guest's insmod passes to each module (named as in the kernel, `kvm_amd`; the file
 * may carry an order prefix, `02-kvm.ko`). The kernel's command line does not reach modules loaded
 * by insmod (modprobe reads it), so module options go here.
 */
export const MODULE_PARAMS = {};

/** Quotes a string for a POSIX shell, whatever it holds. */
export function shellQuote(value) {
  return `'${String(value).replaceAll("'", `'\\''`)}'`;
}

/**
 * The /init script, run by `busybox` (its absolute path in the guest): mounts the virtual file systems, loads the KVM modules in order, checks
 * /dev/kvm, runs the command from `workdir` with `env`, prints the result marker on the console
 * and powers off. If power-off fails, exiting PID 1 panics the kernel, which `panic=-1` and
 * QEMU's `-no-reboot` turn into QEMU exiting: the run ends either way.
 */
export function initScript({ busybox, workdir, env, moduleParams = MODULE_PARAMS }) {
  const exports = Object.entries(env)
    .map(([name, value]) => `export ${name}=${shellQuote(value)}`)
    .join('\n');
  return `#!${busybox} sh
# PID 1 of the kvm-ts nested-KVM guest, written by tools/nested-kvm/guest-init.mjs.
${busybox} mkdir -p /proc /sys /dev /tmp /bin
${busybox} mount -t proc proc /proc
${busybox} mount -t sysfs sysfs /sys
${busybox} mount -t devtmpfs devtmpfs /dev
# /tmp stays on the initramfs (already RAM and writable): a tmpfs mounted there would hide a checkout that
# lives under /tmp, as CI's clones may.
${busybox} chmod 1777 /tmp
${busybox} --install -s /bin
${exports}

finish() {
  [ -n "$heartbeat" ] && kill "$heartbeat" 2>/dev/null
  echo "${RESULT_MARKER} status=$1\${2:+ reason=$2}"
  sync
  poweroff -f
  exit "$1"
}

# The parameters MODULE_PARAMS gives a module file (tools/nested-kvm/guest-init.mjs).
moduleParams() {
  case "$(basename "$1" .ko | sed 's/^[0-9]*-//')" in
${Object.entries(moduleParams)
  .map(([name, params]) => `    ${name}) echo ${shellQuote(params)} ;;`)
  .join('\n')}
    *) ;;
  esac
}

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# A line every ${HEARTBEAT_S} s while L1 lives: the runner takes a silent console with QEMU using no CPU
# as the whole nested machine having frozen (tools/nested-kvm/freeze-watch.mjs), never as a hung test.
( while :; do sleep ${HEARTBEAT_S}; echo "[guest] heartbeat $(uptime_s) s"; done ) &
heartbeat=$!

echo "[guest] Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB, up $(uptime_s) s"
for module in /${GUEST_DIR}/modules/*.ko; do
  insmod "$module" $(moduleParams "$module") || finish ${SETUP_FAILURE_STATUS} "insmod-$(basename "$module" .ko)"
done
[ -c /dev/kvm ] || finish ${SETUP_FAILURE_STATUS} no-dev-kvm
dmesg | grep -iE 'kvm|svm' | sed 's/^/[guest] dmesg: /'
${Object.entries(moduleParams)
  .flatMap(([module, params]) =>
    params.split(' ').map((param) => `${module}/parameters/${param.split('=')[0]}`),
  )
  .map((path) => `echo "[guest] /sys/module/${path}: $(cat /sys/module/${path})"`)
  .join('\n')}
cd ${shellQuote(workdir)} || finish ${SETUP_FAILURE_STATUS} no-workdir
echo "[guest] /dev/kvm ready at $(uptime_s) s; running /${GUEST_DIR}/command.sh in $(pwd):"
sed 's/^/[guest]   /' /${GUEST_DIR}/command.sh
# Through a pipe, so the command sees no terminal (no cursor tricks in the log); the status
# comes back through a file.
( /bin/sh /${GUEST_DIR}/command.sh </dev/null; echo $? >/${GUEST_DIR}/status ) 2>&1 | cat
status=$(cat /${GUEST_DIR}/status 2>/dev/null || echo ${SETUP_FAILURE_STATUS})
echo "[guest] command exited with status $status at $(uptime_s) s"
finish "$status"
`;
}

/** The command file: the user's shell command, verbatim, run by busybox sh. */
export function commandScript(command) {
  return `${command}\n`;
}
