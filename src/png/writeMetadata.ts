import sharp from 'sharp';
import { EASEL_SOFTWARE } from '../version.ts';
import { insertBeforeImageData } from './chunks.ts';
import type { EaselRecord } from './imageParameters.ts';
import { formatInfotext } from './infotext.ts';
import { internationalTextChunk, textChunk } from './textChunks.ts';

import { EASEL_KEYWORD, EASEL_SCHEMA, INFOTEXT_KEYWORD, TRAINED_ALGORITHMIC_MEDIA, XMP_KEYWORD } from './keywords.ts';

export * from './keywords.ts';

function escapeXml(text: string): string {
  return text
    .replace(/[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** XMP marking the image as made by a trained model (IPTC digital source type), with the prompt. */
export function xmpPacket(prompt: string, creatorTool = EASEL_SOFTWARE): string {
  return [
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
    '  <rdf:Description rdf:about=""',
    '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
    '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
    '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"',
    `    Iptc4xmpExt:DigitalSourceType="${TRAINED_ALGORITHMIC_MEDIA}"`,
    `    xmp:CreatorTool="${escapeXml(creatorTool)}">`,
    `   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">${escapeXml(prompt)}</rdf:li></rdf:Alt></dc:description>`,
    '  </rdf:Description>',
    ' </rdf:RDF>',
    '</x:xmpmeta>',
    '<?xpacket end="w"?>',
  ].join('\n');
}

export function easelRecordText(record: EaselRecord): string {
  return JSON.stringify({ schema: EASEL_SCHEMA, ...record });
}

export interface MetadataOptions {
  /** Embed the IPTC "trained algorithmic media" XMP (on unless turned off explicitly). */
  provenance?: boolean;
  /** Extra A1111 "Key: value" pairs (e.g. an NSFW flag). */
  extraInfotext?: Record<string, string>;
}

/**
 * The A1111 infotext an Easel image carries in its `parameters` chunk, with our `Version` and the extra pairs (the
 * safety flag). Built once, where the PNG is written; "Copy parameters" copies this text, never a rebuilt one.
 */
export function imageInfotext(record: EaselRecord, options: MetadataOptions = {}): string {
  return formatInfotext({ ...record, version: `Easel ${record.appVersion}` }, options.extraInfotext);
}

/**
 * The text chunks every Easel image carries: A1111 `parameters` (`infotext`, built from the record unless the
 * caller built it already), our `easel` JSON, XMP, `Software`.
 */
export function metadataChunks(record: EaselRecord, options: MetadataOptions = {}, infotext = imageInfotext(record, options)): Uint8Array[] {
  const chunks = [
    textChunk(INFOTEXT_KEYWORD, infotext),
    internationalTextChunk(EASEL_KEYWORD, easelRecordText(record)),
  ];
  if (options.provenance !== false) chunks.push(internationalTextChunk(XMP_KEYWORD, xmpPacket(record.prompt)));
  chunks.push(textChunk('Software', EASEL_SOFTWARE));
  return chunks;
}

/** Encodes 8-bit RGB as PNG (sharp) and adds the metadata chunks (see metadataChunks) before the image data. */
export async function encodePng(rgb: Uint8Array, width: number, height: number, record: EaselRecord, options: MetadataOptions = {}, infotext?: string): Promise<Uint8Array> {
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
  return insertBeforeImageData(new Uint8Array(png.buffer, png.byteOffset, png.byteLength), metadataChunks(record, options, infotext));
}
