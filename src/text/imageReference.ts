import { commentSyntax } from './commentSyntax.ts';

import type { LinkStyle } from '../shared/names.ts';

const MARKDOWN_LANGUAGES = new Set(['markdown', 'mdx', 'rmd', 'quarto']);
const HTML_LANGUAGES = new Set(['html', 'vue', 'svelte', 'php', 'razor', 'handlebars', 'erb', 'jinja', 'astro']);

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A relative path with forward slashes, encoded where Markdown and HTML need it. */
export function linkTarget(relativePath: string): string {
  return relativePath.split(/[\\/]/).map((part) => encodeURIComponent(part)).join('/');
}

/**
 * The text that refers to a generated image from a document: `![alt](path)` in Markdown,
 * `<img src alt>` in HTML, otherwise a comment in the document's own syntax. Undefined for `none`.
 */
export function imageReference(languageId: string, relativePath: string, alt: string, style: LinkStyle = 'auto'): string | undefined {
  if (style === 'none') return undefined;
  const resolved = style === 'auto' ? (MARKDOWN_LANGUAGES.has(languageId) ? 'markdown' : HTML_LANGUAGES.has(languageId) ? 'html' : 'comment') : style;
  const target = linkTarget(relativePath);
  const cleanAlt = alt.replace(/\s+/g, ' ').trim().slice(0, 200);
  switch (resolved) {
    case 'markdown':
      return `![${cleanAlt.replace(/([\\[\]])/g, '\\$1')}](${target})`;
    case 'html':
      return `<img src="${escapeAttribute(target)}" alt="${escapeAttribute(cleanAlt)}">`;
    default: {
      const syntax = commentSyntax(languageId);
      const text = `Image: ${relativePath.replace(/\\/g, '/')}`;
      const shortest = syntax.line.reduce<string | undefined>((best, marker) => (best === undefined || marker.trim().length < best.trim().length ? marker : best), undefined);
      if (shortest !== undefined) return `${shortest.trimEnd()} ${text}`;
      const [open, close] = syntax.block[0] ?? ['/*', '*/'];
      return `${open} ${text} ${close}`;
    }
  }
}
