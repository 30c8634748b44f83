// A PEP 503 (HTML) / PEP 691 (JSON) simple repository on 127.0.0.1, serving the wheels of a directory, answering in
// JSON when the client's Accept asks for it. Optional Basic auth; every request is recorded.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface SimpleIndex {
  url: string;
  requests: { path: string; accept: string; authorization?: string }[];
  stop(): Promise<void>;
}

const norm = (n: string) => n.replace(/[-_.]+/g, '-').toLowerCase();

export async function startSimpleIndex(dir: string, options: { user?: string; password?: string; hashes?: boolean; htmlOnly?: boolean } = {}): Promise<SimpleIndex> {
  const requests: SimpleIndex['requests'] = [];
  const files = (await readdir(dir)).filter((f) => f.endsWith('.whl') || f.endsWith('.tar.gz'));
  const sha = new Map<string, string>();
  for (const f of files) sha.set(f, createHash('sha256').update(await readFile(join(dir, f))).digest('hex'));
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ path, accept: String(req.headers.accept ?? ''), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    if (options.user !== undefined) {
      const want = `Basic ${Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="index"' }).end();
        return;
      }
    }
    const project = /^\/simple\/([^/]+)\/$/.exec(path);
    if (project) {
      const name = project[1]!;
      const mine = files.filter((f) => norm(f.split('-')[0]!) === name);
      if (mine.length === 0) {
        res.writeHead(404).end();
        return;
      }
      if (!options.htmlOnly && String(req.headers.accept ?? '').includes('application/vnd.pypi.simple.v1+json')) {
        const body = { meta: { 'api-version': '1.1' }, name, files: mine.map((f) => ({ filename: f, url: `../../files/${encodeURIComponent(f)}`, hashes: options.hashes === false ? {} : { sha256: sha.get(f) } })) };
        res.writeHead(200, { 'content-type': 'application/vnd.pypi.simple.v1+json' }).end(JSON.stringify(body));
      } else {
        const links = mine.map((f) => `<a href="/files/${encodeURIComponent(f)}${options.hashes === false ? '' : `#sha256=${sha.get(f)}`}" data-requires-python="&gt;=3.7">${f}</a><br/>`).join('\n');
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<!DOCTYPE html><html><body>\n${links}\n</body></html>`);
      }
      return;
    }
    const file = /^\/files\/([^/]+)$/.exec(path)?.[1];
    if (file && files.includes(file)) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      createReadStream(join(dir, file)).pipe(res);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/simple/`,
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
