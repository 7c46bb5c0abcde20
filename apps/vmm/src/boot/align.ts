/** `value` rounded up to a multiple of `alignment`. */
export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** `value` rounded down to a multiple of `alignment`. */
export function alignDown(value: number, alignment: number): number {
  return Math.floor(value / alignment) * alignment;
}
