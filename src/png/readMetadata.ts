import { open, stat } from 'node:fs/promises';
import { EaselError, isEaselError } from '../shared/errors.ts';
import { readChunks, readChunksFromFile, type PngChunk } from './chunks.ts';
import type { MetadataReadResult, MetadataSource } from './imageParameters.ts';
import { parseInfotext } from './infotext.ts';
import { readComfyGraph } from './readers/comfyuiReader.ts';
import { readEaselChunk } from './readers/easelReader.ts';
import { readFooocus, readInvokeAi, readNovelAi } from './readers/otherTools.ts';
import { DEFAULT_TEXT_LIMITS, decodeTextChunks, textChunkReadOptions, type TextEntry } from './textChunks.ts';
import { EASEL_KEYWORD, INFOTEXT_KEYWORD } from './keywords.ts';

export interface ImageMetadata extends MetadataReadResult {
  /** Every text chunk found, as written. */
  chunks: TextEntry[];
}

/** The largest file read for metadata. */
export const MAX_METADATA_FILE_BYTES = 256 * 1024 * 1024;

/**
 * Reads how an image was made from its PNG text chunks, trying our own chunk, then A1111 (and
 * Forge, SD.Next), Fooocus, ComfyUI, InvokeAI and NovelAI. Structural damage (not a PNG, a bad CRC,
 * a chunk past the end) is an EaselError; odd metadata is reported in `problems`.
 */
export function readImageMetadata(bytes: Uint8Array): ImageMetadata {
  return metadataFromChunks(readChunks(bytes, textChunkReadOptions()));
}

/** The `parameters` chunk's text exactly as it was written (the A1111 infotext), unparsed; undefined when there is none. */
export function infotextChunkText(metadata: Pick<ImageMetadata, 'chunks'>): string | undefined {
  return metadata.chunks.find((entry) => entry.keyword === INFOTEXT_KEYWORD)?.text;
}

function metadataFromChunks(chunks: PngChunk[]): ImageMetadata {
  const { entries, problems } = decodeTextChunks(chunks, DEFAULT_TEXT_LIMITS);
  const text = (keyword: string) => entries.find((entry) => entry.keyword === keyword)?.text;
  const result = (source: MetadataSource, read: { parameters: MetadataReadResult['parameters']; unmapped?: string[]; problems?: string[] }): ImageMetadata => ({
    source,
    parameters: read.parameters,
    unmapped: read.unmapped ?? [],
    problems: [...problems, ...(read.problems ?? [])],
    chunks: entries,
  });

  // A reader that refuses its chunk (JSON nested too deeply) leaves the others to try theirs.
  const attempt = <T>(keyword: string, read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      if (!isEaselError(error, 'PNG_INVALID')) throw error;
      problems.push(`"${keyword}" chunk: ${error.message}`);
      return undefined;
    }
  };

  const easel = text(EASEL_KEYWORD);
  if (easel !== undefined) {
    const read = attempt(EASEL_KEYWORD, () => readEaselChunk(easel));
    if (read && Object.keys(read.parameters).length > 0) return result('easel', read);
    problems.push(...(read?.problems ?? []));
  }
  const parametersText = text(INFOTEXT_KEYWORD);
  if (parametersText !== undefined) {
    if (text('fooocus_scheme') === 'fooocus' || parametersText.trimStart().startsWith('{')) {
      const read = attempt(INFOTEXT_KEYWORD, () => readFooocus(parametersText));
      if (read) return result('fooocus', read);
    }
    return result('a1111', parseInfotext(parametersText));
  }
  const comfy = text('prompt');
  if (comfy !== undefined) {
    const read = attempt('prompt', () => readComfyGraph(comfy) ?? null);
    if (read) return result('comfyui', read);
    if (read === null) problems.push('the "prompt" chunk is not a ComfyUI graph');
  }
  const invoke = text('invokeai_metadata');
  if (invoke !== undefined) {
    const read = attempt('invokeai_metadata', () => readInvokeAi(invoke) ?? null);
    if (read) return result('invokeai', read);
    if (read === null) problems.push('the invokeai_metadata chunk is not a JSON object');
  }
  const comment = text('Comment');
  if (comment !== undefined) {
    const read = attempt('Comment', () => readNovelAi(comment, text('Description'), text('Source')));
    if (read) return result('novelai', read);
  }
  return result('none', { parameters: {} });
}

export async function readImageMetadataFile(path: string): Promise<ImageMetadata> {
  let handle;
  try {
    // Opening a pipe or a device blocks until someone writes to it, holding one of Node's few I/O threads meanwhile.
    if (!(await stat(path)).isFile()) throw new EaselError('PNG_INVALID', 'it is not a regular file (a pipe or a device), so it is not read.');
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    if (size > MAX_METADATA_FILE_BYTES) throw new EaselError('PNG_INVALID', `${path} is larger than ${MAX_METADATA_FILE_BYTES / 1024 / 1024} MiB; it is not read.`);
    return metadataFromChunks(await readChunksFromFile(handle, textChunkReadOptions()));
  } catch (error) {
    if (error instanceof EaselError) throw new EaselError(error.code, `${path}: ${error.message}`, { cause: error });
    throw new EaselError('PNG_INVALID', `Cannot read ${path}: ${(error as Error).message}.`, { cause: error });
  } finally {
    await handle?.close();
  }
}
