/** Why an image was refused: a stable code for programs, the message for people. */
export type BootImageProblem =
  | 'truncated'
  | 'bad-magic'
  | 'outside-ram'
  | 'unsupported'
  | 'bad-option'
  | 'overlap';

/**
 * A boot image (kernel, initramfs, flat binary) the VMM cannot load: names the file and the problem, so a
 * person can act on the one-line message.
 */
export class BootImageError extends Error {
  /** Stable code for `switch` without parsing the message. */
  readonly code: BootImageProblem;

  constructor(
    readonly file: string,
    code: BootImageProblem,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
    this.name = 'BootImageError';
    this.code = code;
  }
}
