/**
 * Hidden classes of long-lived objects (the CPU, the in-kernel devices): V8 compiles code against an object's
 * hidden class, which records each field's representation (small integer or double) and whether it was ever
 * written after construction. A first store that changes either replaces the hidden class and throws away the
 * optimized code that assumed the old one; these give the fields their final form at construction instead.
 */

/**
 * Marks every number, boolean and bigint field of a freshly built object as written more than once (each gets
 * another value, then its own back). V8 treats a field written only at construction as a constant and compiles
 * code that relies on it; the first later write changes the object's hidden class and throws that code away. A
 * Linux boot wrote some fifteen of the CPU's fields for the first time after the run loop was optimized (the
 * first I/O exit, fault, HLT, SYSCALL setup...), each time deoptimizing the loop and the handlers.
 */
export function holdMutable(object: object): void {
  const fields = object as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    const value = fields[name];
    if (typeof value === 'number') {
      // 0 and 1 keep a small-integer field one, and a double field stays double.
      fields[name] = value === 0 ? 1 : 0;
      fields[name] = value;
    } else if (typeof value === 'boolean') {
      fields[name] = !value;
      fields[name] = value;
    } else if (typeof value === 'bigint') {
      fields[name] = value + 1n;
      fields[name] = value;
    }
  }
}

/**
 * Gives the number fields `names` of a freshly built object the double representation from the start (a store
 * of a non-integer does it; the value is then put back), so no later store changes the object's hidden class.
 */
export function holdDoubles<T extends object>(object: T, names: readonly (keyof T & string)[]): void {
  const fields = object as unknown as Record<string, number>;
  for (const name of names) {
    const value = fields[name];
    fields[name] = 0.5;
    fields[name] = value;
  }
}
