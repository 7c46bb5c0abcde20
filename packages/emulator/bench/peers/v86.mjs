/**
 * Runs a benchmark kernel on the `v86` npm package (32-bit only), with or without its x86-to-wasm JIT. It
 * boots the image through its own multiboot loader; the bench takes over the debug port and the exit port.
 * The timed span is from the guest's 'S' to its 'E'.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Why v86 cannot run here, or null. */
export async function v86Missing() {
  try {
    await import('v86');
    return null;
  } catch (err) {
    return `the v86 package cannot be loaded (${err.message}): run pnpm install`;
  }
}

/** Seconds between the guest's start and end marks. */
export async function runV86(image, jit) {
  const { V86 } = await import('v86');
  const wasmPath = join(dirname(require.resolve('v86')), 'v86.wasm');
  const buffer = image.buffer.slice(image.byteOffset, image.byteOffset + image.byteLength);
  const emulator = new V86({
    wasm_path: wasmPath,
    memory_size: 64 << 20,
    multiboot: { buffer },
    autostart: false,
    disable_jit: !jit,
    disable_speaker: true,
  });
  return await new Promise((resolve, reject) => {
    let start = 0;
    let end = 0;
    const timer = setTimeout(() => {
      emulator.destroy();
      reject(new Error('v86 did not finish within 120 s'));
    }, 120_000);
    emulator.add_listener('emulator-loaded', () => {
      const io = emulator.v86.cpu.io;
      io.register_write(0xe9, {}, (b) => {
        if (b === 0x53) start = performance.now();
        else if (b === 0x45) end = performance.now();
      });
      io.register_write_consecutive(
        0xf4,
        {},
        () => {
          clearTimeout(timer);
          emulator.stop().then(() => emulator.destroy());
          if (start === 0 || end === 0) reject(new Error('v86: the guest exited without its marks'));
          else resolve((end - start) / 1000);
        },
        () => {},
        () => {},
        () => {},
      );
      emulator.run();
    });
  });
}
