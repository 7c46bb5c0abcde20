/**
 * Writes WebAssembly binary code (the WebAssembly Core Specification, section 5 "Binary Format"): the
 * instruction bytes of one function body, a module's header, and the module around a block (block-compiler.ts):
 * one function of type (i32, f64, i32, i32) -> i32 exported as `run`, using the VM's shared memory imported as
 * `env.mem`.
 */

/** Value types (spec 5.3.1). */
export const T = { I32: 0x7f, I64: 0x7e, F64: 0x7c } as const;

/** Opcodes used (spec 5.4). */
export const Op = {
  BLOCK: 0x02,
  LOOP: 0x03,
  IF: 0x04,
  ELSE: 0x05,
  END: 0x0b,
  BR: 0x0c,
  BR_IF: 0x0d,
  RETURN: 0x0f,
  LOCAL_GET: 0x20,
  LOCAL_SET: 0x21,
  LOCAL_TEE: 0x22,
  I32_LOAD: 0x28,
  I64_LOAD: 0x29,
  F64_LOAD: 0x2b,
  I64_LOAD8_S: 0x30,
  I64_LOAD8_U: 0x31,
  I64_LOAD16_S: 0x32,
  I64_LOAD16_U: 0x33,
  I64_LOAD32_S: 0x34,
  I64_LOAD32_U: 0x35,
  I32_LOAD8_U: 0x2d,
  I32_STORE: 0x36,
  I32_STORE8: 0x3a,
  I64_STORE: 0x37,
  F64_STORE: 0x39,
  I64_STORE8: 0x3c,
  I64_STORE16: 0x3d,
  I64_STORE32: 0x3e,
  SELECT: 0x1b,
  I32_CONST: 0x41,
  I64_CONST: 0x42,
  I32_EQZ: 0x45,
  I32_EQ: 0x46,
  I32_NE: 0x47,
  I32_LT_S: 0x48,
  I32_LT_U: 0x49,
  I32_GT_U: 0x4b,
  I32_LE_S: 0x4c,
  I32_LE_U: 0x4d,
  I64_EQZ: 0x50,
  I64_EQ: 0x51,
  I64_NE: 0x52,
  I64_LT_S: 0x53,
  I64_LT_U: 0x54,
  I64_GT_S: 0x55,
  I64_GT_U: 0x56,
  I64_LE_S: 0x57,
  I64_LE_U: 0x58,
  I64_GE_S: 0x59,
  I64_GE_U: 0x5a,
  F64_NE: 0x62,
  I32_ADD: 0x6a,
  I32_SUB: 0x6b,
  I32_MUL: 0x6c,
  I32_AND: 0x71,
  I32_OR: 0x72,
  I32_XOR: 0x73,
  I32_SHL: 0x74,
  I32_SHR_U: 0x76,
  I32_POPCNT: 0x69,
  I32_ROTL: 0x77,
  I32_ROTR: 0x78,
  I64_ADD: 0x7c,
  I64_SUB: 0x7d,
  I64_MUL: 0x7e,
  I64_DIV_U: 0x80,
  I64_REM_U: 0x82,
  I64_AND: 0x83,
  I64_OR: 0x84,
  I64_XOR: 0x85,
  I64_SHL: 0x86,
  I64_SHR_S: 0x87,
  I64_SHR_U: 0x88,
  I64_ROTL: 0x89,
  I64_ROTR: 0x8a,
  I32_WRAP_I64: 0xa7,
  I64_EXTEND_I32_S: 0xac,
  I64_EXTEND16_S: 0xc3,
  I64_EXTEND32_S: 0xc4,
  I64_EXTEND_I32_U: 0xad,
  F64_CONVERT_I64_S: 0xb9,
  I64_TRUNC_F64_S: 0xb0,
} as const;

/**
 * The fixed-width SIMD instructions this tier writes (spec 5.4.8, the 0xFD prefix): their numbers after the
 * prefix.
 */
