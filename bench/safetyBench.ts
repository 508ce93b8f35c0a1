import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectModelFolder } from '../src/engine/modelFolder.ts';
import { loadModel } from '../src/engine/modelSessions.ts';
import { generate } from '../src/engine/pipeline.ts';
import { validateParams } from '../src/engine/generationParams.ts';
import { loadSafetyChecker } from '../src/engine/safetyChecker.ts';
import { checkPrompt } from '../src/safety/promptFilter.ts';
import { FIXTURE_VARIANTS, generateFixtureModel } from '../test/fixtures/generate.ts';
import { median, round, type Figures } from './engineBench.ts';

/** Cost of the safety checker on a 512×512 image (fixture checker) and of the prompt filter on 1,000 characters. */
export async function safetyBench(): Promise<Figures> {
  const root = mkdtempSync(join(tmpdir(), 'easel-bench-safety-'));
  try {
    const folder = await inspectModelFolder(await generateFixtureModel(join(root, 'safety'), FIXTURE_VARIANTS.safety));
    const model = await loadModel(folder, 'cpu');
    const checker = (await loadSafetyChecker(folder, 'cpu'))!;
    const [image] = await generate(model, validateParams({ prompt: 'a red square on a desert', width: 512, height: 512, steps: 4, cfgScale: 1 }, model));
    const checkTimes: number[] = [];
    for (let i = 0; i < 12; i++) {
      const started = performance.now();
      await checker.check(image.rgb, 512, 512);
      if (i >= 2) checkTimes.push(performance.now() - started);
    }
    await checker.release();
    await model.release();
    const words = ['a', 'detailed', 'matte', 'painting', 'of', 'a', 'lighthouse', 'on', 'a', 'cliff', 'at', 'dusk,', 'dramatic', 'clouds,', 'cinematic', 'lighting'];
    let prompt = '';
    for (let i = 0; prompt.length < 1000; i++) prompt += `${words[i % words.length]} `;
    prompt = prompt.slice(0, 1000);
    const filterTimes: number[] = [];
    for (let i = 0; i < 300; i++) {
      const started = performance.now();
      checkPrompt(prompt, { mode: 'warn', blockedTerms: ['gore', 'blood'], allowedTerms: ['blood orange'] });
      if (i >= 50) filterTimes.push(performance.now() - started);
    }
    return { safetyCheckerMs512: round(median(checkTimes)), promptFilterMs1000Chars: round(median(filterTimes), 4) };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
