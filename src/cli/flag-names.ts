import { StowageError } from '../errors.js';

/** The build options whose errors start with their name (`env "A B=1": …`), and the flag each is on the command line. */
const FLAGS: Record<string, string> = {
  copy: '--copy',
  chown: '--chown',
  env: '--env',
  labels: '--label',
  expose: '--expose',
  entrypoint: '--entrypoint',
  cmd: '--cmd',
  workdir: '--workdir',
  user: '--user',
  model: '--model',
};

const LEADING = new RegExp(`^(${Object.keys(FLAGS).join('|')})(?=[ :])`);

/**
 * The library names a bad setting as its option (`copy "x": …`, for a program and a person alike); on the command
 * line the same message names the flag the user typed (`--copy "x": …`).
 */
export function withFlagNames(e: unknown): unknown {
  if (!(e instanceof StowageError)) return e;
  const m = LEADING.exec(e.message);
  if (!m) return e;
  const out = new StowageError(e.code, `${FLAGS[m[1]!]}${e.message.slice(m[1]!.length)}`, { cause: e, ...(e.status !== undefined ? { status: e.status } : {}) });
  if (e.hinted) out.hinted = true;
  return out;
}
