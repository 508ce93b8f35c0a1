import { commentSyntax } from './commentSyntax.ts';
import { isImageReferenceLine } from './imageReference.ts';

/**
 * The prose of a selected comment, without its syntax: block delimiters, line markers, JSDoc's
 * leading `*`, and the surrounding whitespace, joined into one line for use as a prompt. Lines that
 * are Easel's own image references (`// Image: …`, `![…](….png)`) are not prose and are left out.
 */
export function stripCommentSyntax(text: string, languageId: string): string {
  const syntax = commentSyntax(languageId);
  let body = text.split(/\r?\n/).filter((line) => !isImageReferenceLine(line, languageId)).join('\n').trim();
  const opening = syntax.block.find(([open]) => body.startsWith(open));
  const pair = opening ?? syntax.block.find(([, close]) => body.endsWith(close));
  if (pair) {
    const [open, close] = pair;
    if (opening) body = body.slice(open.length);
    if (body.endsWith(close)) body = body.slice(0, body.length - close.length);
  }
  const lines = body.split(/\r?\n/).map((raw) => {
    let line = raw.trim();
    const marker = syntax.line.find((candidate) => line.startsWith(candidate) || (candidate.endsWith(' ') && line === candidate.trim()));
    if (marker) line = line.slice(Math.min(marker.length, line.length));
    else if (syntax.block.some(([open]) => open.startsWith('/*')) && /^\*(?!\/)/.test(line)) line = line.slice(1);
    return line.trim();
  });
  return lines.filter((line) => line !== '').join(' ').replace(/\s+/g, ' ').trim();
}
