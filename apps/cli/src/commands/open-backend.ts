import { type Kvm, KvmError, openKvm } from '@kvm-ts/core';
import { CliError } from '../cli-error.js';

/** The `--backend` choices. */
export const BACKEND_CHOICES = ['auto', 'native', 'emulator'] as const;

/** Opens the chosen backend, turning a refusal into one line that says what to do. */
export async function openBackend(choice: string | undefined): Promise<Kvm> {
  try {
    return await openKvm(choice ? { backend: choice } : {});
  } catch (error) {
    if (error instanceof KvmError)
      throw new CliError(`cannot open the ${choice ?? 'auto'} backend: ${error.message}`, 2, {
        cause: error,
      });
    throw error;
  }
}
