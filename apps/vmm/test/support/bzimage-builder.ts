/** Fields of a synthetic bzImage's setup header; anything omitted takes a Debian-like value. */
export interface BzImageSpec {
  setupSects?: number;
  version?: number;
  xloadflags?: number;
  loadflags?: number;
  prefAddress?: bigint;
  initSize?: number;
  kernelAlignment?: number;
  relocatable?: number;
  initrdAddrMax?: number;
  cmdlineSize?: number;
  payload?: Uint8Array;
  magic?: number;
  bootFlag?: number;
}

/** Builds a bzImage: setup sectors holding a boot-protocol header, then the "protected-mode kernel" payload. */
export function buildBzImage(spec: BzImageSpec = {}): Uint8Array {
  const setupSects = spec.setupSects ?? 4;
  const payload = spec.payload ?? Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff);
  const image = new Uint8Array((setupSects + 1) * 512 + payload.length);
  const view = new DataView(image.buffer);
  image[0x1f1] = setupSects;
  view.setUint32(0x1f4, Math.ceil(payload.length / 16), true);
  view.setUint16(0x1fe, spec.bootFlag ?? 0xaa55, true);
  image[0x200] = 0xeb;
  image[0x201] = 0x66; // header ends at 0x268
  view.setUint32(0x202, spec.magic ?? 0x53726448, true);
  view.setUint16(0x206, spec.version ?? 0x020f, true);
  image[0x211] = spec.loadflags ?? 0x01;
  view.setUint32(0x22c, spec.initrdAddrMax ?? 0x7fffffff, true);
  view.setUint32(0x230, spec.kernelAlignment ?? 0x200000, true);
  image[0x234] = spec.relocatable ?? 1;
  view.setUint16(0x236, spec.xloadflags ?? 0x7f, true);
  view.setUint32(0x238, spec.cmdlineSize ?? 2047, true);
  view.setBigUint64(0x258, spec.prefAddress ?? 0x1000000n, true);
  view.setUint32(0x260, spec.initSize ?? 0x800000, true);
  image.set(payload, (setupSects + 1) * 512);
  return image;
}
