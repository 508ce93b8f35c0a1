import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';
import { imageReference, isMarkdownLanguage, linkPath, markdownDocumentForLink, type LinkDocument } from '../text/imageReference.ts';

interface OpenMarkdown extends LinkDocument {
  uri: vscode.Uri;
}

function linkDocument(document: vscode.TextDocument): OpenMarkdown {
  return { uri: document.uri, path: document.uri.fsPath, languageId: document.languageId, isFile: document.uri.scheme === 'file' };
}

/**
 * "Copy Markdown link": a link relative to the Markdown document it will be pasted into — the active
 * or the one visible Markdown editor; otherwise the user picks one of the open Markdown files or the
 * workspace folder's root. The status bar says what the link is relative to.
 */
export async function copyMarkdownLink(image: { path: string; prompt: string }, folder: vscode.WorkspaceFolder | undefined): Promise<void> {
  const active = vscode.window.activeTextEditor?.document;
  let target: OpenMarkdown | undefined = markdownDocumentForLink(active && linkDocument(active), vscode.window.visibleTextEditors.map((editor) => linkDocument(editor.document)));
  let fromFolder: string;
  let relativeTo: string;
  if (target) {
    fromFolder = dirname(target.path);
    relativeTo = vscode.workspace.asRelativePath(target.uri);
  } else {
    const open = [...new Map(vscode.workspace.textDocuments.map(linkDocument).filter((document) => document.isFile && isMarkdownLanguage(document.languageId)).map((document) => [document.path, document])).values()];
    const root = folder ?? vscode.workspace.workspaceFolders?.[0];
    const rootItem = { label: '$(root-folder) The workspace folder\'s root', description: root?.uri.fsPath ?? dirname(image.path) };
    let picked: (vscode.QuickPickItem & { document?: OpenMarkdown }) | undefined = rootItem;
    if (open.length > 0) {
      picked = await vscode.window.showQuickPick(
        [...open.map((document) => ({ label: `$(markdown) ${basename(document.path)}`, description: vscode.workspace.asRelativePath(document.uri), document })), rootItem],
        { title: 'Easel: Copy Markdown link', placeHolder: 'Where will you paste the link? It is written relative to that file.' },
      );
      if (!picked) return;
    }
    target = picked.document;
    fromFolder = target ? dirname(target.path) : root?.uri.fsPath ?? dirname(image.path);
    relativeTo = target ? vscode.workspace.asRelativePath(target.uri) : `the root of ${root?.name ?? basename(fromFolder)} (open the Markdown file first for a link relative to it)`;
  }
  await vscode.env.clipboard.writeText(imageReference('markdown', linkPath(fromFolder, image.path), image.prompt, 'markdown')!);
  void vscode.window.setStatusBarMessage(`Easel: Markdown link copied, relative to ${relativeTo}`, 8000);
}