export const Simd = {
  V128_LOAD: 0x00,
  V128_STORE: 0x0b,
  V128_CONST: 0x0c,
  I8X16_SHUFFLE: 0x0d,
  I8X16_SWIZZLE: 0x0e,
  I8X16_EQ: 0x23,
  I16X8_EQ: 0x2d,
  I32X4_EQ: 0x37,
  V128_AND: 0x4e,
  V128_ANDNOT: 0x4f,
  V128_OR: 0x50,
  V128_XOR: 0x51,
  V128_ANY_TRUE: 0x53,
  I8X16_BITMASK: 0x64,
  I8X16_ADD: 0x6e,
  I8X16_SUB: 0x71,
  I16X8_SHL: 0x8b,
  I16X8_SHR_S: 0x8c,
  I16X8_SHR_U: 0x8d,
  I16X8_ADD: 0x8e,
  I16X8_SUB: 0x91,
  I32X4_SHL: 0xab,
  I32X4_SHR_S: 0xac,
  I32X4_SHR_U: 0xad,
  I32X4_ADD: 0xae,
  I32X4_SUB: 0xb1,
  I64X2_SHL: 0xcb,
  I64X2_SHR_U: 0xcd,
  I64X2_ADD: 0xce,
  I64X2_SUB: 0xd1,
} as const;

/**
 * The atomic read-modify-write instructions of the threads proposal this tier writes (the 0xFE prefix): the
 * 64-bit forms; each one's 32-bit form (`i64.atomic.rmw32.*_u`, zero-extended) is RMW32 more.
 */
export const Atomic = {
  I64_ADD: 0x1f,
  I64_AND: 0x2d,
  I64_OR: 0x34,
  I64_XOR: 0x3b,
  I64_CMPXCHG: 0x49,
  /** What takes a 64-bit form to its 32-bit one. */
  RMW32: 5,
} as const;

/** A block type with no result (spec 5.4.1). */
export const VOID = 0x40;

/** A growing byte buffer with the LEB128 encodings of spec 5.2.2. */
export class ByteWriter {
  private buf: Uint8Array;
  /** Bytes written so far. */
  length = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  /** Appends one byte. */
  byte(b: number): this {
    if (this.length === this.buf.length) this.grow(1);
    this.buf[this.length++] = b;
    return this;
  }

  /** Appends bytes. */
  bytes(bs: ArrayLike<number>): this {
    if (this.length + bs.length > this.buf.length) this.grow(bs.length);
    this.buf.set(bs, this.length);
    this.length += bs.length;
    return this;
  }

