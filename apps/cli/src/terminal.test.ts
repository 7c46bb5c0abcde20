import { describe, expect, it } from 'vitest';
import { EscapeParser } from './terminal.js';

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

describe('EscapeParser', () => {
  it('passes ordinary keys (Ctrl-C included) to the guest', () => {
    const parser = new EscapeParser();
    expect(parser.feed(bytes('ls\r\x03'))).toEqual({ bytes: bytes('ls\r\x03'), quit: false });
  });

  it('quits on Ctrl-A x or X, keeping what came before', () => {
    expect(new EscapeParser().feed(bytes('ab\x01x'))).toEqual({ bytes: bytes('ab'), quit: true });
    expect(new EscapeParser().feed(bytes('\x01X'))).toEqual({ bytes: bytes(''), quit: true });
  });

  it('remembers a Ctrl-A at the end of one chunk', () => {
    const parser = new EscapeParser();
    expect(parser.feed(bytes('a\x01'))).toEqual({ bytes: bytes('a'), quit: false });
    expect(parser.feed(bytes('x'))).toEqual({ bytes: bytes(''), quit: true });
  });

  it('sends one Ctrl-A for Ctrl-A Ctrl-A, and Ctrl-A with any other key as typed', () => {
    const parser = new EscapeParser();
    expect(parser.feed(bytes('\x01\x01\x01c'))).toEqual({ bytes: bytes('\x01\x01c'), quit: false });
  });
});
