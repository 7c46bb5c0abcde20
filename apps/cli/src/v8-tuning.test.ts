import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tuneV8, V8_FLAGS } from './v8-tuning.js';

describe('V8 tuning', () => {
  it("leaves a flag given on node's command line alone, in either spelling, and sets the others", () => {
    expect(tuneV8(['--wasm-tiering-budget=5000'])).toEqual([
      '--no-wasm-lazy-compilation',
      '--max-inlined-bytecode-size-cumulative=230',
    ]);
    expect(
      tuneV8([
        '--wasm_tiering_budget',
        '5000',
        '--wasm-lazy-compilation',
        '--max_inlined_bytecode_size_cumulative=920',
      ]),
    ).toEqual([]);
    expect(tuneV8(['--max-old-space-size=4096'])).toEqual(V8_FLAGS);
    expect(tuneV8([])).toEqual(V8_FLAGS);
  });

  it("names flags this node's V8 has (an unknown one would be ignored without a word)", () => {
    const options = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }).stdout;
    for (const flag of V8_FLAGS) {
      const name = flag.replace(/^--(no-)?/, '').split('=')[0];
      expect(options, name).toContain(`--${name} (`);
    }
  });
});
