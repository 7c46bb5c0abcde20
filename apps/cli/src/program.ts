import { IMAGE_FORMATS } from '@kvm-ts/vmm';
import { Command, Option } from 'commander';
import { nativeAbi, toJson } from './commands/abi.js';
import { formatInfo, gatherInfo } from './commands/info.js';
import { BACKEND_CHOICES } from './commands/open-backend.js';
import { type RunIo, type RunOptions, runDemo, runImage } from './commands/run.js';
import { parseAddress, parseFormat, parsePositiveInt, parseSeconds, parseSize } from './values.js';

const EXIT_STATUS_HELP = `
Exit status:
  0     the guest powered off, reset the machine or halted
  odd   the guest wrote v to port 0xf4: (v << 1) | 1, as QEMU's isa-debug-exit
  2     the command line, the image or the backend was refused
  4     the guest triple-faulted (KVM_EXIT_SHUTDOWN)
  6     internal error (KVM_EXIT_INTERNAL_ERROR, FAIL_ENTRY, an unexpected exit)
  8     --timeout expired
  130   stopped with Ctrl-A X or SIGINT`;

function backendOption(): Option {
  // Without the option, openKvm reads KVM_TS_BACKEND itself (and treats an empty value as unset).
  return new Option(
    '--backend <name>',
    'which backend runs the guest (default: $KVM_TS_BACKEND, else auto)',
  ).choices([...BACKEND_CHOICES]);
}

/** The `kvm-ts` command. `setStatus` receives the exit status a command finished with. */
export function buildProgram(io: RunIo, setStatus: (status: number) => void): Command {
  const program = new Command('kvm-ts')
    .description('The Linux KVM API for Node.js: inspect a backend, print the native ABI, run guests.')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`kvm-ts: ${s.replace(/^error: /, '')}`),
    })
    .addHelpText(
      'after',
      `
Examples:
  kvm-ts demo                          run the built-in demo guest on the best backend
  kvm-ts info                          what backend this machine gets, and what it offers
  kvm-ts run boot.bin                  a boot sector, entered at 0000:7C00 in real mode
  kvm-ts run --initrd initrd.gz --append "console=ttyS0" vmlinuz`,
    );

  program
    .command('info')
    .description(
      'Show the backend, why it was chosen, API version, vCPU mmap size, max vCPUs, capabilities, CPUID, MSRs.',
    )
    .addOption(backendOption())
    .option('--json', 'print JSON instead of text')
    .addHelpText('after', '\nExamples:\n  kvm-ts info\n  kvm-ts info --backend emulator --json')
    .action(async (options: { backend?: string; json?: boolean }) => {
      const info = await gatherInfo(options.backend);
      io.stdout.write(options.json ? toJson(info) : formatInfo(info));
      setStatus(0);
    });

  program
    .command('abi')
    .description("Print the native backend's ioctl numbers and struct layouts.")
    .option('--json', 'print JSON (the only format)')
    .addHelpText('after', '\nExamples:\n  kvm-ts abi --json\n  kvm-ts abi --json > abi.json')
    .action(async () => {
      io.stdout.write(toJson(await nativeAbi()));
      setStatus(0);
    });

  program
    .command('run')
    .description("Load an image into a new VM and run it; the guest's serial console is this terminal.")
    .argument('<image>', 'kernel or binary to boot')
    .addOption(backendOption())
    .addOption(
      new Option('--format <format>', 'image format')
        .choices([...IMAGE_FORMATS])
        .default('auto')
        .argParser(parseFormat),
    )
    .option('--mem <size>', 'guest RAM, up to 3G', parseSize, 256 * 1024 * 1024)
    .option(
      '--cpus <n>',
      "vCPUs; the BSP starts the others, found in the MP table (at most the backend's KVM_CAP_MAX_VCPUS)",
      parsePositiveInt,
      1,
    )
    .option(
      '--load-addr <addr>',
      'flat images: load address (default 0x7c00 in real mode, 0x100000 otherwise)',
      parseAddress,
    )
    .option('--entry <addr>', 'flat images: entry address (default: the load address)', parseAddress)
    .addOption(
      new Option('--mode <mode>', 'flat images: CPU mode to start in (default real)').choices([
        'real',
        'protected',
        'long',
      ]),
    )
    .option('--initrd <file>', 'initramfs (bzImage, PVH) or module (multiboot)')
    .option('--append <cmdline>', 'kernel command line')
    .option('--timeout <seconds>', 'stop the guest after this long (status 8)', parseSeconds)
    .option('--trace-exits', 'print every VM exit on stderr')
    .addHelpText(
      'after',
      `
Examples:
  kvm-ts run boot.bin
  kvm-ts run --mode long --load-addr 0x100000 kernel.bin
  kvm-ts run kernel.elf --timeout 10
  kvm-ts run --format multiboot --append "verbose" --initrd module.bin kernel.elf
  kvm-ts run --mem 512M --initrd initramfs.cpio.gz \\
    --append "console=ttyS0 reboot=t panic=-1 pci=off" vmlinuz
  kvm-ts run --cpus 2 --mem 512M --initrd initramfs.cpio.gz --append "console=ttyS0" vmlinuz
${EXIT_STATUS_HELP}`,
    )
    .action(async (image: string, options: RunOptions) => {
      setStatus(await runImage(image, null, options, io));
    });

  program
    .command('demo')
    .description('Run the built-in demo guest: real mode to long mode, names its hypervisor, counts primes.')
    .addOption(backendOption())
    .option('--timeout <seconds>', 'stop the guest after this long (status 8)', parseSeconds)
    .option('--trace-exits', 'print every VM exit on stderr')
    .addHelpText('after', `\nExamples:\n  kvm-ts demo\n  kvm-ts demo --backend emulator\n${EXIT_STATUS_HELP}`)
    .action(async (options: RunOptions) => {
      setStatus(await runDemo(options, io));
    });

  return program;
}
