import { cpSync, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { downloadModel } from '../src/models/download.ts';
import { FakeHub } from '../test/helpers/fakeHub.ts';
import { FIXTURE_VARIANTS, generateFixtureModel } from '../test/fixtures/generate.ts';
import { round, type Figures } from './engineBench.ts';

const BIG_FILE_BYTES = 256 * 1024 * 1024;

/** Download throughput from a loopback Hub, relative to a plain stream copy of the same bytes. */
export async function downloadBench(): Promise<Figures> {
  const root = mkdtempSync(join(tmpdir(), 'easel-bench-download-'));
  const hubFolder = join(root, 'repo');
  await generateFixtureModel(join(root, 'demo'), FIXTURE_VARIANTS.demo);
  cpSync(join(root, 'demo'), hubFolder, { recursive: true });
  writeFileSync(join(hubFolder, 'unet', 'weights.pb'), randomBytes(BIG_FILE_BYTES));
  const hub = new FakeHub('bench/model', hubFolder);
  await hub.start();
  try {
    const plainStarted = performance.now();
    await new Promise<void>((resolve, reject) => {
      get(`${hub.url}/cdn/${encodeURIComponent('unet/weights.pb')}`, (response) => {
        pipeline(response, createWriteStream(join(root, 'plain.bin'))).then(resolve, reject);
      }).on('error', reject);
    });
    const plainMs = performance.now() - plainStarted;
    const easelStarted = performance.now();
    await downloadModel({ repo: 'bench/model', destinationRoot: join(root, 'models'), endpoint: hub.url });
    const easelMs = performance.now() - easelStarted;
    const mib = hub.totalNeededBytes / 1024 / 1024;
    return {
      downloadMiBPerSec: round(mib / (easelMs / 1000), 1),
      plainCopyMiBPerSec: round((BIG_FILE_BYTES / 1024 / 1024) / (plainMs / 1000), 1),
      downloadThroughputVsPlainCopy: round((mib / easelMs) / ((BIG_FILE_BYTES / 1024 / 1024) / plainMs), 2),
    };
  } finally {
    await hub.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
