// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LineSplitter,
  parseResultLine,
  parseSuiteHeader,
  parseSuiteStatus,
  parseVitestTotals,
  RESULT_MARKER,
} from './marker.mjs';

describe('parseResultLine', () => {
  it("reads the status and the optional reason, ignoring the serial line's \\r", () => {
    assert.deepEqual(parseResultLine(`${RESULT_MARKER} status=0\r`), { status: 0, reason: null });
    assert.deepEqual(parseResultLine(`${RESULT_MARKER} status=125 reason=no-dev-kvm`), {
      status: 125,
      reason: 'no-dev-kvm',
    });
  });

  it('ignores lines that only mention the marker', () => {
    for (const line of [
      `echo ${RESULT_MARKER} status=0`,
      `${RESULT_MARKER} status=`,
      `${RESULT_MARKER} status=0 extra`,
      `[guest]   ${RESULT_MARKER} status=0`,
      '',
    ]) {
      assert.equal(parseResultLine(line), null, line);
    }
  });
});

describe('LineSplitter', () => {
  it('returns whole lines only and keeps the tail until flushed', () => {
    const lines = new LineSplitter();
    assert.deepEqual(lines.push('one\ntw'), ['one']);
    assert.deepEqual(lines.push('o\r\nthr'), ['two\r']);
    assert.deepEqual(lines.flush(), ['thr']);
    assert.deepEqual(lines.flush(), []);
  });
});

describe('parseVitestTotals', () => {
  it('picks the totals lines of the summary', () => {
    assert.equal(
      parseVitestTotals(' Test Files  2 passed | 1 skipped (3)\r'),
      'Test Files 2 passed | 1 skipped (3)',
    );
    assert.equal(parseVitestTotals('      Tests  40 passed (40)'), 'Tests 40 passed (40)');
    assert.equal(parseVitestTotals(' ✓ |native| test/vm.test.ts > Tests  1 (2)'), null);
    assert.equal(parseVitestTotals('   Duration  9.52s (transform 4.74s)'), null);
  });
});

describe('parseSuiteHeader', () => {
  it('reads the suite name of a header line, and nothing else', () => {
    assert.equal(parseSuiteHeader('[suite] native\r'), 'native');
    assert.equal(parseSuiteHeader('[suite] statuses: native=0 linux=1'), null);
    assert.equal(parseSuiteHeader('[guest]   echo "[suite] native"; (cd packages/native'), null);
    assert.equal(parseSuiteHeader('[suite] linux: no file at "$KVM_TS_LINUX_KERNEL"'), null);
    assert.equal(parseSuiteHeader('[suite] linux status=0'), null);
  });
});

describe('parseSuiteStatus', () => {
  it('reads the name and status of a suite-end line, and nothing else', () => {
    assert.deepEqual(parseSuiteStatus('[suite] native status=0\r'), { name: 'native', status: 0 });
    assert.deepEqual(parseSuiteStatus('[suite] linux status=137'), { name: 'linux', status: 137 });
    assert.equal(parseSuiteStatus('[suite] native'), null);
    assert.equal(parseSuiteStatus('[suite] statuses: native=0 linux=1'), null);
    assert.equal(parseSuiteStatus('[guest]   echo "[suite] native status=$s_native"'), null);
  });
});
