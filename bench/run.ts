/**
 * `npm run bench` prints each benchmark's figures; `npm run bench -- --json` prints one JSON object.
 * `--only NAME` runs one section (engine, png, service, download, safety, checkpoint, speed).
 */
import { engineBench, type Figures } from './engineBench.ts';
import { pngBench } from './pngBench.ts';
import { serviceBench } from './serviceBench.ts';
import { downloadBench } from './downloadBench.ts';
import { safetyBench } from './safetyBench.ts';
import { checkpointBench } from './checkpointBench.ts';
import { speedBench } from './speedBench.ts';

const sections: Record<string, () => Promise<Figures>> = {
  engine: engineBench,
  png: pngBench,
  service: serviceBench,
  download: downloadBench,
  safety: safetyBench,
  checkpoint: checkpointBench,
  speed: speedBench,
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const all: Figures = {};
  for (const [name, run] of Object.entries(sections)) {
    if (only && only !== name) continue;
    const figures = await run();
    Object.assign(all, figures);
    if (!json) {
      process.stdout.write(`\n== ${name}\n`);
      for (const [key, value] of Object.entries(figures)) process.stdout.write(`${key.padEnd(44)} ${value}\n`);
    }
  }
  if (json) process.stdout.write(`${JSON.stringify(all)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
