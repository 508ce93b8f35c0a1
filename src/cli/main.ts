import { isEaselError } from '../shared/errors.ts';
import { EASEL_VERSION } from '../version.ts';
import { runGenerate } from './generateCommand.ts';
import { runInspect } from './inspectCommand.ts';
import { runModels } from './modelsCommand.ts';

const HELP = `Easel ${EASEL_VERSION} — local Stable Diffusion

Usage:
  easel generate --model DIR|FILE.safetensors --prompt TEXT --out FILE.png [options]
  easel inspect FILE.png [--json]
  easel models list [--dir DIR] | easel models download OWNER/REPO [--revision R] [--dir D]
  easel models import FILE.safetensors [--name NAME] [--dir D] [--tokenizer DIR]
  easel --version

Run "easel <command> --help" for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'generate':
      return runGenerate(rest);
    case 'inspect':
      return runInspect(rest);
    case 'models':
      return runModels(rest);
    case '--version':
    case '-v':
      process.stdout.write(`${EASEL_VERSION}\n`);
      return 0;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`easel: unknown command "${command}". Run "easel --help".\n`);
      return 2;
  }
}

/** Every failure ends as one line on stderr and exit code 1 (2 for usage), never a crash dump. */
function fail(error: unknown): void {
  const usage = error instanceof TypeError && 'code' in error && String((error as { code: unknown }).code).startsWith('ERR_PARSE_ARGS');
  const message = isEaselError(error) || usage ? (error as Error).message : `unexpected failure: ${(error as Error)?.stack ?? String(error)}`;
  process.stderr.write(`easel: error: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exitCode = usage ? 2 : 1;
}

// A rejection nobody awaited would otherwise print Node's crash dump and exit with no sentence.
process.on('unhandledRejection', (error) => {
  fail(error);
  process.exit();
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  fail,
);
