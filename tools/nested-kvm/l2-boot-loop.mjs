#!/usr/bin/env node
// Boots the Linux boot test's L2 guest (Debian's kernel and the test's busybox initramfs, through
// `kvm-ts run --backend native`) several times in a row inside one nested guest, one line per boot
// with its times: the cheap way to count how often a boot stalls or freezes the nested machine.
// Run it through the runner, e.g.
//   pnpm test:kvm -- --timeout 2400 --command 'node --import tsx tools/nested-kvm/l2-boot-loop.mjs \
//     --boots 15 --kernel "$KVM_TS_LINUX_KERNEL" --busybox "$KVM_TS_LINUX_BUSYBOX"'
// Each boot streams the L2 console prefixed with `[l2 <n>]`, so a freeze shows where L2 was.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MARKER = 'KVM-TS-SHELL-READY';
const USAGE = `usage: node --import tsx tools/nested-kvm/l2-boot-loop.mjs --kernel <vmlinuz> [--boots 10]
       [--busybox /bin/busybox] [--append <more kernel parameters>] [--timeout 300]
(inside the nested guest: --kernel "$KVM_TS_LINUX_KERNEL" --busybox "$KVM_TS_LINUX_BUSYBOX")`;

const { values } = parseArgs({
  options: {
    kernel: { type: 'string' },
    boots: { type: 'string', default: '10' },
    busybox: { type: 'string', default: '/bin/busybox' },
    append: { type: 'string', default: '' },
    timeout: { type: 'string', default: '300' },
  },
});
const boots = Number(values.boots);
const { kernel, busybox } = values;
const timeoutS = Number(values.timeout);
if (!kernel || !(boots > 0) || !(timeoutS > 0)) {
  console.error(USAGE);
  process.exit(2);
}
/** The Linux boot test's command line (apps/cli/test/linux-boot.test.ts), plus --append. */
const CMDLINE = [
  'console=ttyS0 reboot=k panic=-1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd 8250.nr_uarts=1 io_delay=none',
  values.append,
]
  .join(' ')
  .trim();

// The test's own initramfs builder (TypeScript, hence --import tsx).
const { busyboxInitramfs } = await import(join(ROOT, 'apps/cli/test/support/initramfs.ts'));
const dir = mkdtempSync(join(tmpdir(), 'l2-loop-'));
const initrd = join(dir, 'initramfs.cpio.gz');
writeFileSync(initrd, busyboxInitramfs(busybox, MARKER));
console.log(`[l2-loop] ${boots} boots, append: ${CMDLINE}`);

/** One boot: waits for the shell, types a command and `reboot -f`, resolves with its times. */
function boot(n) {
  return new Promise((resolve) => {
    const started = performance.now();
    const at = () => ((performance.now() - started) / 1000).toFixed(1);
    const args = [join(ROOT, 'apps/cli/dist/bin.js'), 'run', kernel, '--backend', 'native'];
    args.push('--mem', '512M', '--cpus', '1', '--initrd', initrd, '--append', CMDLINE);
    args.push('--timeout', String(timeoutS));
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let pending = '';
    let shellAt = null;
    const show = (text) => {
      const lines = (pending + text).split('\n');
      pending = lines.pop();
      for (const line of lines) console.log(`[l2 ${n}] ${line.replace(/\r/g, '')}`);
    };
    child.stderr.on('data', (chunk) => show(chunk.toString('latin1')));
    child.stdout.on('data', (chunk) => {
      const text = chunk.toString('latin1');
      output += text;
      show(text);
      if (shellAt === null && output.includes(MARKER)) {
        shellAt = at();
        child.stdin.write('echo "answer=$((6 * 7))"; reboot -f\n');
      }
    });
    child.on('exit', (code) => {
      if (pending) show('\n');
      resolve({ shellAt, endedAt: at(), code, answered: output.includes('answer=42') });
    });
  });
}

let good = 0;
for (let n = 1; n <= boots; n++) {
  const { shellAt, endedAt, code, answered } = await boot(n);
  const ok = code === 0 && answered;
  if (ok) good++;
  console.log(
    `[l2-loop] boot ${n}/${boots}: ${ok ? 'ok' : 'FAILED'}, shell at ${shellAt ?? '-'} s, ended at ${endedAt} s, status ${code}; ${good} good so far`,
  );
}
rmSync(dir, { recursive: true, force: true });
console.log(`[l2-loop] done: ${good}/${boots} boots good`);
process.exit(good === boots ? 0 : 1);
