// One measured run of a command: wall time from process.hrtime, peak RSS from GNU time (-v), bytes read/written from
// /proc/self/io (Node processes, via io-probe.mjs), and stderr lines stamped with their arrival time.
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { atExit } from './cleanup.js';

const PROBE = new URL('./io-probe.mjs', import.meta.url).href;
export const GNU_TIME = '/usr/bin/time';

function parseIo(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s*(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * Run `node --import io-probe ARGS` (or any command with `node: false`) under /usr/bin/time -v.
 * Returns { code, seconds, peakRssKiB, cpuSeconds, io: {rchar, wchar, read_bytes, write_bytes}, stdout, lines: [{t, line, stream}] }
 * (lines holds the lines of both streams, stamped with seconds since the start).
 * `scratch` is a directory for the time/io files; `logFile`, when given, receives the stamped lines.
 */
export async function measure({ cmd, args, node = true, cwd, env = {}, scratch, label, logFile }) {
  const timeFile = join(scratch, `${label}.time`);
  const ioFile = join(scratch, `${label}.io`);
  await rm(ioFile, { force: true });
  const argv = node ? ['--import', PROBE, ...args] : args;
  const command = node ? process.execPath : cmd;
  const start = process.hrtime.bigint();
  const child = spawn(GNU_TIME, ['-v', '-o', timeFile, command, ...argv], {
    cwd,
    env: { ...process.env, ...env, BENCH_IO_FILE: ioFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const forget = atExit(() => child.kill('SIGKILL'));
  const stdout = [];
  // Lines of both streams in arrival order (containerify logs its progress on stdout, stowage on stderr).
  const lines = [];
  const partial = { out: '', err: '' };
  const collect = (stream) => (c) => {
    const t = Number(process.hrtime.bigint() - start) / 1e9;
    partial[stream] += c.toString('utf8');
    const complete = partial[stream].split('\n');
    partial[stream] = complete.pop();
    for (const line of complete) lines.push({ t, line, stream });
  };
  child.stdout.on('data', (c) => stdout.push(c));
  child.stdout.on('data', collect('out'));
  child.stderr.on('data', collect('err'));
  const { code, end } = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, signal) => resolve({ code: c ?? 128, signal, end: process.hrtime.bigint() }));
  });
  forget();
  for (const stream of ['out', 'err']) if (partial[stream]) lines.push({ t: Number(end - start) / 1e9, line: partial[stream], stream });
  const seconds = Number(end - start) / 1e9;
  const timeText = await readFile(timeFile, 'utf8').catch(() => '');
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(timeText);
  const exit = /Exit status: (\d+)/.exec(timeText);
  const user = /User time \(seconds\): ([\d.]+)/.exec(timeText);
  const system = /System time \(seconds\): ([\d.]+)/.exec(timeText);
  const io = parseIo(await readFile(ioFile, 'utf8').catch(() => ''));
  if (logFile) {
    const shown = [command === process.execPath ? 'node' : command, ...argv.map((a) => (a === PROBE ? fileURLToPath(PROBE) : a))].join(' ');
    const body = lines.map((l) => `+${l.t.toFixed(3)}s ${l.stream} ${l.line}`).join('\n');
    await writeFile(logFile, `$ ${shown}\n# exit ${code}, ${seconds.toFixed(3)} s, peak RSS ${rss?.[1] ?? '?'} KiB, io ${JSON.stringify(io)}\n${body}\n`);
  }
  return {
    code: exit ? Number(exit[1]) : code,
    seconds,
    peakRssKiB: rss ? Number(rss[1]) : undefined,
    // CPU seconds of the command and its children (not of the registry): what a busy machine cannot inflate.
    cpuSeconds: user && system ? Number(user[1]) + Number(system[1]) : undefined,
    io,
    stdout: Buffer.concat(stdout).toString('utf8'),
    lines,
  };
}

export function describeFailure(label, r) {
  const tail = r.lines.slice(-15).map((l) => `  ${l.line}`).join('\n');
  return `${label} failed (exit ${r.code})\n${tail}`;
}
