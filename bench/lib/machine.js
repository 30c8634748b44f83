// The header of every result file: what machine, which versions, when.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { run } from './exec.js';

async function firstLine(cmd, args, opts) {
  const r = await run(cmd, args, opts).catch(() => undefined);
  return (r?.stdout || r?.stderr || '').trim().split('\n')[0] || 'unknown';
}

export async function machineInfo(root) {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const cpu = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const nproc = await firstLine('nproc', []);
  const mem = `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`;
  const registry = await firstLine('docker-registry', ['--version']);
  const skopeo = await firstLine('skopeo', ['--version']);
  const umoci = await firstLine('umoci', ['--version']);
  const time = await firstLine('/usr/bin/time', ['--version']);
  const head = await firstLine('git', ['rev-parse', '--short', 'HEAD'], { cwd: root });
  const dirty = (await run('git', ['status', '--porcelain', '--', 'src'], { cwd: root }).catch(() => ({ stdout: '' }))).stdout
    .split('\n')
    .filter(Boolean).length;
  return {
    nproc,
    cpu,
    mem,
    node: process.version,
    registry,
    skopeo,
    umoci,
    time,
    git: `${head}${dirty ? ` (+${dirty} uncommitted change${dirty > 1 ? 's' : ''} in src/)` : ''}`,
    date: new Date().toISOString(),
    kernel: `${os.type()} ${os.release()}`,
  };
}

export function machineHeader(m, command) {
  return [
    `- machine: ${m.nproc} CPUs (nproc), ${m.cpu}, ${m.mem} RAM, ${m.kernel}`,
    `- Node ${m.node}; ${m.registry}; ${m.skopeo}; ${m.umoci}; GNU time (/usr/bin/time -v)`,
    `- stowage at ${m.git}`,
    `- date: ${m.date}`,
    `- command: \`${command}\``,
  ].join('\n');
}

/** A short fingerprint of a built CLI (every .js file under `dist`), to tell builds apart. */
export async function distFingerprint(dist) {
  const { readdir } = await import('node:fs/promises');
  const { createHash } = await import('node:crypto');
  const { join } = await import('node:path');
  const hash = createHash('sha256');
  const walk = async (dir) => {
    const entries = (await readdir(dir, { withFileTypes: true }).catch(() => [])).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.js')) hash.update(`${p}\0`).update(await readFile(p));
    }
  };
  await walk(dist);
  return hash.digest('hex').slice(0, 12);
}
