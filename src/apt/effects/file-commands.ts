import type { ScriptHost } from '../scripts.js';
import { cp, install } from './copy.js';
import { ln } from './ln.js';
import { mkdir } from './mkdir.js';
import { chmod, chown } from './modes.js';
import { rm } from './rm.js';
import type { ScriptTree } from './script-tree.js';
import { touch } from './touch.js';
import { writeFile } from './write-file.js';

const COMMANDS: Record<string, (t: ScriptTree, args: readonly string[]) => string | undefined> = { mkdir, touch, ln, chmod, chown, cp, install, rm };

/** The host a maintainer script is read against: the merged tree for its tests, and the file commands carried out on it. */
export function scriptHost(t: ScriptTree): ScriptHost {
  return {
    stat(p, follow) {
      const st = t.tree.stat(p, follow);
      return st && { type: st.type, mode: st.mode, size: st.size };
    },
    list(dir) {
      const st = t.tree.stat(dir, true);
      return st?.type === 'directory' ? t.tree.list(st.path) : undefined;
    },
    apply([cmd, ...args]) {
      const run = cmd === undefined ? undefined : COMMANDS[cmd];
      return run ? run(t, args) : `${cmd} is not reproduced`;
    },
    write: (p, text, append) => writeFile(t, p, text, append),
  };
}
