import { CliError } from '../cli-error.js';

/**
 * The native backend's ioctl numbers and struct layouts, from `abiTable()` in `@kvm-ts/native`, loaded only
 * now so that the other commands never load koffi.
 */
export async function nativeAbi(): Promise<unknown> {
  const specifier = '@kvm-ts/native';
  let module: { abiTable?: () => unknown };
  try {
    module = (await import(/* @vite-ignore */ specifier)) as { abiTable?: () => unknown };
  } catch (error) {
    throw new CliError(
      `the native backend is not available (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (typeof module.abiTable !== 'function') {
    throw new CliError('this @kvm-ts/native does not export abiTable(); update it');
  }
  return module.abiTable();
}

/** JSON.stringify that writes bigints as decimal strings. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}
