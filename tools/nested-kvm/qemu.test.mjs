// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseCandidate } from './apt.mjs';
import { parseLddOutput } from './host-files.mjs';
import {
  chooseQemu,
  ensureNestedQemu,
  failureReason,
  LISTS_MAX_AGE_S,
  listsAreFresh,
  parseCodename,
  parseQemuVersion,
  privateAptOptions,
  QEMU_PACKAGES,
  qemuCachePaths,
} from './qemu.mjs';

const DEBIAN_VERSION = '1:10.0.2+ds-2+deb13u1~bpo12+1';
const VERSION_10 = `QEMU emulator version 10.0.2 (Debian ${DEBIAN_VERSION})\nCopyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n`;
const BOOKWORM =
  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n';
const HOUR_MS = 3600 * 1000;

describe('privateAptOptions', () => {
  it('points every apt folder into the cache and leaves the system configuration and state alone', () => {
    const paths = qemuCachePaths('/c');
    const options = privateAptOptions(paths);
    assert.equal(options.length % 2, 0);
    const settings = options.filter((_, i) => i % 2 === 1);
    assert.ok(options.every((option, i) => i % 2 === 1 || option === '-o'));
    const value = (name) =>
      settings.find((setting) => setting.startsWith(`${name}=`))?.slice(name.length + 1);
    assert.equal(value('Dir::Etc::SourceList'), '/c/qemu/apt/sources.list');
    assert.equal(value('Dir::Etc::SourceParts'), '/c/qemu/apt/empty.d');
    assert.equal(value('Dir::State::Lists'), '/c/qemu/apt/lists');
    assert.equal(value('Dir::Cache'), '/c/qemu/apt/cache');
    // An empty dpkg status: the candidate is backports' version, not the installed QEMU.
    assert.equal(value('Dir::State::status'), '/c/qemu/apt/empty');
    assert.equal(value('APT::Sandbox::User'), 'root');
    for (const setting of settings.filter((setting) => setting.startsWith('Dir::'))) {
      assert.match(setting, /=\/c\/qemu\/apt\//, setting);
    }
  });
});

describe('listsAreFresh', () => {
  it('trusts lists younger than a day, never missing ones or ones from the future', () => {
    const now = Date.UTC(2026, 10, 26, 21);
    assert.equal(listsAreFresh(null, now), false);
    assert.equal(listsAreFresh(now - HOUR_MS, now), true);
    assert.equal(listsAreFresh(now - LISTS_MAX_AGE_S * 1000 + 1, now), true);
    assert.equal(listsAreFresh(now - LISTS_MAX_AGE_S * 1000, now), false);
    assert.equal(listsAreFresh(now + HOUR_MS, now), false);
  });
});

describe('parsers', () => {
  it('reads the candidate from apt-cache policy', () => {
    const policy = `qemu-system-x86:\n  Installed: (none)\n  Candidate: ${DEBIAN_VERSION}\n  Version table:\n     ${DEBIAN_VERSION} 100\n`;
    assert.equal(parseCandidate(policy), DEBIAN_VERSION);
    assert.equal(parseCandidate('qemu-system-x86:\n  Installed: (none)\n  Candidate: (none)\n'), null);
    assert.equal(parseCandidate(''), null);
  });

  it('reads the version QEMU prints', () => {
    assert.deepEqual(parseQemuVersion(VERSION_10), { version: '10.0.2', major: 10 });
    assert.deepEqual(parseQemuVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n'), {
      version: '7.2.22',
      major: 7,
    });
    assert.deepEqual(parseQemuVersion('QEMU emulator version 11.0\n'), { version: '11.0', major: 11 });
    assert.equal(parseQemuVersion('qemu-system-x86_64: unknown option'), null);
  });

  it('lists the libraries ldd cannot find', () => {
    const ldd = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibpixman-1.so.0 => /lib/x86_64-linux-gnu/libpixman-1.so.0 (0x00007f1)',
      '\tlibslirp.so.0 => not found',
      '\tlibfdt.so.1 => not found',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f2)',
    ].join('\n');
    assert.deepEqual(parseLddOutput(ldd).missing, ['libslirp.so.0', 'libfdt.so.1']);
    assert.deepEqual(parseLddOutput(ldd.replaceAll('not found', '/lib/x.so (0x1)')).missing, []);
  });

  it('takes the first apt error as the reason, else the last line', () => {
    const apt = [
      "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm-backports/InRelease  Temporary failure resolving 'deb.debian.org'",
      'E: Some index files failed to download. They have been ignored, or old ones used instead.',
    ].join('\n');
    assert.match(failureReason(apt), /^E: Failed to fetch .*Temporary failure resolving/);
    assert.equal(
      failureReason('dpkg-deb: warning: x\ndpkg-deb: error: tar failed\n\n'),
      'dpkg-deb: error: tar failed',
    );
    assert.equal(failureReason(''), '');
  });

  it('reads the codename from os-release', () => {
    assert.equal(parseCodename(BOOKWORM), 'bookworm');
    assert.equal(parseCodename('ID=ubuntu\nVERSION_CODENAME="noble"\n'), 'noble');
    assert.equal(parseCodename('ID=alpine\n'), null);
  });
});

