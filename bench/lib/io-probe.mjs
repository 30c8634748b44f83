// Preloaded (node --import) into every measured Node process: at exit, copy /proc/self/io (bytes read and written
// through syscalls by all threads) to $BENCH_IO_FILE, so the benchmark can tell whether a run re-read a layer.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.BENCH_IO_FILE;
if (out) {
  process.on('exit', () => {
    try {
      writeFileSync(out, readFileSync('/proc/self/io', 'utf8'));
    } catch {
      // not Linux, or no permission: the column stays empty
    }
  });
}
