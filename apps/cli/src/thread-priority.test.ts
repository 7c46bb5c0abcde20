import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { lowerHelperThreads } from './thread-priority.js';

const TASKS = '/proc/self/task';
const linux = (() => {
  try {
    return readdirSync(TASKS).length > 0;
  } catch {
    return false;
  }
})();
if (!linux)
  console.log('thread-priority: skipped, /proc/self/task is not here (per-thread priorities are Linux only)');

/** A thread's nice value as Linux reports it (field 19 of its stat line). */
function niceOf(id: number): number {
  const stat = readFileSync(`${TASKS}/${id}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** A worker thread that stays until terminated. */
function idleWorker(): Worker {
  return new Worker('setInterval(() => {}, 1000);', { eval: true });
}

const workers: Worker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
});

describe.skipIf(!linux)('helper thread priority', () => {
  it('makes every thread but the main one nicer, once each, and the threads started later too', async () => {
    const base = getPriority(process.pid);
    const lowered = new Set<number>();
    workers.push(idleWorker());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const ids = readdirSync(TASKS).map(Number);
    expect(lowerHelperThreads(lowered, 3)).toBeGreaterThan(0);
    // Every thread there before the call, but the main one, is lowered.
    expect(ids.filter((id) => id !== process.pid && !lowered.has(id))).toEqual([]);
    for (const id of lowered) expect(niceOf(id), `thread ${id}`).toBe(Math.min(19, base + 3));
    expect(niceOf(process.pid), 'the main thread').toBe(base);
    // Done once: a second pass finds nothing new.
    expect(lowerHelperThreads(lowered, 3)).toBe(0);
    workers.push(idleWorker());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = lowered.size;
    expect(lowerHelperThreads(lowered, 3)).toBeGreaterThan(0);
    const added = [...lowered].slice(before);
    for (const id of added) expect(niceOf(id), `new thread ${id}`).toBe(Math.min(19, base + 3));
    expect(niceOf(process.pid)).toBe(base);
  });

  it('does nothing where the threads cannot be listed', () => {
    expect(lowerHelperThreads(new Set(), 3, '/nonexistent/task')).toBe(0);
  });
});
