/**
 * String instructions: MOVS, CMPS, STOS, LODS, SCAS with REP/REPE/REPNE (SDM Vol. 2). A repeated instruction
 * runs a bounded number of iterations per step and then restarts itself (RIP unchanged), so interrupts, exits
 * and the run budget are honoured in the middle of a long `rep`, as on hardware.
 */
import type { Cpu } from './cpu.js';
import { type Insn, InsnFlag } from './decode.js';
import { getZf, LazyOp, setLazy, setLazy64 } from './flags.js';
import { tlbIndex } from './mmu.js';
import { getReg, linearOf, setReg } from './operands.js';
import { SegAcc } from './segments.js';
import { Flag, Seg, Stop } from './state.js';

/** Iterations of a REP string instruction per step before it restarts itself. */
const REP_CHUNK = 4096;
const TWO32 = 4294967296;
const CANON = 140737488355328; // 2^47

/** The index register (RSI = 6, RDI = 7) as an offset of the address size. */
export function indexOf(c: Cpu, n: number, asize: number): number {
  if (asize === 8) {
    // Most indexes fit in 32 bits: skip the floating-point multiply (and the boxed double it returns).
    const hi = c.r[(n << 1) + 1];
    return hi === 0 ? c.r[n << 1] >>> 0 : hi * TWO32 + (c.r[n << 1] >>> 0);
  }
  return asize === 4 ? c.r[n << 1] >>> 0 : c.r[n << 1] & 0xffff;
}

/** Advances an index register by `delta` within the address size. */
export function stepIndex(c: Cpu, n: number, asize: number, delta: number): void {
  if (asize === 8) {
    const lo = (c.r[n << 1] >>> 0) + delta;
    c.r[n << 1] = lo | 0;
    if (lo >= TWO32) c.r[(n << 1) + 1] = (c.r[(n << 1) + 1] + 1) | 0;
    else if (lo < 0) c.r[(n << 1) + 1] = (c.r[(n << 1) + 1] - 1) | 0;
  } else if (asize === 4) {
    c.r[n << 1] = (c.r[n << 1] + delta) | 0;
    c.r[(n << 1) + 1] = 0;
  } else {
    setReg(c, n, 2, c.r[n << 1] + delta, 0);
  }
}

/** Whether the count register (of the address size) is zero. */
export function countIsZero(c: Cpu, asize: number): boolean {
  return asize === 8 ? (c.r[2] | c.r[3]) === 0 : asize === 4 ? c.r[2] === 0 : (c.r[2] & 0xffff) === 0;
}

/** Decrements the count register. */
export function decCount(c: Cpu, asize: number): void {
  stepIndex(c, 1, asize, -1);
}

/** MOVS, STOS, LODS (A4, A5, AA, AB, AC, AD). */
export function stringMove(c: Cpu, i: Insn): void {
  const size = i.osize;
  const asize = i.asize;
  const rep = (i.flags & (InsnFlag.REP | InsnFlag.REPNE)) !== 0;
  const delta = c.flags & Flag.DF ? -size : size;
  const op = i.op & 0xfe;
  const src = i.segOverride ? i.seg : Seg.DS;
  let n = rep ? REP_CHUNK : 1;
  // Whole in-page spans at once where possible; the first element of a page goes one by one and fills the
  // TLB entries the span needs.
  const bulk32 = rep && op === 0xa4 && asize === 4 && delta > 0 && !c.long64;
  const bulk64 = rep && (op === 0xa4 || op === 0xaa) && asize === 8 && c.long64;
  const bulk = bulk32 || bulk64;
  if (bulk) n -= bulk32 ? bulkMove32(c, src, size, n) : bulkString64(c, op, src, delta, n);
  while (n-- > 0) {
    if (rep && countIsZero(c, asize)) return;
    if (op === 0xa4) {
      const sLin = linearOf(c, src, indexOf(c, 6, asize), size, false);
      if (c.stop & Stop.ABORT) return;
      const v = c.read(sLin, size);
      if (c.stop & Stop.ABORT) return;
      const hi = c.hi;
      const dLin = linearOf(c, Seg.ES, indexOf(c, 7, asize), size, true);
      if (c.stop & Stop.ABORT) return;
      c.write(dLin, size, v, hi);
      if (c.stop & Stop.ABORT) return;
      stepIndex(c, 6, asize, delta);
      stepIndex(c, 7, asize, delta);
    } else if (op === 0xaa) {
      const dLin = linearOf(c, Seg.ES, indexOf(c, 7, asize), size, true);
      if (c.stop & Stop.ABORT) return;
      c.write(dLin, size, getReg(c, 0, size), c.r[1]);
      if (c.stop & Stop.ABORT) return;
      stepIndex(c, 7, asize, delta);
    } else {
      const sLin = linearOf(c, src, indexOf(c, 6, asize), size, false);
      if (c.stop & Stop.ABORT) return;
      const v = c.read(sLin, size);
      if (c.stop & Stop.ABORT) return;
      setReg(c, 0, size, v, c.hi);
      stepIndex(c, 6, asize, delta);
    }
    if (rep) decCount(c, asize);
    if (c.stop & Stop.EXIT) break;
    if (bulk && n > 0) n -= bulk32 ? bulkMove32(c, src, size, n) : bulkString64(c, op, src, delta, n);
  }
  if (rep && !countIsZero(c, asize)) c.nextIp = c.rip;
}

