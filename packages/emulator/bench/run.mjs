/**
 * `pnpm bench`: guest loops (ALU, load/store, call/ret on one page and across pages, string ops, paging-heavy)
 * as multiboot kernels, in 32-bit protected mode and in long mode, run side by side on @kvm-ts/emulator, on v86
 * with and without its JIT, and on QEMU TCG. Prints instructions per second per peer and the emulator's ratio to
 * each.
 *
 * Instruction counts come from the loops' construction (iterations x instructions per iteration), not from any
 * peer's counter. A peer that finishes a loop in under MIN_SECONDS runs it again with more iterations, so
 * start-up jitter does not dominate; the count is always the same formula. Each figure is the best of two runs. Missing peers are reported as
 * skipped with the reason. Environment: BENCH_LOOPS=alu,call-ret and BENCH_PEERS=emulator,qemu narrow a run.
 * Then the emulator's kick latency (kick.mjs); BENCH_KICK=0 leaves it out.
 */
import { backend } from '../dist/index.js';
import { assemble, nasmMissing, withIterations } from './guest.mjs';
import { kickLatencies } from './kick.mjs';
import { runEmulator } from './peers/emulator.mjs';
import { qemuMissing, runQemu } from './peers/qemu.mjs';
import { runV86, v86Missing } from './peers/v86.mjs';

/** Loops and the instructions each runs on its first try (about a second on the emulator). */
const LOOPS = [
  { name: 'alu', instructions: 30e6 },
  { name: 'load-store', instructions: 30e6 },
  { name: 'call-ret', instructions: 20e6 },
  { name: 'call-far', instructions: 10e6 },
  { name: 'string', instructions: 30e6 },
  { name: 'paging', instructions: 10e6 },
];
const MODES = [
  { mode: '32', label: '32-bit', qemu: 'i386' },
  { mode: '64', label: 'long', qemu: 'x86_64' },
];
const MIN_SECONDS = 0.3;
const TARGET_SECONDS = 0.6;
const MAX_ITERATIONS = 0xffffffff;

const wantLoops = process.env.BENCH_LOOPS?.split(',');
const wantPeers = process.env.BENCH_PEERS?.split(',');

const nasm = nasmMissing();
if (nasm) {
  console.log(`bench skipped: ${nasm}`);
  process.exit(0);
}

const v86Why = await v86Missing();
const peers = [
  { id: 'emulator', label: 'emulator', run: (img) => runEmulator(img), missing: () => null },
  { id: 'v86-nojit', label: 'v86 no JIT', run: (img) => runV86(img, false), missing: (m) => v86Skip(m) },
  { id: 'v86-jit', label: 'v86 JIT', run: (img) => runV86(img, true), missing: (m) => v86Skip(m) },
  {
    id: 'qemu',
    label: 'QEMU TCG',
    run: (img, m) => runQemu(img, m.qemu),
    missing: (m) => qemuMissing(m.qemu),
  },
].filter((p) => !wantPeers || wantPeers.includes(p.id));

function v86Skip(m) {
  if (v86Why) return v86Why;
  return m.mode === '64' ? 'v86 has no long mode' : null;
}

/**
 * Runs `loop` on `peer`, growing the iteration count until the run is long enough to time, then once more:
 * the faster of the two timed runs counts, for every peer alike (on a shared 2-core machine one run can lose
 * half its time to other processes; the first also pays the peer's own JIT warm-up).
 */
async function measure(peer, guest, mode, instructions) {
  let iterations = Math.max(1, Math.round(instructions / guest.perIteration));
  for (;;) {
    const image = withIterations(guest, iterations);
    let seconds = await peer.run(image, mode);
    const count = iterations * guest.perIteration;
    if (seconds >= MIN_SECONDS || iterations === MAX_ITERATIONS) {
      seconds = Math.min(seconds, await peer.run(image, mode));
      return { count, seconds };
    }
    const grow = Math.min(64, Math.ceil(TARGET_SECONDS / Math.max(seconds, 0.001)));
    iterations = Math.min(MAX_ITERATIONS, iterations * grow);
  }
}

const fmt = (ips) => `${(ips / 1e6).toFixed(1).padStart(8)} M/s`;
const started = performance.now();
const rows = [];
const skipped = new Map();
console.log(`${'loop'.padEnd(18)}${peers.map((p) => p.label.padStart(14)).join('')}   emulator / peer`);
for (const m of MODES) {
  for (const loop of LOOPS) {
    if (wantLoops && !wantLoops.includes(loop.name)) continue;
    const guest = assemble(loop.name, m.mode);
    const cells = [];
    const ips = new Map();
    for (const peer of peers) {
      const why = peer.missing(m);
      if (why) {
        skipped.set(`${peer.label}: ${why}`, true);
        cells.push('skipped'.padStart(14));
        continue;
      }
      try {
        const { count, seconds } = await measure(peer, guest, m, loop.instructions);
        ips.set(peer.id, count / seconds);
        cells.push(fmt(count / seconds).padStart(14));
      } catch (err) {
        skipped.set(`${peer.label} on ${m.label} ${loop.name}: ${err.message}`, true);
        cells.push('failed'.padStart(14));
      }
    }
    const own = ips.get('emulator');
    const ratios = [];
    if (own !== undefined) {
      for (const peer of peers) {
        if (peer.id !== 'emulator' && ips.has(peer.id))
          ratios.push(`${peer.label} ${(own / ips.get(peer.id)).toFixed(2)}x`);
      }
    }
    const name = `${m.label} ${loop.name}`;
    rows.push({ name, ips: Object.fromEntries(ips) });
    console.log(`${name.padEnd(18)}${cells.join('')}   ${ratios.join(', ')}`);
  }
}
for (const why of skipped.keys()) console.log(`skipped ${why}`);
if ((!wantPeers || wantPeers.includes('emulator')) && process.env.BENCH_KICK !== '0') {
  const ms = await kickLatencies(backend);
  const at = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))].toFixed(3);
  console.log(
    `kick latency (emulator, guest spinning with no budget, kick from a worker thread): median ${at(0.5)} ms, ` +
      `p95 ${at(0.95)} ms, max ${ms[ms.length - 1].toFixed(3)} ms over ${ms.length} kicks (bound: 10 ms)`,
  );
}
console.log(`bench took ${((performance.now() - started) / 1000).toFixed(1)} s`);
if (process.env.BENCH_JSON) console.log(JSON.stringify(rows));
// v86 may leave timers behind after destroy(); the bench is done.
process.exit(0);
