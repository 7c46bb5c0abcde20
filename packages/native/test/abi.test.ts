/**
 * Checks every number of the ABI table (src/abi) and the core's KVM constants against the C headers: a probe
 * is generated from the table, compiled with gcc against <linux/kvm.h>, and its output compared entry by entry.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@kvm-ts/core';
import { afterAll, describe, expect, it } from 'vitest';
import { abiTable, NEWER_THAN_HEADERS } from '../src/abi/index.js';

/** Core constant groups and the prefix of their C macros. */
const CORE_CONSTANT_GROUPS: [string, Record<string, number>, string][] = [
  ['Capability', core.Capability, 'KVM_CAP_'],
  ['ExitReason', core.ExitReason, 'KVM_EXIT_'],
  ['IoDirection', core.IoDirection, 'KVM_EXIT_IO_'],
  ['SystemEventType', core.SystemEventType, 'KVM_SYSTEM_EVENT_'],
  ['InternalErrorSuberror', core.InternalErrorSuberror, 'KVM_INTERNAL_ERROR_'],
  ['CpuidFlag', core.CpuidFlag, 'KVM_CPUID_FLAG_'],
  ['MpState', core.MpState, 'KVM_MP_STATE_'],
  ['VcpuEventsFlag', core.VcpuEventsFlag, 'KVM_VCPUEVENT_'],
  ['InterruptShadow', core.InterruptShadow, 'KVM_X86_SHADOW_INT_'],
  ['GuestDebugFlag', core.GuestDebugFlag, 'KVM_GUESTDBG_'],
  ['IrqchipId', core.IrqchipId, 'KVM_IRQCHIP_'],
  ['IrqRoutingType', core.IrqRoutingType, 'KVM_IRQ_ROUTING_'],
  ['MemFlag', core.MemFlag, 'KVM_MEM_'],
  ['ClockFlag', core.ClockFlag, 'KVM_CLOCK_'],
  ['Errno', core.Errno, ''],
];

/** Core constants whose C name does not follow their group's prefix: core name -> C expression. */
const CORE_CONSTANT_EXPRESSIONS: Record<string, [number, string]> = {
  'PitFlag.SPEAKER_DUMMY': [core.PitFlag.SPEAKER_DUMMY, 'KVM_PIT_SPEAKER_DUMMY'],
  'PitFlag.HPET_LEGACY': [core.PitFlag.HPET_LEGACY, 'KVM_PIT_FLAGS_HPET_LEGACY'],
  'PitFlag.SPEAKER_DATA_ON': [core.PitFlag.SPEAKER_DATA_ON, 'KVM_PIT_FLAGS_SPEAKER_DATA_ON'],
  KVM_APIC_REG_SIZE: [core.KVM_APIC_REG_SIZE, 'KVM_APIC_REG_SIZE'],
  KVM_IOAPIC_NUM_PINS: [core.KVM_IOAPIC_NUM_PINS, 'KVM_IOAPIC_NUM_PINS'],
  KVM_MAX_XCRS: [core.KVM_MAX_XCRS, 'KVM_MAX_XCRS'],
  KVM_NR_INTERRUPTS_WORDS: [core.KVM_NR_INTERRUPTS_WORDS, '((KVM_NR_INTERRUPTS + 63) / 64)'],
  KVM_XSAVE_SIZE: [core.KVM_XSAVE_SIZE, 'sizeof(struct kvm_xsave)'],
};

/**
 * Macros the core defines that the headers checked here (Debian bookworm's linux-libc-dev 6.1) predate, with
 * the kernel that added them; reported as unchecked rather than failing.
 */
const NEWER_MACROS: Record<string, string> = {
  KVM_EXIT_MEMORY_FAULT: 'Linux 6.8',
};

interface ProbeEntry {
  key: string;
  expected: number;
  /** A C expression, or a macro name to test with #ifdef first. */
  expression: string;
  guard?: string;
}

