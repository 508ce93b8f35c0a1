import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { MODEL_SETTINGS_FILE } from '../../src/shared/recommendedSettings.ts';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';

interface RepoFile {
  path: string;
  bytes: Buffer;
  sha256: string;
  lfs: boolean;
  extra?: boolean;
}

/**
 * A loopback server that plays the Hub endpoints Easel uses: the tree listing with LFS SHA-256,
 * the model-info licence, and /resolve/ with a redirect to a CDN path that honours Range.
 */
export class FakeHub {
  readonly servedBytes = new Map<string, number>();
  readonly rangeRequests: string[] = [];
  /** Close the connection after this many bytes of a file, once. */
  readonly dropAfter = new Map<string, number>();
  /** Serve these files with one byte changed. */
  readonly corrupt = new Set<string>();
  /** Answer every request for this repo with this status. */
  statusOverride?: number;
  /** Answer /resolve/ for a file with this status (and Retry-After) the next `times` requests. */
  readonly busy = new Map<string, { status: number; retryAfter?: string; times: number }>();
  /** Send this many bytes beyond a file's listed size; `announce` says so in Content-Length, else chunked. */
  readonly oversize = new Map<string, { extra: number; announce: boolean }>();
  /** Rewrites the tree listing before it is sent (hostile entries). */
  listingPatch?: (entries: Array<Record<string, unknown>>) => Array<Record<string, unknown>>;
  /** Redirect /resolve/ to this origin instead of our own (another port or host name). */
  cdnOrigin?: string;
  /** Every request: its path, when it came, and the Authorization header it carried. */
  readonly requests: Array<{ path: string; at: number; authorization?: string }> = [];
  license = 'creativeml-openrail-m';
  private readonly files: RepoFile[];
  private server?: Server;

  constructor(readonly repo: string, folder: string) {
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
    this.files = walk(folder).map((path) => {
      const bytes = readFileSync(path);
      const relativePath = relative(folder, path).split('\\').join('/');
      return { path: relativePath, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), lfs: bytes.length > 4096 || relativePath.endsWith('.onnx') };
    });
    this.files.push({ path: 'README.md', bytes: Buffer.from('# model card'), sha256: '', lfs: false });
    this.files.push({ path: 'unet/diffusion_pytorch_model.safetensors', bytes: Buffer.alloc(10), sha256: '', lfs: true });
  }

  /** Serves one more file (listed like the others) until reset(). */
  addFile(path: string, bytes: Buffer): void {
    this.files.push({ path, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), lfs: true, extra: true });
  }

  /** Back to an honest Hub: every fault and count cleared, added files gone. */
  reset(): void {
    this.servedBytes.clear();
    this.rangeRequests.length = 0;
    this.requests.length = 0;
    this.dropAfter.clear();
    this.corrupt.clear();
    this.busy.clear();
    this.oversize.clear();
    this.statusOverride = undefined;
    this.listingPatch = undefined;
    this.cdnOrigin = undefined;
    this.files.splice(0, this.files.length, ...this.files.filter((file) => !file.extra));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  get totalNeededBytes(): number {
    // easel.json (the demo fixture has one) is Easel's own file, never fetched from a repository.
    return this.files.filter((file) => !file.extra && !file.path.endsWith('.safetensors') && file.path !== 'README.md' && file.path !== MODEL_SETTINGS_FILE).reduce((sum, file) => sum + file.bytes.length, 0);
  }

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      this.requests.push({ path: new URL(request.url ?? '/', 'http://x').pathname, at: performance.now(), authorization: request.headers.authorization });
      this.handle(request.url ?? '/', request.headers.range, response);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private handle(url: string, range: string | undefined, response: ServerResponse): void {
    const { pathname } = new URL(url, 'http://x');
    if (this.statusOverride) {
      response.writeHead(this.statusOverride, { 'content-type': 'application/json' }).end('{"error":"nope"}');
      return;
    }
    const tree = pathname.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/);
    if (tree) {
      if (tree[1] !== this.repo) return void response.writeHead(404).end('{"error":"Repository not found"}');
      const entries: Array<Record<string, unknown>> = this.files.map((file) => ({
        type: 'file', path: file.path, size: file.bytes.length,
        oid: file.lfs ? createHash('sha1').update(file.path).digest('hex') : createHash('sha1').update(`blob ${file.bytes.length}\0`).update(file.bytes).digest('hex'),
        ...(file.lfs ? { lfs: { oid: file.sha256, size: file.bytes.length, pointerSize: 134 } } : {}),
      }));
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.listingPatch ? this.listingPatch(entries) : entries));
      return;
    }
    const info = pathname.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/);
    if (info) {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: this.repo, cardData: { license: this.license } }));
      return;
    }
    const resolve = pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if (resolve) {
      const path = decodeURIComponent(resolve[3]);
      if (!this.files.some((file) => file.path === path)) return void response.writeHead(404).end();
      const busy = this.busy.get(path);
      if (busy && busy.times > 0) {
        busy.times--;
        response.writeHead(busy.status, busy.retryAfter === undefined ? {} : { 'retry-after': busy.retryAfter }).end('busy');
        return;
      }
      response.writeHead(302, { location: `${this.cdnOrigin ?? ''}/cdn/${encodeURIComponent(path)}` }).end();
      return;
    }
    const cdn = pathname.match(/^\/cdn\/(.+)$/);
    const file = cdn && this.files.find((candidate) => candidate.path === decodeURIComponent(cdn[1]));
    if (!file) return void response.writeHead(404).end();
    let bytes = file.bytes;
    if (this.corrupt.has(file.path)) {
      bytes = Buffer.from(bytes);
      bytes[bytes.length >> 1] ^= 0xff;
    }
    let start = 0;
    const match = range?.match(/^bytes=(\d+)-$/);
    if (match) {
      start = Number(match[1]);
      this.rangeRequests.push(`${file.path}@${start}`);
      if (start >= bytes.length) return void response.writeHead(416).end();
      response.writeHead(206, { 'content-length': bytes.length - start, 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}`, 'accept-ranges': 'bytes' });
    } else if (this.oversize.has(file.path)) {
      const { extra, announce } = this.oversize.get(file.path)!;
      const flood = Buffer.concat([bytes, Buffer.alloc(extra, 0x41)]);
      response.writeHead(200, announce ? { 'content-length': flood.length } : {});
      this.servedBytes.set(file.path, (this.servedBytes.get(file.path) ?? 0) + flood.length);
      // Written in slices so the client can hang up part-way, as it must.
      const slice = 64 * 1024;
      const pump = (at: number) => {
        if (at >= flood.length || response.destroyed) return void response.end();
        if (response.write(flood.subarray(at, at + slice))) setImmediate(() => pump(at + slice));
        else response.once('drain', () => pump(at + slice));
      };
      pump(0);
      return;
    } else {
      response.writeHead(200, { 'content-length': bytes.length, 'accept-ranges': 'bytes' });
    }
    const drop = this.dropAfter.get(file.path);
    const body = bytes.subarray(start);
    if (drop !== undefined && drop > start) {
      this.dropAfter.delete(file.path);
      const sent = body.subarray(0, drop - start);
      this.servedBytes.set(file.path, (this.servedBytes.get(file.path) ?? 0) + sent.length);
      response.write(sent, () => response.destroy());
      return;
    }
    this.servedBytes.set(file.path, (this.servedBytes.get(file.path) ?? 0) + body.length);
    response.end(body);
  }
}
