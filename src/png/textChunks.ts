import { inflateSync } from 'node:zlib';
import { buildChunk, type ChunkReadOptions, type PngChunk } from './chunks.ts';

export const TEXT_CHUNK_TYPES = new Set(['tEXt', 'zTXt', 'iTXt']);

export interface TextEntry {
  keyword: string;
  text: string;
  chunkType: 'tEXt' | 'zTXt' | 'iTXt';
}

export interface TextLimits {
  /** Largest text one chunk may hold, stored or inflated (a larger chunk is not even read). */
  maxInflatedBytes: number;
  /** Largest total text kept from one file. */
  maxTotalBytes: number;
}

export const DEFAULT_TEXT_LIMITS: TextLimits = { maxInflatedBytes: 8 * 1024 * 1024, maxTotalBytes: 32 * 1024 * 1024 };

/** How to walk a PNG for its text: only text chunks' data is read, and no more of it than the limits allow. */
export function textChunkReadOptions(limits: TextLimits = DEFAULT_TEXT_LIMITS): ChunkReadOptions {
  return { wanted: (type) => TEXT_CHUNK_TYPES.has(type), maxDataBytes: limits.maxInflatedBytes, maxWantedBytes: limits.maxTotalBytes };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** ISO-8859-1, as the PNG specification defines tEXt and zTXt (TextDecoder's "latin1" is windows-1252). */
function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function isLatin1(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}

function keywordBytes(keyword: string): Uint8Array {
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword) || keyword.startsWith(' ') || keyword.endsWith(' ')) {
    throw new RangeError(`Invalid PNG text keyword ${JSON.stringify(keyword)}.`);
  }
  return Buffer.from(keyword, 'latin1');
}

/** tEXt when the text is Latin-1 (what A1111 writes), otherwise uncompressed UTF-8 iTXt. */
export function textChunk(keyword: string, text: string): Uint8Array {
  if (!isLatin1(text)) return internationalTextChunk(keyword, text);
  return buildChunk('tEXt', Buffer.concat([keywordBytes(keyword), Buffer.of(0), Buffer.from(text, 'latin1')]));
}

export function internationalTextChunk(keyword: string, text: string): Uint8Array {
  return buildChunk('iTXt', Buffer.concat([keywordBytes(keyword), Buffer.of(0, 0, 0, 0, 0), Buffer.from(text, 'utf8')]));
}

function inflateCapped(data: Uint8Array, limit: number): Uint8Array {
  return inflateSync(data, { maxOutputLength: limit });
}

/**
 * Decodes tEXt, zTXt and iTXt chunks. A chunk that is malformed, inflates past the cap or holds
 * invalid UTF-8 is skipped and described in `problems`; nothing here throws on hostile input.
 */
export function decodeTextChunks(chunks: PngChunk[], limits: TextLimits = DEFAULT_TEXT_LIMITS): { entries: TextEntry[]; problems: string[] } {
  const entries: TextEntry[] = [];
  const problems: string[] = [];
  let total = 0;
  for (const chunk of chunks) {
    if (!TEXT_CHUNK_TYPES.has(chunk.type)) continue;
    const type = chunk.type as TextEntry['chunkType'];
    const data = chunk.data;
    // Sizes are checked before anything is decoded, so memory stays within a small multiple of the limits.
    const tooLarge = chunk.unread ?? (data.length > limits.maxInflatedBytes ? `holds ${data.length} bytes, more than the ${limits.maxInflatedBytes} read from one chunk; it was not read` : undefined);
    if (tooLarge) {
      problems.push(`${type} chunk at byte ${chunk.offset} ${tooLarge}`);
      continue;
    }
    const room = limits.maxTotalBytes - total;
    const inflateCap = Math.min(limits.maxInflatedBytes, room);
    if (room <= 0 || (type !== 'zTXt' && data.length > room)) {
      problems.push(`text metadata beyond ${limits.maxTotalBytes} bytes was not read`);
      break;
    }
    const nul = data.indexOf(0);
    if (nul < 1 || nul > 79) {
      problems.push(`${type} chunk at byte ${chunk.offset}: missing or invalid keyword`);
      continue;
    }
    const keyword = latin1(data.subarray(0, nul));
    try {
      let text: string;
      if (type === 'tEXt') {
        text = latin1(data.subarray(nul + 1));
      } else if (type === 'zTXt') {
        if (data[nul + 1] !== 0) throw new Error('unknown compression method');
        text = latin1(inflateCapped(data.subarray(nul + 2), inflateCap));
      } else {
        const compressed = data[nul + 1];
        const method = data[nul + 2];
        const languageEnd = data.indexOf(0, nul + 3);
        const translatedEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
        if (translatedEnd < 0 || (compressed !== 0 && compressed !== 1)) throw new Error('malformed iTXt header');
        let body = data.subarray(translatedEnd + 1);
        if (compressed === 1) {
          if (method !== 0) throw new Error('unknown compression method');
          body = inflateCapped(body, inflateCap);
        }
        text = utf8.decode(body);
      }
      total += text.length;
      entries.push({ keyword, text, chunkType: type });
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError
        ? `inflates past ${inflateCap} bytes`
        : (error as Error).message;
      problems.push(`${type} "${keyword}": ${reason}`);
    }
  }
  return { entries, problems };
}
