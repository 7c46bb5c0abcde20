import { Capability, type KvmCpuidEntry2 } from '@kvm-ts/core';
import { openBackend } from './open-backend.js';

/** Everything `kvm-ts info` reports. */
export interface InfoReport {
  backend: { name: string; flavour: string; reason: string };
  apiVersion: number;
  vcpuMmapSize: number;
  maxVcpus: number;
  recommendedVcpus: number;
  capabilities: Record<string, number>;
  supportedCpuid: KvmCpuidEntry2[];
  msrIndexList: number[];
}

/** Gathers the report through the system-level ioctls (KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, ...). */
export async function gatherInfo(backend: string | undefined): Promise<InfoReport> {
  const kvm = await openBackend(backend);
  try {
    const capabilities: Record<string, number> = {};
    for (const [name, cap] of Object.entries(Capability)) capabilities[name] = kvm.checkExtension(cap);
    return {
      backend: { ...kvm.backend },
      apiVersion: kvm.getApiVersion(),
      vcpuMmapSize: kvm.getVcpuMmapSize(),
      maxVcpus: kvm.checkExtension(Capability.MAX_VCPUS),
      recommendedVcpus: kvm.checkExtension(Capability.NR_VCPUS),
      capabilities,
      supportedCpuid: kvm.getSupportedCpuid(),
      msrIndexList: kvm.getMsrIndexList(),
    };
  } finally {
    kvm.close();
  }
}

const hex = (value: number, width = 8) => `0x${(value >>> 0).toString(16).padStart(width, '0')}`;

/** The report as text for people. */
export function formatInfo(info: InfoReport): string {
  const lines = [
    `backend:          ${info.backend.name} (${info.backend.flavour})`,
    `why:              ${info.backend.reason}`,
    `API version:      ${info.apiVersion}`,
    `vCPU mmap size:   ${info.vcpuMmapSize} bytes`,
    `max vCPUs:        ${info.maxVcpus} (recommended ${info.recommendedVcpus})`,
    '',
    'capabilities (KVM_CHECK_EXTENSION):',
  ];
  const present = Object.entries(info.capabilities).filter(([, v]) => v !== 0);
  const absent = Object.entries(info.capabilities).filter(([, v]) => v === 0);
  for (const [name, value] of present) lines.push(`  ${name.padEnd(32)} ${value}`);
  lines.push(`  absent: ${absent.map(([name]) => name).join(' ')}`);
  lines.push('', `supported CPUID (KVM_GET_SUPPORTED_CPUID), ${info.supportedCpuid.length} entries:`);
  lines.push('  function   index flags eax        ebx        ecx        edx');
  for (const e of info.supportedCpuid) {
    lines.push(
      `  ${hex(e.function)} ${String(e.index).padStart(5)} ${String(e.flags).padStart(5)} ${hex(e.eax)} ${hex(e.ebx)} ${hex(e.ecx)} ${hex(e.edx)}`,
    );
  }
  lines.push('', `MSR index list (KVM_GET_MSR_INDEX_LIST), ${info.msrIndexList.length} MSRs:`);
  for (let i = 0; i < info.msrIndexList.length; i += 8) {
    lines.push(
      `  ${info.msrIndexList
        .slice(i, i + 8)
        .map((m) => hex(m))
        .join(' ')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
