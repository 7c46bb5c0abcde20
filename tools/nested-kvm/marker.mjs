// The line the guest prints on its serial console when it is done: the only channel that brings
// the test status back, since QEMU's exit code does not carry the guest's.

/** Start of the result line; the guest's /init prints `KVM-TS-NESTED-RESULT status=<n>[ reason=<word>]`. */
export const RESULT_MARKER = 'KVM-TS-NESTED-RESULT';

/** Status the guest reports when it could not run the command at all (module load, no /dev/kvm). */
export const SETUP_FAILURE_STATUS = 125;

const RESULT_LINE = new RegExp(`^${RESULT_MARKER} status=(\\d+)(?: reason=(\\S+))?$`);

/**
 * The result in one console line, or null. Carriage returns and trailing blanks (the serial
 * line discipline adds \r) are ignored; anything else on the line means it is not the marker.
 */
export function parseResultLine(line) {
  const match = RESULT_LINE.exec(line.replace(/\r/g, '').trimEnd());
  if (!match) return null;
  return { status: Number(match[1]), reason: match[2] ?? null };
}

/** Splits a stream of console text into whole lines, keeping the unfinished tail for later. */
export class LineSplitter {
  #tail = '';

  /** The complete lines in `text` (plus what was pending); the rest waits for the next push. */
  push(text) {
    const lines = (this.#tail + text).split('\n');
    this.#tail = lines.pop();
    return lines;
  }

  /** Whatever is pending when the stream ends. */
  flush() {
    const rest = this.#tail;
    this.#tail = '';
    return rest === '' ? [] : [rest];
  }
}

/**
 * The totals line of vitest's summary ("Test Files  1 passed (1)", "Tests  3 skipped (3)"),
 * normalised to single spaces, or null: repeated at the end of the run so the log's last lines
 * say how many tests ran on the reference KVM.
 */
export function parseVitestTotals(line) {
  const match = /^\s*(Test Files|Tests)\s{2,}(\S.*\(\d+\))\s*$/.exec(line.replace(/\r/g, ''));
  return match ? `${match[1]} ${match[2].replace(/\s+/g, ' ')}` : null;
}

/**
 * The suite name in a header line the default command prints before each suite (`[suite] native`),
 * or null: the totals that follow it are labelled with that name.
 */
export function parseSuiteHeader(line) {
  const match = /^\[suite\] ([\w-]+)$/.exec(line.replace(/\r/g, '').trimEnd());
  return match ? match[1] : null;
}

/**
 * `{ name, status }` from the line the default command prints when a suite ends
 * (`[suite] native status=0`), or null: after a freeze it tells which suites had finished, and how.
 */
export function parseSuiteStatus(line) {
  const match = /^\[suite\] ([\w-]+) status=(\d+)$/.exec(line.replace(/\r/g, '').trimEnd());
  return match ? { name: match[1], status: Number(match[2]) } : null;
}