/** Whether `len` bytes at `off` pass segment `seg`'s checks for `need` (SegAcc) without raising anything. */
function spanAllowed(c: Cpu, seg: number, off: number, len: number, need: number): boolean {
  const acc = c.segAcc[seg];
  return (acc & need) !== 0 && (acc & SegAcc.EXPAND_DOWN) === 0 && off + len - 1 <= c.segLimit[seg];
}

/**
 * REP MOVS forward with 32-bit addresses outside 64-bit mode: moves at once (`copyElements`) the elements that
 * stay inside the current source and destination pages, when the segment checks pass for the whole span and both
 * pages are in the TLB for plain reads and writes (so not MMIO, not code, not read-only).
 * Moves at most `limit` elements, updates ESI, EDI and ECX as the element loop would and returns how many
 * it moved; 0 leaves everything (and any fault) to the element loop.
 */
function bulkMove32(c: Cpu, src: number, size: number, limit: number): number {
  const count = c.r[2] >>> 0;
  const sOff = c.r[12] >>> 0;
  const dOff = c.r[14] >>> 0;
  const sLin = (c.segBase[src] + sOff) >>> 0;
  const dLin = (c.segBase[Seg.ES] + dOff) >>> 0;
  const room = Math.min(4096 - (sLin & 4095), 4096 - (dLin & 4095));
  const n = Math.min(count, limit, Math.floor(room / size));
  if (n < 2) return 0;
  const len = n * size;
  if (!spanAllowed(c, src, sOff, len, SegAcc.READ) || !spanAllowed(c, Seg.ES, dOff, len, SegAcc.WRITE))
    return 0;
  const sPage = sLin >>> 12;
  const dPage = dLin >>> 12;
  const sIx = tlbIndex(sPage);
  const dIx = tlbIndex(dPage);
  if (c.tlbR[sIx] !== sPage || c.tlbW[dIx] !== dPage) return 0;
  copyElements(c, sIx, c.tlbOff[sIx] + (sLin & 4095), dIx, c.tlbOff[dIx] + (dLin & 4095), n, size);
  c.r[12] = (sOff + len) | 0;
  c.r[13] = 0;
  c.r[14] = (dOff + len) | 0;
  c.r[15] = 0;
  c.r[2] = (count - n) | 0;
  c.r[3] = 0;
  return n;
}

/**
 * REP MOVS (`op` A4) and REP STOS (AA) in 64-bit mode with 64-bit addresses, as `bulkMove32`: the elements that
 * stay inside the current destination page (and source page) at once, when the TLB has those pages for plain
 * writes (and reads) and the spans are canonical. Linux clears and copies pages this way (`rep stosq`,
 * `rep movsb`), and its decompressor moves the compressed kernel up with `std; rep movsq`, so both directions
 * count: with DF set, `step` is negative and the elements run down from RDI (and RSI). Moves at most `limit`
 * elements, updates RSI, RDI and RCX as the element loop would and returns how many it moved; 0 leaves
 * everything to the element loop. With `codeOk` a destination page of cached code (`tlbC`) counts too, its
 * overwritten code dropped after the elements, as each element's write would have dropped it.
 */
