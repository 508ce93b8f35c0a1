import { open } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';
import { buildChunk } from '../../src/png/chunks.ts';
import { DEFAULT_TEXT_LIMITS } from '../../src/png/textChunks.ts';
import { iTXt, tEXt, withChunks, zTXt } from './pngSamples.ts';

/** JSON whose `key` holds `depth` nested arrays. */
export function deepJson(fields: Record<string, unknown>, key: string, depth: number): string {
  return JSON.stringify({ ...fields, [key]: 0 }).replace(/0}$/, `${'['.repeat(depth)}${']'.repeat(depth)}}`);
}

function zTXtBytes(keyword: string, text: Buffer): Uint8Array {
  return buildChunk('zTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0, 0), deflateSync(text, { level: 9 })]));
}

/**
 * Files that once froze or crashed the readers (issue 11), built around a real PNG: the regex that
 * went quadratic, deep JSON for every JSON reader, a zTXt bomb, and text right at the size limits.
 */
export function hostileCorpus(png: Uint8Array): Array<{ name: string; bytes: Uint8Array }> {
  const cap = DEFAULT_TEXT_LIMITS.maxInflatedBytes;
  const line = (length: number) => Buffer.alloc(length, 'a');
  return [
    { name: 'A1111 300 KB last line without a colon', bytes: withChunks(png, [tEXt('parameters', `prompt\n${'a'.repeat(300_000)}`)]) },
    { name: 'zTXt of 1.4 KB inflating to a 1 MB line', bytes: withChunks(png, [zTXtBytes('parameters', line(1_000_000))]) },
    { name: 'A1111 line at the chunk limit, zTXt', bytes: withChunks(png, [zTXtBytes('parameters', Buffer.concat([Buffer.from('p\n'), Buffer.alloc(cap - 2, 'ab: "\\\\')]))]) },
    { name: 'four zTXt chunks at the limit (total limit)', bytes: withChunks(png, ['parameters', 'prompt', 'Comment', 'workflow', 'extra'].map((keyword) => zTXtBytes(keyword, line(cap)))) },
    { name: 'zTXt bomb (64 MiB of zeros)', bytes: withChunks(png, [zTXtBytes('parameters', Buffer.alloc(64 * 1024 * 1024))]) },
    { name: 'tEXt one byte over the chunk limit', bytes: withChunks(png, [tEXt('parameters', 'a'.repeat(cap + 1))]) },
    { name: 'InvokeAI JSON 10 000 arrays deep', bytes: withChunks(png, [iTXt('invokeai_metadata', deepJson({ positive_prompt: 'p' }, 'loras', 10_000))]) },
    { name: 'Fooocus JSON 10 000 arrays deep', bytes: withChunks(png, [tEXt('fooocus_scheme', 'fooocus'), tEXt('parameters', deepJson({ prompt: 'p' }, 'styles', 10_000))]) },
    { name: 'NovelAI JSON 10 000 arrays deep', bytes: withChunks(png, [tEXt('Comment', deepJson({ prompt: 'p' }, 'sm', 10_000))]) },
    { name: 'ComfyUI graph 10 000 arrays deep', bytes: withChunks(png, [tEXt('prompt', deepJson({}, '3', 10_000))]) },
    { name: 'easel chunk 10 000 objects deep', bytes: withChunks(png, [iTXt('easel', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`)]) },
    { name: 'JSON string at the chunk limit', bytes: withChunks(png, [zTXt('invokeai_metadata', `{"positive_prompt":"${'x'.repeat(cap - 40)}"}`)]) },
    { name: 'JSON array at the chunk limit', bytes: withChunks(png, [zTXt('invokeai_metadata', `{"loras":[${'[0],'.repeat(cap / 4 - 4)}0]}`)]) },
  ];
}

/**
 * A PNG file with one `textBytes`-byte tEXt chunk after IHDR, written sparsely (the chunk's data is a
 * hole, its CRC never computed), so a 200 MB chunk costs neither disk nor test time.
 */
export async function writeHugeTextChunkPng(path: string, png: Uint8Array, textBytes: number): Promise<void> {
  const ihdrEnd = 8 + 12 + 13;
  const header = Buffer.alloc(8 + 11);
  header.writeUInt32BE(textBytes, 0);
  header.write('tEXtparameters\0', 4, 'latin1');
  const rest = png.subarray(ihdrEnd);
  const handle = await open(path, 'w');
  try {
    await handle.write(png, 0, ihdrEnd, 0);
    await handle.write(header, 0, header.length, ihdrEnd);
    await handle.write(rest, 0, rest.length, ihdrEnd + 12 + textBytes);
  } finally {
    await handle.close();
  }
}