/**
 * A fake machine for ensureNestedQemu: apt, dpkg, ldd and the unpacked QEMU as functions that
 * record their calls; `download` writes .deb files, `dpkg -x` the binary they would unpack.
 */
function fakeMachine({
  updateFails = false,
  noCandidate = false,
  lddMissing = [],
  versionText = VERSION_10,
} = {}) {
  const calls = [];
  const exec = (command, args, { cwd } = {}) => {
    const verb =
      command === 'apt-get' || command === 'apt-cache'
        ? args.find((arg) => !arg.startsWith('-') && !arg.includes('='))
        : null;
    calls.push(
      verb
        ? `${command} ${verb}`
        : `${basename(command)} ${args.at(-1) === '--version' ? '--version' : basename(args[0])}`,
    );
    if (command === 'apt-get' && verb === 'update') {
      return updateFails
        ? {
            status: 100,
            stdout: '',
            stderr:
              'E: Failed to fetch http://deb.debian.org/debian/dists/bookworm-backports/InRelease  Temporary failure resolving\n',
          }
        : { status: 0, stdout: '', stderr: '' };
    }
    if (command === 'apt-cache' && noCandidate)
      return { status: 0, stdout: 'qemu-system-x86:\n  Candidate: (none)\n', stderr: '' };
    if (command === 'apt-cache')
      return { status: 0, stdout: `qemu-system-x86:\n  Candidate: ${DEBIAN_VERSION}\n`, stderr: '' };
    if (command === 'apt-get' && verb === 'download') {
      for (const name of QEMU_PACKAGES) writeFileSync(join(cwd, `${name}_1%3a10.0.2_amd64.deb`), name);
      return { status: 0, stdout: '', stderr: '' };
    }
    if (command === 'dpkg') {
      const root = args[2];
      mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
      mkdirSync(join(root, 'usr', 'share', 'qemu'), { recursive: true });
      writeFileSync(join(root, 'usr', 'bin', 'qemu-system-x86_64'), '');
      return { status: 0, stdout: '', stderr: '' };
    }
    if (command === 'ldd') {
      const lines = [
        '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)',
        ...lddMissing.map((lib) => `\t${lib} => not found`),
      ];
      return { status: 0, stdout: lines.join('\n'), stderr: '' };
    }
    if (command.endsWith('/qemu-system-x86_64')) return { status: 0, stdout: versionText, stderr: '' };
    throw new Error(`unexpected command ${command}`);
  };
  return { calls, exec };
}

