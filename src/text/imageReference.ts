import * as nodePath from 'node:path';
import { commentSyntax } from './commentSyntax.ts';

import type { LinkStyle } from '../shared/names.ts';

const MARKDOWN_LANGUAGES = new Set(['markdown', 'mdx', 'rmd', 'quarto']);
const HTML_LANGUAGES = new Set(['html', 'vue', 'svelte', 'php', 'razor', 'handlebars', 'erb', 'jinja', 'astro']);

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function isMarkdownLanguage(languageId: string): boolean {
  return MARKDOWN_LANGUAGES.has(languageId);
}

/** `path.posix` or `path.win32`: the rule below is the same on every OS, and tested with both. */
type PathFlavour = Pick<nodePath.PlatformPath, 'relative' | 'isAbsolute' | 'sep'>;

/**
 * The path a link written in `fromFolder` uses to reach `target`: relative, with forward slashes on
 * every OS (Markdown, HTML and VS Code's preview all take them). The one rule for links inserted by
 * Generate from Selection, copied by Copy Markdown link, and the gallery's workspace-relative paths.
 * On Windows no relative path leads to another drive; then it is a `file:///C:/…` URL.
 */
export function linkPath(fromFolder: string, target: string, paths: PathFlavour = nodePath): string {
  const relative = paths.relative(fromFolder, target);
  if (!paths.isAbsolute(relative)) return relative.split(paths.sep).join('/');
  const parts = relative.split(/[\\/]/).filter((part) => part !== '');
  const encoded = parts.map((part, index) => (index === 0 && /^[A-Za-z]:$/.test(part) ? part : encodeURIComponent(part))).join('/');
  // A UNC path (\\server\share\…) names its host: file://server/share/…
  return /^[\\/]{2}/.test(relative) ? `file://${encoded}` : `file:///${encoded}`;
}

/** A text document as the Copy Markdown link rule sees it. */
export interface LinkDocument {
  /** The file's path (fsPath). */
  path: string;
  languageId: string;
  /** On disk (the `file` scheme): an untitled or virtual document has no folder to be relative to. */
  isFile: boolean;
}

/**
 * The Markdown document a copied link is meant for: the active editor's when it is a Markdown file,
 * else the one visible Markdown file (the panel has focus when its button is clicked, so the document
 * is usually in the editor beside it). Undefined when that does not decide: then the user is asked.
 */
export function markdownDocumentForLink<T extends LinkDocument>(active: T | undefined, visible: readonly T[]): T | undefined {
  const markdownFile = (document: T | undefined): document is T => document !== undefined && document.isFile && isMarkdownLanguage(document.languageId);
  if (markdownFile(active)) return active;
  const candidates = [...new Map(visible.filter(markdownFile).map((document) => [document.path, document])).values()];
  return candidates.length === 1 ? candidates[0] : undefined;
}

/**
 * A path as a link target: forward slashes, and every character Markdown or HTML would misread
 * percent-encoded — spaces, non-ASCII, `%`, and the parentheses that end a Markdown link early.
 * A `file:` URL from linkPath is already encoded.
 */
export function linkTarget(relativePath: string): string {
  if (relativePath.startsWith('file://')) return relativePath;
  return relativePath.split(/[\\/]/).map((part) => encodeURIComponent(part).replace(/[()]/g, (paren) => `%${paren.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');
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

const IMAGE_FILE = /\.(png|jpe?g|webp)$/i;

/**
 * Whether a line is a reference that imageReference writes (in any style, for this language's
 * comment syntax). Generate from Selection leaves these lines out of the prompt, so a link it inserted
 * never becomes part of the next one.
 */
export function isImageReferenceLine(line: string, languageId: string): boolean {
  const text = line.trim();
  const markdown = /^!\[(?:\\.|[^\\\]])*\]\(([^\s()]+)\)$/.exec(text);
  const html = /^<img src="([^"]*)" alt="[^"]*">$/.exec(text);
  const target = markdown?.[1] ?? html?.[1];
  if (target !== undefined) return IMAGE_FILE.test(target);
  const syntax = commentSyntax(languageId);
  const comment = [
    ...syntax.line.map((marker) => text.startsWith(`${marker.trimEnd()} Image: `) ? text.slice(marker.trimEnd().length + 8) : undefined),
    ...syntax.block.map(([open, close]) => (text.startsWith(`${open} Image: `) && text.endsWith(` ${close}`) ? text.slice(open.length + 8, text.length - close.length - 1) : undefined)),
  ].find((path) => path !== undefined);
  return comment !== undefined && IMAGE_FILE.test(comment.trim());
}
