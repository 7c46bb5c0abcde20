/**
 * The dispatcher's module: the loop that runs WebAssembly blocks one after another without returning to
 * JavaScript (wasm-block.ts makes one instance of it per VM).
 */
import { BLOCK_TYPE, ByteWriter, Code, moduleHeader, Op, section, T, VOID } from './encoder.js';
import { Area, tlbIndexCode } from './layout.js';

/**
 * The dispatcher: `run(index, base, rip, room, user)` calls entry `index` of the table it imports as
 * `env.table`, where every block's function is, and then, while blocks end where another block starts, that
 * one: it looks the next RIP up in the TLB's execute tags and the page's block directory (directories.ts), all
 * in the memory it imports as `env.mem`. It returns the blocks' packed result (block-compiler.ts) with the
 * retired counts summed and the flags-written bits or'ed, at a side exit, a block that does not fit in `room`,
 * or a RIP with no block. JavaScript calls this one function, whose wrapper V8 optimizes, not thousands.
 */
export function dispatcherModule(): Uint8Array {
  const out = moduleHeader([BLOCK_TYPE, [0x60, 5, T.I32, T.I32, T.F64, T.I32, T.I32, 1, T.I32]], true, 1);
  // Parameters 0 index, 1 base, 2 rip, 3 room, 4 user; locals 5 total, 6 flags, 7 result, 8 tags, 9 ix (i32),
  // 10 lin (i64).
  const [INDEX, BASE, RIP, ROOM, USER, TOTAL, FLAGS, RESULT, TAGS, IX, LIN] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
  ];
  const c = new Code();
  c.uleb(2).uleb(5).byte(T.I32).uleb(1).byte(T.I64);
  c.get(BASE)
    .i32(Area.TLB_XU)
    .op(Op.I32_ADD)
    .get(BASE)
    .i32(Area.TLB_XS)
    .op(Op.I32_ADD)
    .get(USER)
    .op(Op.SELECT)
    .set(TAGS);
  const done = () => {
    c.get(TOTAL)
      .i32(7)
      .op(Op.I32_SHL)
      .get(FLAGS)
      .op(Op.I32_OR)
      .get(RESULT)
      .i32(63)
      .op(Op.I32_AND)
      .op(Op.I32_OR);
    c.op(Op.RETURN);
  };
  c.op(Op.LOOP).byte(VOID);
  c.get(BASE).get(RIP).get(ROOM).get(USER).get(INDEX);
  c.byte(0x11).uleb(0).uleb(0); // call_indirect type 0, table 0
  c.tee(RESULT).i32(7).op(Op.I32_SHR_U).get(TOTAL).op(Op.I32_ADD).set(TOTAL);
  c.get(RESULT).i32(64).op(Op.I32_AND).get(FLAGS).op(Op.I32_OR).set(FLAGS);
  // A side exit, or a block that did not run (no room): back to JavaScript.
  c.get(RESULT).i32(63).op(Op.I32_AND).get(RESULT).i32(7).op(Op.I32_SHR_U).op(Op.I32_EQZ).op(Op.I32_OR);
  c.op(Op.IF).byte(VOID);
  done();
  c.op(Op.END);
  c.get(ROOM).get(RESULT).i32(7).op(Op.I32_SHR_U).op(Op.I32_SUB).set(ROOM);
  // The next RIP's execute tag, its page's directory, the block at its offset: any missing ends the chain.
  c.get(BASE).mem(Op.F64_LOAD, 3, Area.NEXT_RIP).set(RIP);
  c.get(BASE).mem(Op.I64_LOAD, 3, Area.NEXT_RIP64).set(LIN);
  c.get(LIN).i64(12).op(Op.I64_SHR_S).op(Op.I32_WRAP_I64);
  tlbIndexCode(c, IX);
  c.set(IX);
  c.get(IX).i32(3).op(Op.I32_SHL).get(TAGS).op(Op.I32_ADD).mem(Op.F64_LOAD, 3, 0);
  c.get(LIN).i64(12).op(Op.I64_SHR_S).op(Op.F64_CONVERT_I64_S).op(Op.F64_NE);
  c.op(Op.IF).byte(VOID);
  done();
  c.op(Op.END);
  c.get(IX).i32(2).op(Op.I32_SHL).get(BASE).op(Op.I32_ADD).mem(Op.I32_LOAD, 2, Area.TLB_DIR).tee(IX);
  c.op(Op.I32_EQZ);
  c.op(Op.IF).byte(VOID);
  done();
  c.op(Op.END);
  c.get(LIN).op(Op.I32_WRAP_I64).i32(4095).op(Op.I32_AND).i32(2).op(Op.I32_SHL).get(IX).op(Op.I32_ADD);
  c.mem(Op.I32_LOAD, 2, 0).tee(INDEX);
  c.op(Op.I32_EQZ);
  c.op(Op.IF).byte(VOID);
  done();
  c.op(Op.END);
  c.br(0);
  c.op(Op.END); // loop
  c.i32(0); // not reached: the loop only leaves by returning
  c.op(Op.END);
  const code = new ByteWriter().uleb(1);
  code.uleb(c.length).bytes(c.finish());
  section(out, 10, code.finish());
  return out.finish();
}
