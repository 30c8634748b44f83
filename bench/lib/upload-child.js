#!/usr/bin/env node
// Uploads blobs to a registry the plain way: POST /v2/REPO/blobs/uploads/ then one monolithic PUT ?digest= whose body
// is the file, streamed. Used as the "raw upload" floor by run.js and, with each HTTP client, by http.js.
//   node upload-child.js --client http|fetch|fetch-pull|node-fetch [--chunk-kib N] --registry http://HOST:PORT --repo NAME FILE@sha256:HEX...
// Prints one JSON line: { client, blobs: [{ digest, size, seconds, status, transfer }], seconds }.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { client: { type: 'string', default: 'http' }, 'chunk-kib': { type: 'string', default: '1024' }, registry: { type: 'string' }, repo: { type: 'string' } },
  allowPositionals: true,
});
if (!values.registry || !values.repo || positionals.length === 0) {
  process.stderr.write('usage: upload-child.js --client http|fetch|fetch-pull|node-fetch --registry URL --repo NAME FILE@DIGEST...\n');
  process.exit(2);
}
const HIGH_WATER = Number(values['chunk-kib']) * 1024; // read size of the file stream
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** node:http request; resolves { status, headers } after draining the body. */
function httpSend(method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) {
      body.on('error', reject);
      body.pipe(req);
    } else {
      req.end();
    }
  });
}

async function sessionUrl(base) {
  const url = new URL(`/v2/${values.repo}/blobs/uploads/`, base);
  const r = await httpSend('POST', url, { 'content-length': '0' });
  if (r.status !== 202) throw new Error(`POST ${url}: ${r.status}`);
  return new URL(r.headers.location, url);
}

async function putWith(client, url, file, size) {
  const headers = { 'content-type': 'application/octet-stream', 'content-length': String(size) };
  const stream = () => createReadStream(file, { highWaterMark: HIGH_WATER });
  if (client === 'http') {
    const r = await httpSend('PUT', url, headers, stream());
    return { status: r.status, transfer: 'content-length' };
  }
  if (client === 'fetch') {
    const res = await fetch(url, { method: 'PUT', headers, body: Readable.toWeb(stream()), duplex: 'half' });
    await res.arrayBuffer();
    return { status: res.status, transfer: 'stream body (undici)' };
  }
  if (client === 'fetch-pull') {
    // The same fetch, with a byte stream that reads the file only when undici pulls (no read-ahead).
    const { open } = await import('node:fs/promises');
    const fh = await open(file);
    const body = new ReadableStream(
      {
        async pull(controller) {
          const buf = Buffer.allocUnsafe(HIGH_WATER);
          const { bytesRead } = await fh.read(buf, 0, HIGH_WATER, null);
          if (bytesRead === 0) {
            await fh.close();
            controller.close();
          } else {
            controller.enqueue(new Uint8Array(buf.buffer, buf.byteOffset, bytesRead));
          }
        },
        async cancel() {
          await fh.close();
        },
      },
      { highWaterMark: 0 },
    );
    const res = await fetch(url, { method: 'PUT', headers, body, duplex: 'half' });
    await res.arrayBuffer();
    return { status: res.status, transfer: 'pull stream body (undici)' };
  }
  if (client === 'node-fetch') {
    const { default: nodeFetch } = await import(new URL('../../node_modules/node-fetch/src/index.js', import.meta.url).href);
    const res = await nodeFetch(url.href, { method: 'PUT', headers, body: stream() });
    await res.arrayBuffer();
    return { status: res.status, transfer: 'node stream body' };
  }
  throw new Error(`unknown client ${client}`);
}

const t0 = process.hrtime.bigint();
const blobs = [];
for (const spec of positionals) {
  const at = spec.lastIndexOf('@');
  const file = spec.slice(0, at);
  const digest = spec.slice(at + 1);
  const { size } = await stat(file);
  const b0 = process.hrtime.bigint();
  const put = await sessionUrl(values.registry);
  put.searchParams.set('digest', digest);
  const r = await putWith(values.client, put, file, size);
  if (r.status !== 201) throw new Error(`PUT ${digest}: ${r.status}`);
  blobs.push({ digest, size, seconds: Number(process.hrtime.bigint() - b0) / 1e9, ...r });
}
agent.destroy();
process.stdout.write(`${JSON.stringify({ client: values.client, blobs, seconds: Number(process.hrtime.bigint() - t0) / 1e9 })}\n`);
