import * as http from 'node:http';
import * as https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { EaselError } from '../shared/errors.ts';

/** Statuses that mean "busy, come back later": retried, honouring Retry-After. */
const RETRYABLE_STATUSES = new Set([429, 503]);
/** The longest Retry-After Easel waits out; a server asking for more is reported instead. */
export const MAX_RETRY_WAIT_MS = 60_000;
/** Requests per URL when the server keeps answering 429/503. */
export const MAX_BUSY_ATTEMPTS = 4;

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
        resolve(httpGet(next.toString(), { ...options, headers: headersForRedirect(target, next, options.headers), maxRedirects: redirectsLeft - 1 }));
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

/**
 * The headers a redirect may carry on. Credentials go to the origin they were given for only: a
 * change of scheme (an https → http downgrade would send the token in clear text), host or port drops them.
 */
export function headersForRedirect(from: URL, to: URL, headers: Record<string, string> = {}): Record<string, string> {
  if (from.protocol === to.protocol && from.hostname === to.hostname && effectivePort(from) === effectivePort(to)) return { ...headers };
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !/^(authorization|cookie|proxy-authorization)$/i.test(name)));
}

function effectivePort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
}

/**
 * How long a busy server (429, 503) asks to be left alone: `Retry-After` in seconds or as an HTTP
 * date; without one, a short back-off that grows with each attempt. Undefined for other statuses.
 */
export function retryDelayMs(status: number, retryAfter: string | undefined, attempt: number, now = Date.now()): number | undefined {
  if (!RETRYABLE_STATUSES.has(status)) return undefined;
  const fallback = 500 * 2 ** (attempt - 1);
  const value = retryAfter?.trim();
  if (!value) return fallback;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : fallback;
}

/**
 * httpGet that waits out 429/503 answers (at most MAX_BUSY_ATTEMPTS requests, each wait at most
 * MAX_RETRY_WAIT_MS). Resolves with the first other answer, or the last busy one.
 */
export async function httpGetPolitely(url: string, options: RequestOptions = {}): Promise<http.IncomingMessage> {
  for (let attempt = 1; ; attempt++) {
    const response = await httpGet(url, options);
    const status = response.statusCode ?? 0;
    const header = response.headers['retry-after'];
    const wait = retryDelayMs(status, Array.isArray(header) ? header[0] : header, attempt);
    if (wait === undefined || attempt >= MAX_BUSY_ATTEMPTS) return response;
    response.resume();
    if (wait > MAX_RETRY_WAIT_MS) {
      throw new EaselError('MODEL_NOT_FOUND', `${new URL(url).host} is busy (HTTP ${status}) and asks to wait ${Math.ceil(wait / 1000)} s; try again later.`);
    }
    try {
      await sleep(wait, undefined, { signal: options.signal });
    } catch {
      throw new EaselError('CANCELLED', 'The download was cancelled.');
    }
  }
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
