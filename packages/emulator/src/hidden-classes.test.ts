/**
 * The hidden-class helpers change nothing an object holds: every field reads back as it was, of every kind,
 * including the ones they skip (objects, null, undefined) and numbers that are not small integers.
 */
import { describe, expect, it } from 'vitest';
import { holdDoubles, holdMutable } from './hidden-classes.js';

class Sample {
  small = 7;
  zero = 0;
  negative = -3;
  wide = 2 ** 40;
  fraction = 0.25;
  infinite = Number.POSITIVE_INFINITY;
  notANumber = Number.NaN;
  yes = true;
  no = false;
  big = 0xffff_ffff_ffff_ffffn;
  nothing = null;
  missing = undefined;
  list = [1, 2];
}

describe('hidden-class helpers', () => {
  it('holdMutable and holdDoubles leave every field with its value', () => {
    const fresh = new Sample();
    const held = new Sample();
    holdMutable(held);
    holdDoubles(held, ['small', 'zero', 'wide']);
    expect(Object.keys(held)).toEqual(Object.keys(fresh));
    for (const key of Object.keys(fresh) as (keyof Sample)[]) expect(held[key], key).toEqual(fresh[key]);
    expect(held.list).toBe(held.list);
    expect(Object.is(held.zero, 0)).toBe(true);
  });
});