function bulkString64(c: Cpu, op: number, src: number, step: number, limit: number, codeOk = true): number {
  const r = c.r;
  const size = step < 0 ? -step : step;
  const dLin = indexOf(c, 7, 8);
  const dO = dLin & 4095;
  let n = Math.min(r[3] !== 0 ? limit : Math.min(r[2] >>> 0, limit), elementsInPage(dO, step));
  const moves = op === 0xa4;
  const sLin = moves ? (src >= Seg.FS ? c.segBase[src] : 0) + indexOf(c, 6, 8) : 0;
  const so = sLin & 4095;
  if (moves) n = Math.min(n, elementsInPage(so, step));
  if (n === 0) return 0;
  const len = n * size;
  // The lowest address of each span: the first element's going up, the last one's going down.
  const span = step > 0 ? 0 : len - size;
  if (dLin - span < -CANON || dLin - span + len > CANON || sLin - span < -CANON || sLin - span + len > CANON)
    return 0;
  const dPage = Math.floor(dLin / 4096);
  const dIx = tlbIndex(dPage);
  // A page of cached code takes the elements too, its overwritten code dropped after (Linux poisons freed init
  // code with `rep stosq`).
  const code = c.tlbW[dIx] !== dPage;
  if (code && (!codeOk || c.tlbC[dIx] !== dPage)) return 0;
  const dAt = c.tlbOff[dIx] + dO;
  const delta = step > 0 ? len : -len;
  if (moves) {
    const sPage = Math.floor(sLin / 4096);
    const sIx = tlbIndex(sPage);
    if (c.tlbR[sIx] !== sPage) return 0;
    copyElements(c, sIx, c.tlbOff[sIx] + so, dIx, dAt, n, step);
    stepIndex(c, 6, 8, delta);
  } else fillElements(c, dIx, dAt - span, n, size);
  if (code) c.noteCodeWrite(dIx, dO - span, len);
  stepIndex(c, 7, 8, delta);
  stepIndex(c, 1, 8, -n);
  return n;
}

/**
 * How many elements of a string instruction fit in the page from the one at page offset `o` on, each `step`
 * bytes after the last (upwards, or downwards when negative); 0 when that first one crosses the page's end.
 */
function elementsInPage(o: number, step: number): number {
  if (step > 0) return o + step > 4096 ? 0 : Math.floor((4096 - o) / step);
  return o - step > 4096 ? 0 : Math.floor(o / -step) + 1;
}

/** Writes `count` elements of `size` bytes of RAX from `dAt` up in TLB entry `dIx` (STOS's element loop, at once). */
function fillElements(c: Cpu, dIx: number, dAt: number, count: number, size: number): void {
  const lo = c.r[0];
  const hi = c.r[1];
  if (size === 1 || (size === 8 && (lo | hi) === 0) || ((size === 4 || size === 2) && lo === 0)) {
    c.tlbBytes[dIx].fill(lo & 0xff, dAt, dAt + count * size);
    return;
  }
  const to = c.tlbView[dIx];
  for (let k = 0; k < count; k++, dAt += size) {
    if (size === 8) {
      to.setInt32(dAt, lo, true);
      to.setInt32(dAt + 4, hi, true);
    } else if (size === 4) to.setInt32(dAt, lo, true);
    else to.setUint16(dAt, lo & 0xffff, true);
  }
}

/**
 * Copies `count` elements from TLB entry `sIx` at `sAt` to entry `dIx` at `dAt`, each `step` bytes after the
 * last (negative with DF set: the size, going down), each element read whole and then written, in order:
 * overlapping spans repeat exactly as MOVS's element loop repeats them.
 */
function copyElements(
  c: Cpu,
  sIx: number,
  sAt: number,
  dIx: number,
  dAt: number,
  count: number,
  step: number,
): void {
  const from8 = c.tlbBytes[sIx];
  const to8 = c.tlbBytes[dIx];
  const size = step < 0 ? -step : step;
  const len = count * size;
  // The lowest byte of each span, and where the spans lie in their buffer.
  const sLow = step > 0 ? sAt : sAt - len + size;
  const dLow = step > 0 ? dAt : dAt - len + size;
  const a = from8.byteOffset + sLow;
  const b = to8.byteOffset + dLow;
  // Unless the destination overlaps the source ahead of the copy (then elements repeat a pattern), the element
  // loop leaves what a memmove leaves: copied at once. Linux copies pages and buffers with `rep movsb` and
  // `rep movsq`, a few thousand elements at a time.
  if (from8.buffer !== to8.buffer || a + len <= b || b + len <= a || (step > 0 ? b <= a : b >= a)) {
    if (from8 === to8) to8.copyWithin(dLow, sLow, sLow + len);
    else to8.set(from8.subarray(sLow, sLow + len), dLow);
    return;
  }
  if (step === 1 || step === -1) {
    for (let k = 0; k < count; k++, sAt += step, dAt += step) to8[dAt] = from8[sAt];
    return;
  }
  const from = c.tlbView[sIx];
  const to = c.tlbView[dIx];
  for (let k = 0; k < count; k++, sAt += step, dAt += step) {
    if (size === 4) to.setInt32(dAt, from.getInt32(sAt, true), true);
    else if (size === 2) to.setUint16(dAt, from.getUint16(sAt, true), true);
    else {
      const lo = from.getInt32(sAt, true);
      const hi = from.getInt32(sAt + 4, true);
      to.setInt32(dAt, lo, true);
      to.setInt32(dAt + 4, hi, true);
    }
  }
}

