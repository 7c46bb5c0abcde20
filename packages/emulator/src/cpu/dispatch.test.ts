/**
 * The dispatch switch uses number literals as case labels (a jump table in V8); each carries the name of its
 * id in a comment. These tests hold the literals to the named ids, and every id to exactly one of a case and an
 * entry of the table of the other handlers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { H, OP_HANDLER, OTHER_HANDLERS } from './dispatch.js';
import { Fast } from './fast.js';
import { undefinedOpcode } from './system.js';

const source = readFileSync(fileURLToPath(new URL('./dispatch.ts', import.meta.url)), 'utf8');
const labels = [...source.matchAll(/case (\d+): \/\/ (H|Fast)\.(\w+)/g)].map((m) => ({
  value: Number(m[1]),
  table: m[2],
  name: m[3],
}));

describe('dispatch case labels', () => {
  it('each literal equals the id its comment names', () => {
    expect(labels.length).toBeGreaterThan(30);
    for (const { value, table, name } of labels) {
      const ids: Record<string, number> = table === 'H' ? H : Fast;
      expect(`${table}.${name} = ${ids[name]}`).toBe(`${table}.${name} = ${value}`);
    }
  });

  it('every handler id an opcode or a specialization can choose has a case or a table entry, not both', () => {
    const cased = new Set(labels.map((l) => l.value));
    const chosen = new Set([...OP_HANDLER, ...Object.values(Fast)]);
    // UNDEFINED_OPCODE is the table's default.
    chosen.delete(H.UNDEFINED_OPCODE);
    for (const id of chosen) {
      const inTable = OTHER_HANDLERS[id] !== undefined && OTHER_HANDLERS[id] !== undefinedOpcode;
      expect(`${id}: case ${cased.has(id)}, table ${inTable}`).toBe(
        `${id}: case ${!inTable}, table ${inTable}`,
      );
    }
    expect(OTHER_HANDLERS[H.UNDEFINED_OPCODE]).toBe(undefinedOpcode);
  });
});
