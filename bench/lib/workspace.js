// The set-up shared by the benches that run whole commands against a loopback registry (bench/apt.js,
// bench/python.js): a locked work directory (removed at exit unless kept) with the named subdirectories, the
// machine's description, a snapshot of stowage's dist/, a registry and the environment every row runs with.
import { rmSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atExit, lockWorkDir } from './cleanup.js';
import { machineInfo } from './machine.js';
import { startRegistry } from './registry.js';
import { BENCH_DIR, ROOT, STOWAGE_DIST, snapshotStowage } from './tools.js';

export async function benchWorkspace(name, subdirs, { keep }) {
  const log = (line) => process.stderr.write(`${name}: ${line}\n`);
  const work = join(BENCH_DIR, `.work-${name}`);
  await lockWorkDir(work);
  if (!keep) atExit(() => rmSync(work, { recursive: true, force: true }));
  const dirs = Object.fromEntries(['logs', 'scratch', 'tmp', 'registry', ...subdirs].map((d) => [d, join(work, d)]));
  await rm(dirs.registry, { recursive: true, force: true });
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  const machine = await machineInfo(ROOT);
  const stowage = await snapshotStowage(join(work, 'stowage'), STOWAGE_DIST);
  const registry = await startRegistry(dirs.registry);
  const env = { TMPDIR: dirs.tmp, SOURCE_DATE_EPOCH: '0' };
  return { log, work, dirs, machine, stowage, registry, env };
}
