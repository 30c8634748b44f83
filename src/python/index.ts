import path from 'node:path';
import { StowageError } from '../errors.js';
import { fetchText, redactUrl, type PyHttp } from './fetch.js';
import { localFiles, type LockFiles } from './files.js';
import type { FileHashes } from './lock.js';
import { normalizeName } from './version.js';

/**
 * Where a requirements.txt's files are found: a simple repository (PyPA "Simple repository API": PEP 503 HTML
 * and PEP 691 JSON, asked for in that order of preference as pip does) at `--index-url`, and `--find-links`
 * directories or pages. Only the files' names, locations and declared hashes are read; nothing is chosen here.
 */

/** A file a project page or directory offers. */
export interface OfferedFile {
  filename: string;
  /** Absolute URL, or a local path for a find-links directory. */
  url?: string;
  path?: string;
  /** Hashes the index declares (from the JSON `hashes` or the URL fragment `#sha256=`). */
  hashes: FileHashes;
  requiresPython?: string;
  yanked?: boolean;
}

const ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01';

/** The files of one project on a simple index. A project the index does not know offers nothing. */
export async function indexFiles(indexUrl: string, project: string, h: PyHttp): Promise<OfferedFile[]> {
  const base = indexUrl.endsWith('/') ? indexUrl : `${indexUrl}/`;
  const url = new URL(`${encodeURIComponent(normalizeName(project))}/`, base).toString();
  let page;
  try {
    page = await fetchText(url, h, ACCEPT);
  } catch (e) {
    if (e instanceof StowageError && e.code === 'NOT_FOUND') return [];
    throw e;
  }
  if (/application\/vnd\.pypi\.simple\.v1\+json/.test(page.contentType)) return jsonPage(page.text, page.url);
  return htmlPage(page.text, page.url);
}

/**
 * What a find-links location offers: a local directory's files, or the links of an HTML page. `named` says in errors
 * where the location came from: the python.findLinks option, or a requirements file's `--find-links` line.
 */
export async function findLinksFiles(location: string, h: PyHttp, files: LockFiles = localFiles, named = 'the python.findLinks option'): Promise<OfferedFile[]> {
  if (/^https?:\/\//i.test(location)) {
    const page = await fetchText(location, h, 'text/html');
    return htmlPage(page.text, page.url);
  }
  const dir = location.startsWith('file://') ? new URL(location).pathname : location;
  let names: string[];
  try {
    names = await files.list(dir);
  } catch (e) {
    throw new StowageError('INVALID_INPUT', `${named} ${dir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as Error).message}`, { cause: e });
  }
  return names.sort().map((filename) => ({ filename, path: path.join(dir, filename), hashes: {} }));
}

function jsonPage(text: string, pageUrl: string): OfferedFile[] {
  let doc: { meta?: { 'api-version'?: string }; files?: { filename?: string; url?: string; hashes?: Record<string, string>; 'requires-python'?: string; yanked?: boolean | string }[] };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (e) {
    throw new StowageError('PY_FORMAT', `${redactUrl(pageUrl)} is not valid JSON`, { cause: e });
  }
  const version = doc.meta?.['api-version'] ?? '';
  if (!/^1(\.\d+)?$/.test(version)) throw new StowageError('PY_FORMAT', `${redactUrl(pageUrl)} speaks simple API version "${version}"; stowage reads 1.x`);
  return (doc.files ?? []).flatMap((f) => {
    if (!f.filename || !f.url) return [];
    const hashes: Record<string, string> = {};
    for (const [k, v] of Object.entries(f.hashes ?? {})) hashes[k.toLowerCase()] = v.toLowerCase();
    return [{
      filename: f.filename,
      url: new URL(f.url, pageUrl).toString(),
      hashes,
      ...(f['requires-python'] ? { requiresPython: f['requires-python'] } : {}),
      ...(f.yanked ? { yanked: true } : {}),
    }];
  });
}

function unescape(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|#39|#x27);/g, (_m, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', '#39': "'", '#x27': "'" })[e]!);
}

function htmlPage(text: string, pageUrl: string): OfferedFile[] {
  const out: OfferedFile[] = [];
  // Anchors (PEP 503): href with an optional #algo=hex fragment, data-requires-python, data-yanked.
  const baseTag = /<base\s[^>]*href\s*=\s*["']([^"']+)["']/i.exec(text)?.[1];
  const base = baseTag ? new URL(unescape(baseTag), pageUrl).toString() : pageUrl;
  for (const m of text.matchAll(/<a\s([^>]*)>([^<]*)<\/a>/gi)) {
    const attrs = new Map<string, string>();
    for (const a of m[1]!.matchAll(/([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/g)) attrs.set(a[1]!.toLowerCase(), unescape(a[2] ?? a[3] ?? a[4] ?? ''));
    const href = attrs.get('href');
    if (!href) continue;
    const url = new URL(href, base);
    const hashes: Record<string, string> = {};
    const frag = /^#?([a-z0-9]+)=([0-9a-f]+)$/i.exec(url.hash);
    if (frag) hashes[frag[1]!.toLowerCase()] = frag[2]!.toLowerCase();
    url.hash = '';
    const filename = decodeURIComponent(url.pathname.split('/').at(-1) ?? '') || unescape(m[2]!.trim());
    out.push({
      filename,
      url: url.toString(),
      hashes,
      ...(attrs.get('data-requires-python') ? { requiresPython: attrs.get('data-requires-python')! } : {}),
      ...(attrs.has('data-yanked') ? { yanked: true } : {}),
    });
  }
  return out;
}