/**
 * REP MOVS forward with 32-bit addresses outside 64-bit mode, run whole when it is short (at most 1024
 * elements), every element passes the segment checks and both spans stay inside one page each that the TLB has
 * for plain reads and writes (so not MMIO, not code, not read-only, already dirty). Elements move one after
 * another, as the element loop moves them, so overlapping spans repeat a pattern exactly as it would. Returns
 * false, having changed nothing, otherwise (then `stringMove` runs it). Compiled blocks call it first.
 */
export function repMoveAll32(c: Cpu, src: number, size: number): boolean {
  const r = c.r;
  const count = r[2] >>> 0;
  if (count === 0 || count > 1024 || c.flags & Flag.DF) return false;
  const sOff = r[12] >>> 0;
  const dOff = r[14] >>> 0;
  const len = count * size;
  if (!spanAllowed(c, src, sOff, len, SegAcc.READ) || !spanAllowed(c, Seg.ES, dOff, len, SegAcc.WRITE))
    return false;
  const sLin = (c.segBase[src] + sOff) >>> 0;
  const dLin = (c.segBase[Seg.ES] + dOff) >>> 0;
  if ((sLin & 4095) + len > 4096 || (dLin & 4095) + len > 4096) return false;
  const sPage = sLin >>> 12;
  const dPage = dLin >>> 12;
  const sIx = tlbIndex(sPage);
  const dIx = tlbIndex(dPage);
  if (c.tlbR[sIx] !== sPage || c.tlbW[dIx] !== dPage) return false;
  copyElements(c, sIx, c.tlbOff[sIx] + (sLin & 4095), dIx, c.tlbOff[dIx] + (dLin & 4095), count, size);
  r[12] = (sOff + len) | 0;
  r[13] = 0;
  r[14] = (dOff + len) | 0;
  r[15] = 0;
  r[2] = 0;
  r[3] = 0;
  return true;
}

/**
 * `repMoveAll32` for 64-bit mode with 64-bit addresses: the whole REP MOVS at once when RCX is at most 1024,
 * DF is clear, and `bulkString64` can move it all (both spans canonical and inside one page each that the TLB
 * has for plain reads and writes). Returns false otherwise, having moved at most what fits in the first pages,
 * with RSI, RDI and RCX where the element loop would have left them: `stringMove` goes on from there.
 */
export function repMoveAll64(c: Cpu, src: number, size: number): boolean {
  const count = c.r[2] >>> 0;
  if (c.r[3] !== 0 || count === 0 || count > 1024 || c.flags & Flag.DF) return false;
  // Not into code: a compiled block goes on after a move that succeeds, and would run the code it overwrote.
  return bulkString64(c, 0xa4, src, size, count, false) === count;
}

/** CMPS, SCAS (A6, A7, AE, AF) with REPE/REPNE. */
export function stringCompare(c: Cpu, i: Insn): void {
  const size = i.osize;
  const asize = i.asize;
  const repe = (i.flags & InsnFlag.REP) !== 0;
  const repne = (i.flags & InsnFlag.REPNE) !== 0;
  const rep = repe || repne;
  const delta = c.flags & Flag.DF ? -size : size;
  const scas = (i.op & 0xfe) === 0xae;
  const src = i.segOverride ? i.seg : Seg.DS;
  let n = rep ? REP_CHUNK : 1;
  while (n-- > 0) {
    if (rep && countIsZero(c, asize)) return;
    let a: number;
    let ah: number;
    if (scas) {
      a = getReg(c, 0, size);
      ah = c.r[1];
    } else {
      const sLin = linearOf(c, src, indexOf(c, 6, asize), size, false);
      if (c.stop & Stop.ABORT) return;
      a = c.read(sLin, size);
      if (c.stop & Stop.ABORT) return;
      ah = c.hi;
    }
    const dLin = linearOf(c, Seg.ES, indexOf(c, 7, asize), size, false);
    if (c.stop & Stop.ABORT) return;
    const b = c.read(dLin, size);
    if (c.stop & Stop.ABORT) return;
    const bh = c.hi;
    // Flags of CMP a, b.
    if (size === 8) {
      const lo = (a >>> 0) - (b >>> 0);
      setLazy64(c, LazyOp.SUB, lo | 0, (ah - bh - (lo < 0 ? 1 : 0)) | 0, a, ah, b, bh);
    } else {
      const mask = size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
      const r = size === 4 ? (a - b) | 0 : (a - b) & mask;
      setLazy(c, LazyOp.SUB, size, r, a, b);
    }
    if (!scas) stepIndex(c, 6, asize, delta);
    stepIndex(c, 7, asize, delta);
    if (!rep) return;
    decCount(c, asize);
    const zf = getZf(c);
    if ((repe && zf === 0) || (repne && zf === 1)) return;
  }
  if (!countIsZero(c, asize)) c.nextIp = c.rip;
}