describe('ensureNestedQemu', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'nested-qemu-test-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));
  const firmware = join(scratch, 'seabios');
  mkdirSync(firmware);
  writeFileSync(join(firmware, 'bios-256k.bin'), '');
  let n = 0;
  const setup = () => ({
    cacheDir: join(scratch, `cache-${++n}`),
    log: () => {},
    osRelease: () => BOOKWORM,
    firmwareDirs: [firmware],
  });
  const start = Date.UTC(2026, 10, 26, 21);

  it('fetches once, then reuses lists younger than a day and the unpacked version without network', () => {
    const base = setup();
    const cold = fakeMachine();
    const first = ensureNestedQemu({ ...base, exec: cold.exec, now: start });
    assert.deepEqual(cold.calls, [
      'apt-get update',
      'apt-cache policy',
      'apt-get download',
      'dpkg -x',
      'dpkg -x',
      'dpkg -x',
      'ldd qemu-system-x86_64',
      'qemu-system-x86_64 --version',
    ]);
    assert.equal(first.version, '10.0.2');
    assert.equal(first.debianVersion, DEBIAN_VERSION);
    assert.equal(first.fetched, true);
    assert.equal(
      first.binary,
      join(
        base.cacheDir,
        'qemu',
        'versions',
        '1_10.0.2+ds-2+deb13u1~bpo12+1',
        'root',
        'usr',
        'bin',
        'qemu-system-x86_64',
      ),
    );
    assert.equal(first.dataDir, join(first.root, 'usr', 'share', 'qemu'));

    const warm = fakeMachine();
    const second = ensureNestedQemu({ ...base, exec: warm.exec, now: start + 23 * HOUR_MS });
    assert.deepEqual(warm.calls, [
      'apt-cache policy',
      'ldd qemu-system-x86_64',
      'qemu-system-x86_64 --version',
    ]);
    assert.equal(second.fetched, false);
    assert.equal(second.binary, first.binary);

    const dayOld = fakeMachine();
    ensureNestedQemu({ ...base, exec: dayOld.exec, now: start + 25 * HOUR_MS });
    assert.deepEqual(dayOld.calls.slice(0, 2), ['apt-get update', 'apt-cache policy']);
    assert.equal(dayOld.calls.includes('apt-get download'), false);
  });

  it('uses the unpacked version when the lists are stale and apt-get update fails', () => {
    const base = setup();
    ensureNestedQemu({ ...base, exec: fakeMachine().exec, now: start });
    const offline = fakeMachine({ updateFails: true });
    const lines = [];
    const found = ensureNestedQemu({
      ...base,
      log: (line) => lines.push(line),
      exec: offline.exec,
      now: start + 48 * HOUR_MS,
    });
    assert.equal(found.version, '10.0.2');
    assert.equal(offline.calls.includes('apt-get download'), false);
    assert.match(
      lines.at(-1),
      /apt-get update failed .*Temporary failure resolving.*; using the unpacked 1:10\.0\.2/,
    );
  });

  it('does not count lists that gave no candidate (a fetch apt only warned about) as fresh', () => {
    const base = setup();
    const empty = fakeMachine({ noCandidate: true });
    assert.throws(
      () => ensureNestedQemu({ ...base, exec: empty.exec, now: start }),
      /bookworm-backports offers no qemu-system-x86/,
    );
    assert.deepEqual(empty.calls, ['apt-get update', 'apt-cache policy']);
    const again = fakeMachine();
    ensureNestedQemu({ ...base, exec: again.exec, now: start + HOUR_MS });
    assert.deepEqual(again.calls.slice(0, 3), ['apt-get update', 'apt-cache policy', 'apt-get download']);
  });

  it('throws with the reason: no network and nothing unpacked, a missing library, an old QEMU, no BIOS, not bookworm', () => {
    assert.throws(
      () => ensureNestedQemu({ ...setup(), exec: fakeMachine({ updateFails: true }).exec, now: start }),
      /apt-get update failed \(status 100\): E: Failed to fetch/,
    );
    assert.throws(
      () =>
        ensureNestedQemu({
          ...setup(),
          exec: fakeMachine({ lddMissing: ['libslirp.so.0'] }).exec,
          now: start,
        }),
      /needs libslirp\.so\.0, which this machine lacks/,
    );
    assert.throws(
      () =>
        ensureNestedQemu({
          ...setup(),
          exec: fakeMachine({ versionText: 'QEMU emulator version 7.2.22\n' }).exec,
          now: start,
        }),
      /gave QEMU 7\.2\.22, older than 10/,
    );
    assert.throws(
      () =>
        ensureNestedQemu({
          ...setup(),
          firmwareDirs: [join(scratch, 'none')],
          exec: fakeMachine().exec,
          now: start,
        }),
      /no bios-256k\.bin .*seabios/,
    );
    const trixie = fakeMachine();
    assert.throws(
      () =>
        ensureNestedQemu({
          ...setup(),
          osRelease: () => 'VERSION_CODENAME=trixie\n',
          exec: trixie.exec,
          now: start,
        }),
      /not Debian bookworm \(codename trixie\)/,
    );
    assert.deepEqual(trixie.calls, []);
  });
});

describe('chooseQemu', () => {
  const nested = {
    binary: '/c/qemu/versions/v/root/usr/bin/qemu-system-x86_64',
    dataDir: '/c/qemu/versions/v/root/usr/share/qemu',
    moduleDir: '/c/qemu/versions/v/root/usr/lib/x86_64-linux-gnu/qemu',
    version: '10.0.2',
    debianVersion: DEBIAN_VERSION,
    fetched: false,
  };
  const common = { systemBinary: '/usr/bin/qemu-system-x86_64', systemVersion: () => '7.2.22' };

  it('boots backports QEMU with its data and module folders, and says so', () => {
    const lines = [];
    const chosen = chooseQemu({
      ...common,
      forceSystem: false,
      fetchNested: () => nested,
      log: (line) => lines.push(line),
    });
    assert.deepEqual(chosen, {
      binary: nested.binary,
      dataDir: nested.dataDir,
      moduleDir: nested.moduleDir,
      label: 'QEMU 10.0.2 from bookworm-backports',
    });
    assert.deepEqual(lines, [`QEMU 10.0.2 (bookworm-backports, cached: ${DEBIAN_VERSION})`]);
  });

  it('falls back to the system QEMU with one line saying why when fetching fails', () => {
    const lines = [];
    const chosen = chooseQemu({
      ...common,
      forceSystem: false,
      fetchNested: () => {
        throw new Error('apt-get update failed (status 100): E: Failed to fetch');
      },
      log: (line) => lines.push(line),
    });
    assert.deepEqual(chosen, {
      binary: common.systemBinary,
      dataDir: null,
      moduleDir: null,
      label: 'system QEMU 7.2.22',
    });
    assert.equal(lines.length, 2);
    assert.match(
      lines[0],
      /^QEMU from bookworm-backports unavailable: apt-get update failed .*; falling back to the system QEMU$/,
    );
    assert.equal(lines[1], 'QEMU 7.2.22 (system, /usr/bin/qemu-system-x86_64)');
  });

  it('never fetches with --system-qemu', () => {
    const lines = [];
    const chosen = chooseQemu({
      ...common,
      forceSystem: true,
      fetchNested: () => assert.fail('fetched despite --system-qemu'),
      log: (line) => lines.push(line),
    });
    assert.equal(chosen.binary, common.systemBinary);
    assert.equal(chosen.dataDir, null);
    assert.deepEqual(lines, ['QEMU 7.2.22 (system, /usr/bin/qemu-system-x86_64: --system-qemu)']);
  });
});
