/**
 * A set of TLB indices kept as a list, so that clearing what it marks visits the indices it holds rather than all
 * 4096: the MMU's filled entries (global ones apart from the others) and the entries given a block directory.
 */
export class TlbIndexList {
  /** The indices held, in the order they were added: `items[0]` to `items[count - 1]`. */
  readonly items: Int32Array;
  count = 0;
  /** 1 where `items` holds the index. */
  private readonly held: Uint8Array;

  constructor(size: number) {
    this.items = new Int32Array(size);
    this.held = new Uint8Array(size);
  }

  /** Adds `ix` unless the list holds it already. */
  add(ix: number): void {
    if (this.held[ix] !== 0) return;
    this.held[ix] = 1;
    this.items[this.count++] = ix;
  }

  /** Empties the list (what its indices marked is the caller's to undo, before). */
  clear(): void {
    for (let k = 0; k < this.count; k++) this.held[this.items[k]] = 0;
    this.count = 0;
  }
}
