/** The flavour table stays the one place for deviations: it covers every deviation the suite itself knows of. */
import { knownDeviations } from '@kvm-ts/conformance';
import { describe, expect, it } from 'vitest';
import { conformanceDeviations, DEVIATIONS } from './support/flavours.js';

describe('the flavour deviation table', () => {
  it('covers every deviation the conformance suite ships for a native flavour', () => {
    const ours = new Set(conformanceDeviations().map((d) => `${d.flavour} ${d.caseId}`));
    const theirs = knownDeviations
      .filter((d) => d.flavour.startsWith('kvm'))
      .map((d) => `${d.flavour} ${d.caseId}`);
    expect(theirs.filter((key) => !ours.has(key))).toEqual([]);
  });

  it('gives every entry the reference answer beside each deviating flavour', () => {
    for (const entry of Object.values(DEVIATIONS)) {
      expect(entry.reference.length).toBeGreaterThan(0);
      expect(Object.keys(entry.flavours).length).toBeGreaterThan(0);
    }
  });
});
