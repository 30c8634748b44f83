// Run a command to completion, collecting its output (small outputs only: tool versions, skopeo JSON).
import { spawn } from 'node:child_process';
import { atExit } from './cleanup.js';

export function run(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const forget = atExit(() => child.kill('SIGKILL'));
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', (e) => {
      forget();
      reject(new Error(`cannot run ${cmd}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      forget();
      resolve({ code: code ?? 128, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

export async function runOk(cmd, args, options = {}) {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`command failed (exit ${r.code}): ${cmd} ${args.join(' ')}\n${r.stderr.trim()}`);
  return r;
}
