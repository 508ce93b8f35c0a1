import * as http from 'node:http';
import * as https from 'node:https';
import { EaselError } from '../engine/errors.ts';

export interface RequestOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  maxRedirects?: number;
  timeoutMs?: number;
}

/**
 * GET with redirects through node's http/https modules, which VS Code's extension host patches to
 * honour the user's proxy settings (`http.proxy`). Resolves with the final response, unread.
 */
export function httpGet(url: string, options: RequestOptions = {}): Promise<http.IncomingMessage> {
  const redirectsLeft = options.maxRedirects ?? 8;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(new EaselError('CANCELLED', 'The download was cancelled.'));
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
    if (!client) return reject(new EaselError('INVALID_REQUEST', `Unsupported URL ${url}.`));
    const request = client.get(target, { headers: { 'user-agent': 'easel-vscode', ...options.headers }, signal: options.signal }, (response) => {
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status >= 300 && status < 400 && location) {
        response.resume();
        if (redirectsLeft <= 0) return reject(new EaselError('INVALID_REQUEST', `Too many redirects from ${url}.`));
        const next = new URL(location, target);
        const headers = { ...options.headers };
        // Credentials go to the Hub only, never to the CDN it redirects to.
        if (next.host !== target.host) delete headers.authorization;
        resolve(httpGet(next.toString(), { ...options, headers, maxRedirects: redirectsLeft - 1 }));
        return;
      }
      resolve(response);
    });
    request.setTimeout(options.timeoutMs ?? 60_000, () => request.destroy(new Error(`No response from ${target.host} for ${(options.timeoutMs ?? 60_000) / 1000} s`)));
    request.on('error', (error) => {
      if (options.signal?.aborted) reject(new EaselError('CANCELLED', 'The download was cancelled.'));
      else reject(error);
    });
  });
}

export async function readBody(response: http.IncomingMessage, limit = 16 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new EaselError('INVALID_REQUEST', 'The Hub sent an unexpectedly large answer.');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
