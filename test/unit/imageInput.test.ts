import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { decodeImage, decodeMask, MAX_INPUT_PIXELS } from '../../src/engine/imageInput.ts';
import { isEaselError } from '../../src/shared/errors.ts';
import { sizeForImage } from '../../src/engine/editLimits.ts';
import { buildChunk, PNG_SIGNATURE } from '../../src/png/chunks.ts';

/** A valid PNG header claiming width × height, with a few bytes of image data. */
function hugePngHeader(width: number, height: number): Uint8Array {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8);
  const parts = [PNG_SIGNATURE, buildChunk('IHDR', header), buildChunk('IDAT', deflateSync(new Uint8Array(4096))), buildChunk('IEND', new Uint8Array(0))];
  return Buffer.concat(parts);
}

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isEaselError(error, 'IMAGE_INVALID'), String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

test('a 20 000 × 20 000 PNG header is refused from the header, without decoding', async () => {
  const before = process.memoryUsage().rss;
  await rejects(decodeImage(hugePngHeader(20000, 20000), 'huge.png'), /huge\.png is 20000×20000 pixels; Easel reads images up to 64 megapixels/);
  assert.ok(process.memoryUsage().rss - before < 256 * 1024 * 1024, 'no full-size buffer was allocated');
  assert.equal(MAX_INPUT_PIXELS, 8192 * 8192);
});

test('a truncated JPEG, a truncated PNG and a non-image are refused with the file named', async () => {
  const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#208040' } }).jpeg().toBuffer();
  await rejects(decodeImage(jpeg.subarray(0, jpeg.length - 10), 'cut.jpg'), /cut\.jpg could not be decoded .*truncated or damaged/);
  await rejects(decodeImage(jpeg.subarray(0, 200), 'head.jpg'), /head\.jpg is not a readable PNG, JPEG or WebP image/);
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#208040' } }).png().toBuffer();
  await rejects(decodeImage(png.subarray(0, png.length - 20), 'cut.png'), /cut\.png could not be decoded/);
  await rejects(decodeImage(new TextEncoder().encode('hello'), 'notes.txt'), /notes\.txt is not a readable/);
  const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).gif().toBuffer();
  await rejects(decodeImage(gif, 'a.gif'), /a\.gif is gif; use a PNG, JPEG or WebP image/);
});

test('an animated WebP is refused; a still WebP and JPEG decode to RGB', async () => {
  const frame = (colour: string) => sharp({ create: { width: 16, height: 16, channels: 3, background: colour } }).png().toBuffer();
  const animated = await sharp([await frame('#f00'), await frame('#00f')], { join: { animated: true } }).webp().toBuffer();
  await rejects(decodeImage(animated, 'anim.webp'), /anim\.webp is animated \(2 frames\)/);
  const still = await sharp({ create: { width: 24, height: 16, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } }).webp({ lossless: true }).toBuffer();
  const image = await decodeImage(still, 'still.webp');
  assert.deepEqual([image.width, image.height, image.rgb.length], [24, 16, 24 * 16 * 3]);
  assert.deepEqual([...image.rgb.subarray(0, 3)], [10, 200, 30], 'alpha is dropped, not blended');
});

test('a colour mask is weighed as PIL\'s convert("L") does', async () => {
  const rgb = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
  const png = await sharp(rgb, { raw: { width: 4, height: 1, channels: 3 } }).png().toBuffer();
  const mask = await decodeMask(png, 'mask.png');
  assert.deepEqual([...mask.gray], [76, 150, 29, 255]);
});

test('without a size, the image\'s own size rounded down to a multiple of 8 is used (and capped)', () => {
  assert.deepEqual(sizeForImage(517, 389, 2048), { width: 512, height: 384 });
  assert.deepEqual(sizeForImage(4096, 2048, 2048), { width: 2048, height: 1024 });
});
