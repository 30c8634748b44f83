// Maintainer scripts followed without running them, and the file commands stowage carries out for them. The same
// script is run by the real /bin/sh and coreutils (umask 022, as root, as dpkg runs it) in a copy of the tree, its
// paths under a directory, and read by stowage over the tree: the entries made are the same (type, mode, owner,
// link target, bytes). Conditions are decided as the shell would decide them on a fresh install.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { cp as copyDir, lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptHost } from '../../src/apt/effects/file-commands.js';
import { accountIds } from '../../src/apt/effects/script-tree.js';
import { dpkgCompareVersions, readScript } from '../../src/apt/scripts.js';
import { RootFs } from '../../src/dockerfile/rootfs.js';
import { bytesContent, readContent } from '../../src/tree/content.js';
import { TreeOverlay } from '../../src/tree/overlay.js';
import { runOk } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('apt-script-effects');
});
afterAll(async () => {
  await removeTempDir(dir);
});

const GROUP = 'root:x:0:\nstaff:x:50:\n';
const PASSWD = 'root:x:0:0:root:/root:/bin/bash\n';
const INPUTRC = '# readline defaults\nset bell-style none\n';

/** A usrmerged base (`/lib -> usr/lib`) with accounts, as a RootFs through GNU tar, and its copy on disk. */
async function base(name: string): Promise<{ tree: TreeOverlay; real: string }> {
  const root = join(dir, `${name}-base`);
  for (const d of ['usr/lib', 'usr/bin', 'usr/share', 'etc/alternatives', 'var/lib', 'usr/local/lib']) await mkdir(join(root, d), { recursive: true });
  await symlink('usr/lib', join(root, 'lib'));
  await writeFile(join(root, 'etc/group'), GROUP);
  await writeFile(join(root, 'etc/passwd'), PASSWD);
  await writeFile(join(root, 'etc/absent-not'), 'x');
  const tar = `${root}.tar`;
  await runOk('tar', ['--sort=name', '--numeric-owner', '-C', root, '-cf', tar, '.']);
  const tree = new TreeOverlay(await RootFs.fromLayers([{ digest: `sha256:${name}`, open: async () => createReadStream(tar) }]));
  // What a package unpacked before the script runs: readline-common's default inputrc (0644) and a tool (0755).
  const real = join(dir, `${name}-real`);
  await copyDir(root, real, { recursive: true, verbatimSymlinks: true });
  for (const [p, mode, text] of [['usr/share/readline/inputrc', 0o644, INPUTRC], ['usr/bin/tool.procps', 0o755, '#!/bin/sh\n']] as const) {
    tree.write(p, { type: 'file', mode, uid: 0, gid: 0, mtime: 1672778985, content: bytesContent(text), group: 'pkg' });
    await mkdir(join(real, p, '..'), { recursive: true });
    await writeFile(join(real, p), text, { mode });
    await runOk('touch', ['-d', '@1672778985', join(real, p)]);
  }
  return { tree, real };
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

/** One entry as the real run left it, and as stowage's tree has it. */
async function realEntry(root: string, p: string) {
  const st = await lstat(join(root, p)).catch(() => undefined);
  if (!st) return undefined;
  const type = st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'file';
  return { type, mode: type === 'symlink' ? 0o777 : st.mode & 0o7777, uid: st.uid, gid: st.gid, ...(type === 'symlink' ? { linkname: await readlink(join(root, p)) } : {}), ...(type === 'file' ? { sha256: await sha256(join(root, p)) } : {}) };
}
async function ourEntry(tree: TreeOverlay, p: string) {
  const st = tree.stat(p);
  if (!st) return undefined;
  const node = tree.added(st.path);
  const sha = node?.content ? createHash('sha256').update(await readContent(node.content)).digest('hex') : undefined;
  return { type: st.type, mode: st.mode, uid: st.uid, gid: st.gid, ...(st.linkname !== undefined ? { linkname: st.linkname } : {}), ...(sha ? { sha256: sha } : {}) };
}

const isRoot = process.getuid?.() === 0;

describe('file commands of maintainer scripts, against /bin/sh and coreutils', () => {
  // `$R` is the root: empty for stowage (literal paths), a directory for the real run.
  const script = [
    '#!/bin/sh',
    'set -e',
    'case "$1" in',
    '  configure)',
    '    mkdir -p $R/var/lib/python',
    '    touch $R/var/lib/python/python3.11_installed',
    '    if [ -e $R/etc/staff-group-for-usr-local ]; then perm=2755; group=staff; else perm=755; group=root; fi',
    '    localsite=$R/usr/local/lib/python3.11/dist-packages',
    '    if [ ! -e $localsite ]; then',
    '      mkdir -p $localsite 2> /dev/null || true',
    '      chmod $perm $localsite 2> /dev/null || true',
    '      chown root:$group $localsite 2> /dev/null || true',
    '    fi',
    '    mkdir -m 2775 $R/usr/local/lib/shared',
    '    chown root:staff $R/usr/local/lib/shared',
    '    mkdir $R/lib/through-the-link',
    '    [ -d $R/etc/python3 ] || mkdir $R/etc/python3',
    '    [ -f $R/etc/python3/debian_config ] || cat > $R/etc/python3/debian_config <<-EOF',
    '\t[DEFAULT]',
    '\tbyte-compile = standard',
    '\tEOF',
    '    echo "one line" > $R/etc/echoed',
    '    ln -s /etc/alternatives/tool $R/usr/bin/tool',
    '    ln -sf /usr/bin/tool.procps $R/usr/bin/tool',
    '    ln -s /usr/bin/tool.procps $R/usr/lib',
    '    install_from_default() { if [ ! -f $2 ]; then cp -p $1 $2; fi; }',
    '    install_from_default $R/usr/share/readline/inputrc $R/etc/inputrc',
    '    cp $R/usr/share/readline/inputrc $R/etc/inputrc.plain',
    '    install -m 0640 -g staff $R/usr/share/readline/inputrc $R/usr/local/lib/shared/',
    '    touch $R/etc/absent-not',
    '    chmod u-w,g+w $R/var/lib/python/python3.11_installed',
    '    rm -f $R/etc/absent $R/etc/psdevtab',
    '    rm -rf $R/usr/share/doc/python3/html',
    '  ;;',
    'esac',
  ].join('\n');
  const made = [
    'var/lib/python', 'var/lib/python/python3.11_installed', 'usr/local/lib/python3.11', 'usr/local/lib/python3.11/dist-packages', 'usr/local/lib/shared',
    'usr/lib/through-the-link', 'etc/python3', 'etc/python3/debian_config', 'etc/echoed', 'usr/bin/tool', 'usr/lib/tool.procps', 'etc/inputrc', 'etc/inputrc.plain',
    'usr/local/lib/shared/inputrc',
  ];

  it.skipIf(!isRoot)('leave the same entries as the real commands (modes under umask 022, owners, links through /lib)', async () => {
    const { tree, real } = await base('same');
    await writeFile(join(dir, 'same.sh'), script);
    await runOk('sh', ['-c', `umask 022; R='${real}' sh ${join(dir, 'same.sh')} configure ''`]);
    const reading = readScript(`R=\n${script}`, 'postinst', scriptHost({ tree, group: 'db', users: accountIds(PASSWD), groups: accountIds(GROUP) }));
    expect(reading.unrun).toEqual([]);
    expect(reading.emulated).toEqual(['mkdir', 'touch', 'chmod', 'chown', 'cat > file', 'echo > file', 'ln', 'cp', 'install', 'rm']);
    for (const p of made) expect({ p, e: await ourEntry(tree, p) }).toEqual({ p, e: await realEntry(real, p) });
    // touch of an existing file changes only its time: the base's file stays as it is.
    expect(tree.stat('etc/absent-not')!.from).toBe('base');
    // The mode a script gives is the mode recorded, and what it made is in the generated-files group.
    expect(tree.stat('usr/local/lib/python3.11/dist-packages')!.mode).toBe(0o755);
    expect(tree.added('etc/python3/debian_config')!.group).toBe('db');
    expect((await readContent(tree.added('etc/python3/debian_config')!.content!)).toString()).toBe('[DEFAULT]\nbyte-compile = standard\n');
    // cp -p keeps the package file's time; cp without it takes the layer's.
    expect(tree.added('etc/inputrc')!.mtime).toBe(1672778985);
    expect(tree.added('etc/inputrc.plain')!.mtime).toBeUndefined();
  });

  it('decides conditions as a fresh install: case "$1", [ -e ], functions, dpkg --compare-versions with no old version, globs', async () => {
    const { tree } = await base('decide');
    const host = scriptHost({ tree, group: 'db', users: accountIds(PASSWD), groups: accountIds(GROUP) });
    const procps = [
      'check_alternatives() {',
      '  if [ -e "$2"/"$1".procps ] ; then',
      '    update-alternatives --install "$2"/"$1" "$1" "$2"/"$1".procps 50',
      '  fi',
      '}',
      'case "$1" in',
      '  configure|abort-remove)',
      '    if [ -e /etc/psdevtab ] ; then rm -f /etc/psdevtab; fi',
      '    if dpkg --compare-versions "$2" le "1:3.2.7-3"; then mv_conffile /etc/init.d/procps.sh /etc/init.d/procps; fi',
      '    check_alternatives "uptime" "/usr/bin"',
      '    check_alternatives "tool" "/usr/bin"',
      '  ;;',
      '  *) echo "unknown" >&2; exit 1 ;;',
      'esac',
      'for hook in /usr/share/python3/runtime.d/*.rtupdate; do [ -x $hook ] || continue; $hook rtupdate; done',
      'if [ "$(uname -s)" = Linux ]; then ldconfig; fi',
      'if [ -h /etc/alternatives/f77 -a ! -e /etc/alternatives/f77 ]; then rm -f /etc/alternatives/f77; fi',
    ].join('\n');
    const r = readScript(procps, 'postinst', host);
    // mv_conffile is a function that is not defined here: the empty old version is older than any (dpkg), so it is called.
    expect(r.unrun).toEqual(['mv_conffile']);
    expect(r.alternatives).toEqual([{ link: '/usr/bin/tool', name: 'tool', path: '/usr/bin/tool.procps', priority: 50, slaves: [] }]);
    expect(r.emulated).toEqual(['update-alternatives', 'ldconfig']);
    // A preinst runs with `install`: the configure arm is not reached.
    expect(readScript(procps.replace('configure|', 'install|'), 'preinst', host).alternatives).toHaveLength(1);
    expect(readScript(procps, 'preinst', host).alternatives).toHaveLength(0);
  });

  it('reports what it cannot decide or reproduce, and does nothing of it', async () => {
    const { tree } = await base('refuse');
    const host = scriptHost({ tree, group: 'db', users: accountIds(PASSWD), groups: accountIds(GROUP) });
    const cases: Array<[string, string[]]> = [
      // A condition on the environment: both branches are unsure.
      ['if [ "$DEBIAN_FRONTEND" != noninteractive ]; then mkdir /etc/x; fi', ['mkdir']],
      // Not literal, a glob into the unknown, an existing file removed, a base file's mode, a hard link.
      ['mkdir -p "$(cat /etc/somewhere)"', ['mkdir']],
      ['rm -f /etc/group', ['rm']],
      ['chmod 600 /etc/passwd', ['chmod']],
      ['ln /usr/bin/tool.procps /usr/bin/hard', ['ln']],
      ['adduser --system svc', ['adduser']],
      ['. /usr/share/debconf/confmodule\ndb_get x/y', ['.', 'db_get']],
      ['echo x >> /etc/group', ['echo > file']],
    ];
    for (const [text, unrun] of cases) expect({ text, unrun: readScript(`#!/bin/sh\nset -e\n${text}\n`, 'postinst', host).unrun }).toEqual({ text, unrun });
    expect(tree.stat('etc/x')).toBeUndefined();
    expect(tree.stat('usr/bin/hard')).toBeUndefined();
    expect(tree.stat('etc/passwd')!.from).toBe('base');
  });

  it('compares versions as dpkg --compare-versions does, an empty version included', async () => {
    const pairs: Array<[string, string, string]> = [['', 'le', '1:3.2.7-3'], ['', 'lt', '1'], ['', 'eq', ''], ['', 'gt-nl', '1'], ['1.0', 'lt', '1.0~rc1'], ['2:1', 'gt', '1:9'], ['1.2-3', 'ge', '1.2-3'], ['1', 'le-nl', '']];
    for (const [a, op, b] of pairs) {
      const real = await runOk('sh', ['-c', `dpkg --compare-versions '${a}' ${op} '${b}' && echo yes || echo no`]);
      expect({ a, op, b, r: dpkgCompareVersions(a, op, b) }).toEqual({ a, op, b, r: real.stdout.trim() === 'yes' });
    }
  });
});
