#!/usr/bin/env node
import { CommanderError } from 'commander';
import { CliError } from './cli-error.js';
import { buildProgram } from './program.js';
import { tuneV8 } from './v8-tuning.js';

/** Runs the `kvm-ts` command line and returns its exit status; expected failures are one line on stderr. */
export async function main(argv: readonly string[]): Promise<number> {
  let status = 0;
  const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  const program = buildProgram(io, (s) => {
    status = s;
  });
  program.exitOverride();
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync([...argv]);
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with code 0; usage errors were already printed by commander.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) {
      process.stderr.write(`kvm-ts: ${error.message}\n`);
      return error.status;
    }
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`kvm-ts: internal error, please report it with this output:\n${detail}\n`);
    return 70;
  }
}

tuneV8();
const status = await main(process.argv);
// Let stdout drain before leaving: the guest's last output may still be queued on a pipe.
process.stdout.write('', () => process.exit(status));
