import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseAddress, parseFormat, parsePositiveInt, parseSeconds, parseSize } from './values.js';

describe('option values', () => {
  it('parses sizes with K, M, G suffixes', () => {
    expect(parseSize('256M')).toBe(256 * 1024 * 1024);
    expect(parseSize('1G')).toBe(1024 ** 3);
    expect(parseSize('65536k')).toBe(64 * 1024 * 1024);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('512MiB')).toBe(512 * 1024 * 1024);
    expect(() => parseSize('12Q')).toThrow(InvalidArgumentError);
    expect(() => parseSize('-1M')).toThrow(/expected a size/);
  });

  it('parses addresses in hex or decimal', () => {
    expect(parseAddress('0x7c00')).toBe(0x7c00);
    expect(parseAddress('0X100000')).toBe(0x100000);
    expect(parseAddress('4096')).toBe(4096);
    expect(() => parseAddress('7c00')).toThrow(/expected an address/);
    expect(() => parseAddress('0x')).toThrow(InvalidArgumentError);
  });

  it('checks counts, seconds and formats', () => {
    expect(parsePositiveInt('2')).toBe(2);
    expect(() => parsePositiveInt('0')).toThrow(InvalidArgumentError);
    expect(() => parsePositiveInt('1.5')).toThrow(InvalidArgumentError);
    expect(parseSeconds('0.5')).toBe(0.5);
    expect(() => parseSeconds('0')).toThrow(InvalidArgumentError);
    expect(parseFormat('bzimage')).toBe('bzimage');
    expect(() => parseFormat('iso')).toThrow(/expected one of auto, flat, elf, multiboot, bzimage, pvh/);
  });
});
