import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tuneV8 } from './v8-tuning.js';

describe('V8 tuning', () => {
  it("leaves a budget given on node's command line alone, and sets its own otherwise", () => {
    expect(tuneV8(['--wasm-tiering-budget=5000'])).toBe(false);
    expect(tuneV8(['--wasm_tiering_budget', '5000'])).toBe(false);
    expect(tuneV8(['--max-old-space-size=4096'])).toBe(true);
    expect(tuneV8([])).toBe(true);
  });

  it("names a flag this node's V8 has (an unknown one would be ignored without a word)", () => {
    const options = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }).stdout;
    expect(options).toMatch(/--wasm-tiering-budget \(/);
  });
});
