// Whether, and with which suites, the runner boots a fresh nested machine after the old one froze
// (freeze-watch.mjs). Only a freeze is retried, at most MAX_FREEZE_RETRIES times, and only the suites
// that had not finished:
// a suite that failed, or a test that failed, while the machine was alive is never run again.

/**
 * Fresh boots the runner allows after freezes, per run: four. A Linux boot froze the machine about one
 * time in eight in a helper's loops (5 in 41 L2 boots, two of them in a row), but in CI's own runs on
 * 2026-11-26, on a busy machine, 3 of 5 linux-suite attempts froze (one run needed both of the two
 * retries then allowed). Each costs about 75 s plus a boot of the unfinished suites (about 3 minutes
 * for the linux suite), so four keep CI well under its 30 minutes.
 */
export const MAX_FREEZE_RETRIES = 4;

/**
 * A vitest verbose-reporter line saying a test or file failed (`  × name`, ` FAIL  file`): seen in
 * the suite that was running when the machine froze, it rules the retry out.
 */
export function isTestFailureLine(line) {
  return /^\s*(×|FAIL\s)/.test(line.replace(/\r/g, ''));
}

/**
 * The plan after a freeze: `{ suites }`, those of `suites` still to run (the one the machine froze
 * in and those after it), or `{ suites: null, why }` when there must be no retry. `finished` lists
 * `{ name, status }` of the suites that ended before the freeze, `failureSeen` whether a test
 * failure line came in the unfinished suite, `retriesDone` how many fresh boots came before, `maxRetries`
 * how many the run allows (--freeze-retries).
 */
export function planRetryAfterFreeze({
  suites,
  finished,
  failureSeen,
  retriesDone,
  maxRetries = MAX_FREEZE_RETRIES,
}) {
  if (suites === null) return { suites: null, why: 'the command is not the runner’s suites (--command)' };
  if (retriesDone >= maxRetries)
    return { suites: null, why: `already booted ${retriesDone} fresh machine(s) after a freeze` };
  const failed = finished.filter(({ status }) => status !== 0);
  if (failed.length > 0) {
    const which = failed.map(({ name, status }) => `${name} (status ${status})`).join(', ');
    return { suites: null, why: `suites failed while the machine was alive: ${which}` };
  }
  const remaining = unfinished(suites, finished);
  if (failureSeen) {
    return { suites: null, why: `a test of suite ${remaining[0]?.name} failed before the freeze` };
  }
  if (remaining.length === 0) return { suites: null, why: 'every suite had finished before the freeze' };
  return { suites: remaining };
}

/**
 * After the last freeze of a run, the names of the suites it left unfinished when `--may-skip` lets them end
 * as skipped: every one of them is in `maySkip`, no suite failed and no test failed while the machine was
 * alive. Null otherwise (the run fails). A freeze stops L1's own timers (freeze-watch.mjs), so it says
 * nothing about kvm-ts; CI lets the Linux boot suite be skipped, loudly, rather than turn red for QEMU's
 * nested SVM, which freezes about one L2 boot in eight.
 */
export function skippableAfterFreeze({ suites, finished, failureSeen, maySkip }) {
  if (suites === null || failureSeen || finished.some(({ status }) => status !== 0)) return null;
  const remaining = unfinished(suites, finished).map(({ name }) => name);
  if (remaining.length === 0 || !remaining.every((name) => maySkip.includes(name))) return null;
  return remaining;
}

/** The suites of `suites` with no entry in `finished`: the one the machine froze in and those after it. */
function unfinished(suites, finished) {
  const done = new Set(finished.map(({ name }) => name));
  return suites.filter(({ name }) => !done.has(name));
}
