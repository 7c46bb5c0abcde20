import { describe, expect, it } from 'vitest';
import { buildBzImage } from '../../test/support/bzimage-builder.js';
import { buildElf, multibootHeader } from '../../test/support/elf-builder.js';
import { detectFormat, loadImage } from './detect.js';
import { XEN_ELFNOTE_PHYS32_ENTRY } from './pvh.js';

const segment = { paddr: 0x100000, bytes: new Uint8Array(64) };

describe('detectFormat and loadImage', () => {
  it('tells the formats apart by content', () => {
    expect(detectFormat(buildBzImage(), 'a')).toBe('bzimage');
    const mb = buildElf({
      bits: 32,
      entry: 0x100000,
      segments: [{ paddr: 0x100000, bytes: multibootHeader(0) }],
    });
    expect(detectFormat(mb, 'a')).toBe('multiboot');
    const desc = Uint8Array.from([0, 0, 0x10, 0]);
    const pvh = buildElf({
      bits: 64,
      entry: 0x100000,
      segments: [segment],
      notes: [{ name: 'Xen', type: XEN_ELFNOTE_PHYS32_ENTRY, desc }],
    });
    expect(detectFormat(pvh, 'a')).toBe('pvh');
    expect(detectFormat(buildElf({ bits: 64, entry: 0x100000, segments: [segment] }), 'a')).toBe('elf');
    expect(detectFormat(Uint8Array.from([0xeb, 0xfe]), 'a')).toBe('flat');
  });

  it('refuses options that do not apply to the format', () => {
    const elf = buildElf({ bits: 32, entry: 0x100000, segments: [segment] });
    expect(() => loadImage(elf, { file: 'k.elf', ramSize: 16 << 20, cmdline: 'x' })).toThrow(
      /^k.elf: --append does not apply to a elf image$/,
    );
    expect(() =>
      loadImage(Uint8Array.from([0xf4]), { file: 'b', ramSize: 16 << 20, initrd: new Uint8Array(1) }),
    ).toThrow(/--initrd/);
    expect(
      loadImage(Uint8Array.from([0xf4]), { file: 'b', ramSize: 16 << 20, format: 'auto', mode: 'long' }).cpu
        .mode,
    ).toBe('long');
  });
});
