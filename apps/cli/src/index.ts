/**
 * @packageDocumentation
 * The `kvm-ts` command (`bin/kvm-ts`); this entry exports its pieces for scripts and tests.
 */
export { CliError } from './cli-error.js';
export { formatInfo, gatherInfo, type InfoReport } from './commands/info.js';
export { type RunIo, type RunOptions, runDemo, runImage } from './commands/run.js';
export { buildProgram } from './program.js';
export { EscapeParser } from './terminal.js';
