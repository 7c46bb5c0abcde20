/**
 * Every native test runs under a watchdog (a vitest setup file): a test still running after
 * TEST_DEADLINE_MS has its thread signalled, which makes a KVM_RUN in progress return EINTR (an `intr` exit the
 * test then fails on); if the thread is still stuck GRACE_MS later, the test process is killed with a message.
 * A guest that wedges KVM_RUN thus fails one test file instead of hanging CI. Synchronous code blocks the
 * event loop, so vitest's own timeout cannot do this.
 */
import { afterAll, afterEach, beforeEach } from 'vitest';
import { installKickHandler } from '../../src/kick.js';
import { libc } from '../../src/libc.js';
import { RunWatchdog } from '../../src/watchdog.js';
import { hasKvm, TIME_SCALE } from './host.js';

const TEST_DEADLINE_MS = 15_000 * TIME_SCALE;
const GRACE_MS = 5_000;

if (hasKvm) {
  installKickHandler();
  const watchdog = new RunWatchdog({ thread: libc().pthreadSelf() }, GRACE_MS);
  beforeEach(() => watchdog.arm(TEST_DEADLINE_MS));
  afterEach(() => watchdog.disarm());
  afterAll(() => watchdog.close());
}