function probeEntries(): ProbeEntry[] {
  const table = abiTable();
  const entries: ProbeEntry[] = [];
  for (const [name, value] of Object.entries(table.ioctls)) {
    entries.push({ key: `ioctl ${name}`, expected: value, expression: name, guard: name });
  }
  for (const [struct, layout] of Object.entries(table.structs)) {
    entries.push({ key: `sizeof ${struct}`, expected: layout.size, expression: `sizeof(struct ${struct})` });
    for (const [field, offset] of Object.entries(layout.fields)) {
      const newer = NEWER_THAN_HEADERS[`${struct}.${field}`];
      entries.push({
        key: `offsetof ${struct}.${field}`,
        expected: offset,
        expression: `offsetof(struct ${struct}, ${field})`,
        ...(newer ? { guard: newer } : {}),
      });
    }
  }
  for (const [group, values, prefix] of CORE_CONSTANT_GROUPS) {
    for (const [name, value] of Object.entries(values)) {
      const macro = `${prefix}${name}`;
      entries.push({ key: `core ${group}.${name}`, expected: value, expression: macro, guard: macro });
    }
  }
  for (const [name, [value, expression]] of Object.entries(CORE_CONSTANT_EXPRESSIONS)) {
    const guard = /^[A-Z_0-9]+$/.test(expression) ? expression : undefined;
    entries.push({ key: `core ${name}`, expected: value, expression, ...(guard ? { guard } : {}) });
  }
  return entries;
}

function probeSource(entries: ProbeEntry[]): string {
  const lines = [
    '#include <errno.h>',
    '#include <stddef.h>',
    '#include <stdio.h>',
    '#include <linux/kvm.h>',
    'int main(void) {',
  ];
  for (const entry of entries) {
    const print = `  printf("%s=%llu\\n", "${entry.key}", (unsigned long long)(${entry.expression}));`;
    if (entry.guard) {
      lines.push(
        `#ifdef ${entry.guard}`,
        print,
        '#else',
        `  printf("%s=missing\\n", "${entry.key}");`,
        '#endif',
      );
    } else {
      lines.push(print);
    }
  }
  lines.push('  return 0;', '}');
  return lines.join('\n');
}

const workDir = mkdtempSync(join(tmpdir(), 'kvm-ts-abi-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** Compiles and runs the probe; a string when gcc or the header is missing, which skips the test. */
function runProbe(entries: ProbeEntry[]): Map<string, string> | string {
  const source = join(workDir, 'probe.c');
  const binary = join(workDir, 'probe');
  writeFileSync(source, probeSource(entries));
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'gcc is not installed (apt-get install gcc)';
  }
  try {
    execFileSync('gcc', ['-std=gnu11', '-Wall', '-o', binary, source], { stdio: 'pipe' });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? error);
    if (stderr.includes('linux/kvm.h'))
      return 'the header <linux/kvm.h> is missing (apt-get install linux-libc-dev)';
    throw new Error(`the ABI probe did not compile:\n${stderr}`);
  }
  const output = execFileSync(binary, { encoding: 'utf8' });
  return new Map(
    output
      .trim()
      .split('\n')
      .map((line) => line.split('=') as [string, string]),
  );
}

const entries = probeEntries();
const probe = runProbe(entries);
const skipReason = typeof probe === 'string' ? probe : undefined;
if (skipReason) console.warn(`ABI probe skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('ABI table against <linux/kvm.h>', () => {
  const results = probe as Map<string, string>;

  it('the probe printed every entry', () => {
    expect(results.size).toBe(entries.length);
  });

  it('every ioctl number, struct size, field offset and core constant matches the header', () => {
    const mismatches: string[] = [];
    const unchecked: string[] = [];
    for (const entry of entries) {
      const actual = results.get(entry.key);
      if (actual === 'missing') {
        const macro = entry.guard ?? '';
        if (NEWER_MACROS[macro]) {
          unchecked.push(`${entry.key} (${macro} is from ${NEWER_MACROS[macro]}, newer than these headers)`);
        } else {
          mismatches.push(`${entry.key}: not defined in the header (table says ${entry.expected})`);
        }
      } else if (Number(actual) !== entry.expected) {
        mismatches.push(`${entry.key}: header ${actual}, table ${entry.expected}`);
      }
    }
    console.log(
      `ABI probe: ${entries.length - unchecked.length} entries compared, ${unchecked.length} unchecked` +
        (unchecked.length ? `:\n  ${unchecked.join('\n  ')}` : ''),
    );
    expect(mismatches).toEqual([]);
  });

  it('the table covers the numbers KVM-ABI.md calls out', () => {
    // Spot values an outside reader can check against api.rst without a compiler.
    expect(abiTable().ioctls.KVM_RUN).toBe(0xae80);
    expect(abiTable().structs.kvm_run.fields['io.data_offset']).toBe(40);
  });
});