  private grow(more: number): void {
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + more));
    bigger.set(this.buf.subarray(0, this.length));
    this.buf = bigger;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^32. */
  uleb(n: number): this {
    let v = n >>> 0;
    do {
      const b = v & 0x7f;
      v >>>= 7;
      this.byte(v !== 0 ? b | 0x80 : b);
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of an integer within ±2^53 (a number: no BigInt on the common path). */
  slebNumber(n: number): this {
    if ((n | 0) === n) {
      // Most constants fit in 32 bits: integer shifts, no floating-point division.
      let v = n;
      for (;;) {
        const b = v & 0x7f;
        v >>= 7;
        if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
        this.byte(b | 0x80);
      }
    }
    if (n > 0 && n <= Number.MAX_SAFE_INTEGER) {
      // Masks and bounds up to 2^53: two 32-bit halves shifted together, still no division.
      let lo = n >>> 0;
      let hi = (n - lo) / 4294967296;
      for (;;) {
        const b = lo & 0x7f;
        lo = (lo >>> 7) | ((hi & 0x7f) << 25);
        hi >>>= 7;
        if (lo === 0 && hi === 0 && (b & 0x40) === 0) return this.byte(b);
        this.byte(b | 0x80);
      }
    }
    let v = n;
    for (;;) {
      // The low 7 bits as two's complement, whatever the sign (`% 128` keeps doubles exact past 2^31).
      const b = ((v % 128) + 128) % 128;
      v = (v - b) / 128;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  /** Signed LEB128 of a 64-bit integer. */
  sleb(n: bigint): this {
    const v = BigInt.asIntN(64, n);
    if (v >= -0x20000000000000n && v <= 0x20000000000000n) return this.slebNumber(Number(v));
    let rest = v;
    for (;;) {
      const b = Number(rest & 0x7fn);
      rest >>= 7n;
      if ((rest === 0n && (b & 0x40) === 0) || (rest === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }

  /** The bytes written so far, in a buffer of their own. */
  finish(): Uint8Array {
    return this.length === this.buf.length ? this.buf : this.buf.slice(0, this.length);
  }

  /** The bytes written so far, as a view that the next write may change: for copying them at once. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  /** Starts again from no bytes, keeping the buffer: a writer used for one function after another. */
  reset(): this {
    this.length = 0;
    return this;
  }
}

/** One function body's code, with helpers named after the instructions they write. */
export class Code extends ByteWriter {
  /** An instruction without immediates (an `Op`). */
  op(o: number): this {
    return this.byte(o);
  }

  /** An i32.const. */
  i32(n: number): this {
    return this.byte(Op.I32_CONST).slebNumber(n | 0);
  }

  /** An i64.const: a number (within ±2^53) or a bigint (any 64-bit value). */
  i64(n: bigint | number): this {
    this.byte(Op.I64_CONST);
    return typeof n === 'number' ? this.slebNumber(n) : this.sleb(n);
  }

  /** local.get. */
  get(local: number): this {
    return this.byte(Op.LOCAL_GET).uleb(local);
  }

  /** local.set. */
  set(local: number): this {
    return this.byte(Op.LOCAL_SET).uleb(local);
  }

  /** local.tee. */
  tee(local: number): this {
    return this.byte(Op.LOCAL_TEE).uleb(local);
  }

  /** A load or store with alignment hint `align` (log2 bytes) and constant offset `offset`. */
  mem(o: number, align: number, offset: number): this {
    return this.byte(o).uleb(align).uleb(offset);
  }

  /** br to the label `depth` levels out. */
  br(depth: number): this {
    return this.byte(Op.BR).uleb(depth);
  }

  /** br_if to the label `depth` levels out. */
  brIf(depth: number): this {
    return this.byte(Op.BR_IF).uleb(depth);
  }

  /** An atomic memory instruction (an `Atomic`) at the address on the stack, naturally aligned (`align`). */
  atomic(o: number, align: number): this {
    return this.byte(0xfe).uleb(o).uleb(align).uleb(0);
  }

  /** A SIMD instruction without immediates (a `Simd`). */
  /** memory.copy (dst, src, len on the stack) within the one memory (bulk memory, 0xFC 10). */
  memoryCopy(): this {
    return this.byte(0xfc).uleb(10).byte(0).byte(0);
  }

  /** memory.fill (dst, byte, len on the stack) of the one memory (bulk memory, 0xFC 11). */
  memoryFill(): this {
    return this.byte(0xfc).uleb(11).byte(0);
  }

  simd(o: number): this {
    return this.byte(0xfd).uleb(o);
  }

  /** A SIMD load or store (`Simd.V128_LOAD`, `V128_STORE`) with alignment hint `align` and offset `offset`. */
  simdMem(o: number, align: number, offset: number): this {
    return this.byte(0xfd).uleb(o).uleb(align).uleb(offset);
  }

  /** v128.const of 16 bytes. */
  v128(bytes: ArrayLike<number>): this {
    return this.simd(Simd.V128_CONST).bytes(bytes);
  }

  /** i8x16.shuffle of the two vectors on the stack: result byte n is byte `lanes[n]` of their 32. */
  shuffle(lanes: ArrayLike<number>): this {
    return this.simd(Simd.I8X16_SHUFFLE).bytes(lanes);
  }
}

/** Appends section `id` (spec 5.5.2) with its contents `body`. */
export function section(out: ByteWriter, id: number, body: Uint8Array): void {
  out.byte(id).uleb(body.length).bytes(body);
}

/** A name (spec 5.2.4) of ASCII characters. */
function name(w: ByteWriter, s: string): void {
  w.uleb(s.length);
  for (let k = 0; k < s.length; k++) w.byte(s.charCodeAt(k));
}

/** The block function type: (base i32, rip f64, room i32, user i32) -> i32. */
export const BLOCK_TYPE = [0x60, 4, T.I32, T.F64, T.I32, T.I32, 1, T.I32];

/**
 * A module's sections before its code: the function types `types`, the imports (`env.table`, a funcref table,
 * when `table`; always `env.mem`, a shared memory of 1 to 65536 pages), and one function of type `fnType` for
 * each name of `names`, exported under it (one function, `run`, unless told otherwise).
 */
export function moduleHeader(
  types: readonly (readonly number[])[],
  table: boolean,
  fnType: number,
  names: readonly string[] = ['run'],
): ByteWriter {
  const out = new ByteWriter();
  out.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const typeSection = new ByteWriter().uleb(types.length);
  for (const t of types) typeSection.bytes(t);
  section(out, 1, typeSection.finish());
  const imports = new ByteWriter().uleb(table ? 2 : 1);
  if (table) {
    name(imports, 'env');
    name(imports, 'table');
    imports.bytes([0x01, 0x70, 0x00, 0x00]); // at least 0 entries, no maximum
  }
  name(imports, 'env');
  name(imports, 'mem');
  imports.bytes([0x02, 0x03]).uleb(1).uleb(65536); // limits flag 3: a maximum, shared
  section(out, 2, imports.finish());
  const functions = new ByteWriter().uleb(names.length);
  for (let k = 0; k < names.length; k++) functions.uleb(fnType);
  section(out, 3, functions.finish());
  const exports = new ByteWriter().uleb(names.length);
  for (let k = 0; k < names.length; k++) {
    name(exports, names[k]);
    exports.byte(0x00).uleb(k);
  }
  section(out, 7, exports.finish());
  return out;
}

/** Bytes a LEB128 of `n` takes. */
function ulebLength(n: number): number {
  let bytes = 1;
  for (let v = n >>> 7; v !== 0; v >>>= 7) bytes++;
  return bytes;
}

/**
 * One block function, `(i32, f64, i32, i32) -> i32` with locals `locals` (types after the parameters) and body
 * `body` (without its final `end`), as an entry of a code section (spec 5.5.13: its size, then the function),
 * written in one buffer: {@link blocksModule} puts entries together in a module.
 */
export function blockFunction(locals: readonly number[], body: Uint8Array): Uint8Array {
  const declared = localsDeclaration(locals);
  const fnLength = declared.length + body.length + 1;
  // Sized exactly: `finish` hands over the buffer itself, the one allocation of a block's function.
  const out = new ByteWriter(ulebLength(fnLength) + fnLength);
  out.uleb(fnLength).bytes(declared).bytes(body).byte(Op.END);
  return out.finish();
}

/** The names blocksModule exports function `k` as: its index in decimal. */
export function blockExport(k: number): string {
  return String(k);
}

/**
 * A module of block functions (`blockFunction` entries), each exported under `blockExport(k)`, importing the
 * shared memory `env.mem`. Several blocks in one module share V8's fixed cost of a module (its native module,
 * code space and jump table) and one instantiation.
 */
export function blocksModule(functions: readonly Uint8Array[]): Uint8Array {
  const n = functions.length;
  const header = blockHeader(n);
  let codeLength = ulebLength(n);
  for (const f of functions) codeLength += f.length;
  // Sized exactly: `finish` hands over the buffer itself, the one allocation of a module.
  const out = new ByteWriter(header.length + 1 + ulebLength(codeLength) + codeLength);
  out.bytes(header).byte(10).uleb(codeLength).uleb(n);
  for (const f of functions) out.bytes(f);
  return out.finish();
}

/** The sections before the code of a module of `n` block functions, by `n`: the same for every such module. */
const BLOCK_HEADERS: Uint8Array[] = [];

function blockHeader(n: number): Uint8Array {
  let header = BLOCK_HEADERS[n];
  if (header === undefined) {
    const names: string[] = [];
    for (let k = 0; k < n; k++) names.push(blockExport(k));
    header = moduleHeader([BLOCK_TYPE], false, 0, names).finish();
    BLOCK_HEADERS[n] = header;
  }
  return header;
}

/** The last locals `localsDeclaration` encoded, and their encoding (every block has the same locals). */
let lastLocals: readonly number[] | null = null;
let lastDeclaration: Uint8Array = new Uint8Array(0);

/** The locals of a function body (spec 5.5.13), run-length encoded by type. */
function localsDeclaration(locals: readonly number[]): Uint8Array {
  if (locals === lastLocals) return lastDeclaration;
  const runs: number[] = [];
  for (const t of locals) {
    if (runs.length > 0 && runs[runs.length - 1] === t) runs[runs.length - 2]++;
    else runs.push(1, t);
  }
  const declared = new ByteWriter(64).uleb(runs.length / 2);
  for (let k = 0; k < runs.length; k += 2) declared.uleb(runs[k]).byte(runs[k + 1]);
  lastLocals = locals;
  lastDeclaration = declared.finish();
  return lastDeclaration;
}
