// The rows of a bench that runs whole commands against a loopback registry (bench/apt.js, bench/python.js): each
// command measured (wall, CPU and peak RSS from GNU time), what it uploaded counted from the registry's access log,
// what it pushed checked, and the row kept in order.
import os from 'node:os';
import { join } from 'node:path';
import { describeFailure, measure } from './measure.js';
import { summarize } from './registry.js';
import { fmtMiB } from './stats.js';
import { verifyPushed } from './tools.js';

/** `measured(tool, spec, check?)` runs one row; `results` holds the rows. */
export function rowRecorder({ registry, env, dirs, log }) {
  const results = [];
  let seq = 0;
  async function measured(tool, spec, check) {
    const label = `${tool}-${++seq}`.replace(/\W+/g, '_');
    const before = registry.events.length;
    const load = os.loadavg()[0];
    const r = await measure({ ...spec, env: { ...env, ...spec.env }, scratch: dirs.scratch, label, logFile: join(dirs.logs, `${label}.log`) });
    if (r.code !== 0) throw new Error(describeFailure(tool, r));
    await new Promise((res) => setTimeout(res, 250)); // the access log trails the responses
    const upload = await summarize(registry, before, registry.events.length);
    if (check) await verifyPushed(check.ref, { layers: check.layers, ...(check.digest ? { expectDigest: check.digest(r) } : {}) });
    const row = { tool, seconds: r.seconds, cpu: r.cpuSeconds, rssKiB: r.peakRssKiB, uploaded: upload.uploadedBytes, blobs: upload.blobUploads, load };
    results.push(row);
    log(`${tool}: ${r.seconds.toFixed(2)} s, ${r.cpuSeconds?.toFixed(2)} CPU s, peak RSS ${fmtMiB(r.peakRssKiB * 1024)} MiB, uploaded ${fmtMiB(upload.uploadedBytes)} MiB, load ${load.toFixed(1)}`);
    return row;
  }
  return { results, measured };
}
