/**
 * The WebAssembly encoder's LEB128 (spec 5.2.2) against a reference written with BigInt: the fast paths for
 * 32-bit and 53-bit numbers must write the same bytes as the plain definition, and a writer reused with
 * `reset` must not carry bytes over.
 */
import { describe, expect, it } from 'vitest';
import { TLB_SIZE, tlbIndex } from '../src/cpu/mmu.js';
import { ByteWriter, Code, moduleHeader, Op, section, T } from '../src/cpu/wasm/encoder.js';
import { wasmApi } from '../src/cpu/wasm/host.js';
import { tlbIndexCode } from '../src/cpu/wasm/layout.js';

/** Signed LEB128 by the definition: 7 bits at a time until the rest is the sign extension of the last byte. */
function reference(n: bigint): number[] {
  const out: number[] = [];
  let v = n;
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

/** Edges of every range the encoder treats apart, and their neighbours. */
function samples(): number[] {
  const out: number[] = [];
  for (let bit = 0; bit <= 53; bit++) {
    for (const base of [2 ** bit, -(2 ** bit)]) {
      for (const d of [-2, -1, 0, 1, 2]) {
        const n = base + d;
        if (Math.abs(n) <= Number.MAX_SAFE_INTEGER) out.push(n);
      }
    }
  }
  // Deterministic pseudo-random values of every magnitude.
  let x = 0x12345678;
  for (let k = 0; k < 2000; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const scale = 2 ** (x % 54);
    out.push(Math.floor(((x >>> 8) / 2 ** 24) * scale) * (x & 1 ? -1 : 1));
  }
  return out;
}

describe('WebAssembly encoder', () => {
  it('writes a number as signed LEB128 exactly as the definition does, at every magnitude up to 2^53', () => {
    for (const n of samples()) {
      const bytes = [...new ByteWriter(1).slebNumber(n).finish()];
      expect(bytes, String(n)).toEqual(reference(BigInt(n)));
    }
  });

  it('writes i64.const of a 64-bit bigint, beyond what a number holds exactly, by the definition', () => {
    for (const n of [
      2n ** 63n - 1n,
      -(2n ** 63n),
      0x8000_0000_0000_0001n,
      -(2n ** 53n) - 3n,
      2n ** 60n + 5n,
    ]) {
      expect([...new Code().i64(n).finish()], String(n)).toEqual([0x42, ...reference(BigInt.asIntN(64, n))]);
    }
  });

  it('starts a reused writer from nothing, and `finish` gives bytes the next write does not change', () => {
    const w = new ByteWriter(4);
    const first = w.uleb(300).byte(7).finish();
    w.reset().byte(1);
    expect([...first]).toEqual([0xac, 0x02, 7]);
    expect([...w.view()]).toEqual([1]);
  });
});

describe("the TLB's index in WebAssembly", () => {
  it("is mmu.ts's tlbIndex of the page number, in both canonical halves and for entries far apart", () => {
    // (lin i64) -> i32: the probe's own steps, page number by an arithmetic shift, wrapped, then tlbIndexCode.
    const out = moduleHeader([[0x60, 1, T.I64, 1, T.I32]], false, 0);
    const c = new Code();
    c.uleb(1).uleb(1).byte(T.I32);
    c.get(0).i64(12).op(Op.I64_SHR_S).op(Op.I32_WRAP_I64);
    tlbIndexCode(c, 1);
    c.op(Op.END);
    const code = new ByteWriter().uleb(1);
    code.uleb(c.length).bytes(c.view());
    section(out, 10, code.finish());
    const api = wasmApi;
    if (api === undefined) throw new Error('this host has no WebAssembly');
    const memory = new api.Memory({ initial: 1, maximum: 65536, shared: true });
    const instance = new api.Instance(new api.Module(out.finish()), { env: { mem: memory } });
    const index = instance.exports.run as (lin: bigint) => number;
    const lins = [
      0,
      4096,
      2 ** 31,
      2 ** 32 - 4096,
      2 ** 47 - 4096,
      -(2 ** 47),
      -4096,
      -0x6740_0000,
      -0x6740_0000 + 0x3f000,
    ];
    let x = 0x2545f491;
    for (let k = 0; k < 2000; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const page = Math.floor((x / 2 ** 32) * 2 ** 35) * (x & 1 ? -1 : 1);
      lins.push(page * 4096);
    }
    const seen = new Set<number>();
    for (const lin of lins) {
      const ix = tlbIndex(Math.floor(lin / 4096));
      expect(index(BigInt(lin)), String(lin)).toBe(ix);
      seen.add(ix);
    }
    // The index spreads the pages over the table, not onto a few entries.
    expect(seen.size).toBeGreaterThan(Math.min(lins.length, TLB_SIZE) / 2);
  });
});
