import { infotextChunkText, type ImageMetadata } from '../png/readMetadata.ts';
import type { PanelSettings } from '../protocol/panelMessages.ts';

/** What the gallery remembers of an image it wrote (in workspace state, across reloads). */
export interface ImageRecord {
  path: string;
  relativePath: string;
  settings: PanelSettings;
  seed: string;
  /**
   * The A1111 infotext the worker wrote into the PNG, exactly: what "Copy parameters" copies. Records saved by
   * earlier versions lack it (their `parameters` was rebuilt by the host, without `Version` or the safety flag,
   * and is not used).
   */
  infotext?: string;
}

/**
 * The text "Copy parameters" copies: the record's infotext, or for a record saved before it was kept, the PNG's
 * own `parameters` chunk (read with `readMetadata`), never a rebuild; undefined when the PNG has none.
 */
export async function recordInfotext(record: ImageRecord, readMetadata: (path: string) => Promise<Pick<ImageMetadata, 'chunks'>>): Promise<string | undefined> {
  return record.infotext ?? infotextChunkText(await readMetadata(record.path));
}
