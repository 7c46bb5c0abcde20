import { describe, expect, it } from 'vitest';
import { allGuests } from '../src/guests/generated.js';
import { Layout, Port } from '../src/layout.js';

describe('guest layout', () => {
  it.each(allGuests.map((g) => [g.name, g] as const))(
    '%s uses the addresses and ports of src/layout.ts',
    (_, guest) => {
      for (const name of [
        'LOAD_ADDR',
        'STACK_TOP',
        'DATA_ADDR',
        'MMIO_ADDR',
        'MMIO_SEG',
        'ALIAS_BASE',
      ] as const) {
        expect(guest.symbols[name], name).toBe(Layout[name]);
      }
      for (const [name, port] of Object.entries(Port)) expect(guest.symbols[`PORT_${name}`], name).toBe(port);
    },
  );

  it('keeps RAM, page tables, extra slots and MMIO apart', () => {
    expect(Layout.PAGE_TABLES_ADDR + 3 * 0x1000).toBeLessThanOrEqual(Layout.RAM_SIZE);
    expect(Layout.DATA_ADDR + 0x1000).toBeLessThanOrEqual(Layout.PAGE_TABLES_ADDR);
    expect(Layout.EXTRA_SLOT_ADDR).toBeGreaterThanOrEqual(Layout.RAM_SIZE);
    expect(Layout.MOVED_SLOT_ADDR).toBeGreaterThanOrEqual(Layout.EXTRA_SLOT_ADDR + 0x8000);
    expect(Layout.MMIO_ADDR).toBeGreaterThanOrEqual(Layout.MOVED_SLOT_ADDR + 0x8000);
    expect(Layout.MMIO_SEG * 16).toBe(Layout.MMIO_ADDR);
  });
});
