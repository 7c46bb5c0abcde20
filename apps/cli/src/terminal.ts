import type { ReadStream } from 'node:tty';

/** Ctrl-A, the escape key of QEMU's serial console; Ctrl-A X quits, Ctrl-A Ctrl-A sends one Ctrl-A. */
export const ESCAPE = 0x01;
const QUIT_KEYS = new Set([0x78, 0x58]); // 'x', 'X'

/**
 * Splits terminal input into bytes for the guest and the quit command, remembering a Ctrl-A that ends one
 * chunk. Any other key after Ctrl-A is passed on with it, as QEMU does for keys it does not know.
 */
export class EscapeParser {
  private escaped = false;

  /** Bytes for the guest and whether the user asked to quit. */
  feed(chunk: Uint8Array): { bytes: Uint8Array; quit: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.escaped) {
        this.escaped = false;
        if (QUIT_KEYS.has(byte)) return { bytes: Uint8Array.from(out), quit: true };
        if (byte === ESCAPE) out.push(ESCAPE);
        else out.push(ESCAPE, byte);
      } else if (byte === ESCAPE) {
        this.escaped = true;
      } else {
        out.push(byte);
      }
    }
    return { bytes: Uint8Array.from(out), quit: false };
  }
}

/** What the run command needs from the terminal. */
export interface TerminalSession {
  /** Restores the terminal and stops reading input. */
  close(): void;
}

/**
 * Connects standard input to the guest: on a terminal in raw mode (so keys such as Ctrl-C reach the guest and
 * Ctrl-A X quits), from a pipe as it is. Node's `tty` raw mode is the terminal handling; nothing else is needed.
 */
export function attachInput(
  stdin: NodeJS.ReadStream,
  onBytes: (bytes: Uint8Array) => void,
  onQuit: () => void,
): TerminalSession {
  const tty = stdin.isTTY ? (stdin as unknown as ReadStream) : null;
  const parser = new EscapeParser();
  const listener = (chunk: Buffer) => {
    const { bytes, quit } = tty ? parser.feed(chunk) : { bytes: chunk, quit: false };
    if (bytes.length > 0) onBytes(bytes);
    if (quit) onQuit();
  };
  tty?.setRawMode(true);
  stdin.on('data', listener);
  stdin.resume();
  return {
    close() {
      stdin.off('data', listener);
      tty?.setRawMode(false);
      stdin.pause();
    },
  };
}
