import { describe, expect, it } from 'vitest';
import { describeDeviation, findDeviation, knownDeviations } from '../src/deviations.js';
import { conformanceCases } from '../src/suite/groups.js';

describe('deviations and cases', () => {
  it('case ids are unique and shaped group.name', () => {
    const ids = conformanceCases.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9-]+\.[a-z0-9-]+$/);
  });

  it('every known deviation names an existing case, and an alternative carries its answer', () => {
    const ids = new Set(conformanceCases.map((c) => c.id));
    for (const deviation of knownDeviations) {
      expect(ids.has(deviation.caseId), deviation.caseId).toBe(true);
      if (deviation.handling === 'alternative') {
        expect(deviation.alternative?.errno ?? deviation.alternative?.exit, deviation.caseId).toBeDefined();
      }
      expect(describeDeviation(deviation)).toContain(deviation.reference);
    }
  });

  it('an expectation a flavour deviates from is not marked as checked on that flavour', () => {
    for (const deviation of knownDeviations) {
      const testCase = conformanceCases.find((c) => c.id === deviation.caseId);
      expect(testCase?.checkedOn, deviation.caseId).not.toContain(deviation.flavour);
    }
  });

  it('a deviation applies only to its flavour', () => {
    expect(findDeviation(knownDeviations, 'guest.real-mode-triple-fault', 'kvm_pvm')?.handling).toBe('skip');
    expect(findDeviation(knownDeviations, 'guest.real-mode-triple-fault', 'kvm_amd')).toBeUndefined();
  });
});
