// Issue 20 item 10: withConfig checks its update at the call (one INVALID_INPUT StowageError naming the key and
// what was wrong), so that no config Go tools cannot parse is ever written; unknown keys are refused with the
// closest known key; memoryLayer refuses ids above 2^31-1 as --chown does; and errors on library paths name the
// option (`copy "…"`, `expose "…"`), never a CLI flag.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closest } from '../../src/util/closest.js';
import { configOf, fileLayer, memoryLayer, modelLayers, openImage, withConfig, type ConfigUpdate } from '../../src/index.js';
import { withFlagNames } from '../../src/cli/flag-names.js';
import { StowageError } from '../../src/errors.js';
import { runOk } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('config-update');
});
afterAll(async () => {
  await removeTempDir(dir);
});

/** The error a call throws (synchronously or as a rejection). */
async function thrown(f: () => unknown): Promise<StowageError> {
  try {
    await f();
  } catch (e) {
    return e as StowageError;
  }
  throw new Error('expected an error');
}

// Lazy: nothing is read until resolved, so a bad update must fail at the call.
const image = () => openImage(`oci:${join(dir, 'no-such-layout')}:1`);

describe('withConfig refuses at the call what Go tools cannot parse', () => {
  const cases: [string, unknown, RegExp][] = [
    ['a label value that is not a string', { labels: { a: 1 } }, /^labels "a": the value must be a string, got number 1$/],
    ['a label value undefined', { labels: { a: undefined } }, /^labels "a": the value must be a string, got undefined$/],
    ['an empty label name', { labels: { '': 'x' } }, /^labels "": invalid label name \(it must not be empty or contain "="\)$/],
    ['a label name with =', { labels: { 'a=b': 'x' } }, /^labels "a=b": invalid label name/],
    ['a label string without =', { labels: ['novalue'] }, /^labels "novalue": expected KEY=VALUE$/],
    ['a label list element not a string', { labels: [7] }, /^labels: expected "K=V" strings, but element 0 is number 7$/],
    ['entrypoint of numbers', { entrypoint: [1, 2] }, /^entrypoint \[1,2\]: expected an array of strings, but element 0 is number 1$/],
    ['cmd with a null element', { cmd: ['serve', null] }, /^cmd \["serve",null\]: expected an array of strings, but element 1 is null$/],
    ['cmd an object', { cmd: { a: 1 } }, /^cmd: expected an array of strings or a string, got an object$/],
    ['entrypoint JSON of numbers', { entrypoint: '[1,2]' }, /^entrypoint "\[1,2\]": the exec form must be a JSON array of strings$/],
    ['an env value undefined', { env: { A: 'ok', B: undefined } }, /^env "B": the value must be a string, got undefined$/],
    ['an env value a number', { env: { PORT: 8080 } }, /^env "PORT": the value must be a string, got number 8080$/],
    ['an env name with =', { env: { 'A=B': 'x' } }, /^env "A=B": invalid variable name "A=B" \(it must not be empty or contain "=" or white space\)$/],
    ['an empty env name', { env: { '': 'x' } }, /^env "": invalid variable name ""/],
    ['an env string with an empty name', { env: ['=x'] }, /^env "=x": expected KEY=VALUE$/],
    ['an env string with a space in the name', { env: ['A B=1'] }, /^env "A B=1": invalid variable name "A B"/],
    ['env neither list nor record', { env: 'A=1' }, /^env: expected "K=V" strings or a record of strings, got string "A=1"$/],
    ['expose port 0', { expose: [0] }, /^expose "0": expected PORT\[\/PROTO\] with PORT 1-65535/],
    ['expose a fraction', { expose: [80.5] }, /^expose: expected PORT\[\/PROTO\] strings or port numbers, got number 80\.5$/],
    ['expose not a list', { expose: '80' }, /^expose: expected an array of ports, got string "80"$/],
    ['expose a bad protocol', { expose: ['80/http'] }, /^expose "80\/http": expected PORT/],
    ['workdir a number', { workdir: 5 }, /^workdir: expected a string, got number 5$/],
    ['workdir empty', { workdir: '' }, /^workdir: expected a directory, got an empty string$/],
    ['user an object', { user: { uid: 1 } }, /^user: expected a string, got an object$/],
    ['a typo: entrypont', { entrypont: ['serve'] }, /^config update: unknown key "entrypont"; did you mean "entrypoint"\?$/],
    ['a typo: label', { label: { a: 'b' } }, /^config update: unknown key "label"; did you mean "labels"\?$/],
    ['a typo: Env', { Env: ['A=1'] }, /^config update: unknown key "Env"; did you mean "env"\?$/],
    ['an unrelated key', { healthcheck: {} }, /^config update: unknown key "healthcheck"; the keys are entrypoint, cmd, env, workdir, user, labels, expose$/],
    ['not an object', null, /^a config update must be an object such as \{ cmd: \['serve'\] \}, got null$/],
    ['an array', [['cmd', 'x']], /^a config update must be an object .*got an array$/],
  ];
  it.each(cases)('%s', async (_name, update, message) => {
    const e = await thrown(() => withConfig(image(), update as ConfigUpdate));
    expect(e).toBeInstanceOf(StowageError);
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toMatch(message);
    expect(e.message).not.toMatch(/--/);
  });

  it('a valid update is applied as before (strings and numbers where allowed)', async () => {
    const layout = join(dir, 'base');
    await runOk('umoci', ['init', '--layout', layout]);
    await runOk('umoci', ['new', '--image', `${layout}:1`]);
    const out = withConfig(openImage(`oci:${layout}:1`), { entrypoint: ['serve'], env: { A: '1', B: 'x=y' }, labels: ['k=v=w'], expose: [8080, '53/udp'], workdir: 'app', user: '1000' });
    const c = (await configOf(out)).value.config!;
    expect(c.Entrypoint).toEqual(['serve']);
    expect(c.Env).toEqual(expect.arrayContaining(['A=1', 'B=x=y']));
    expect(c.Labels).toEqual({ k: 'v=w' });
    expect(Object.keys(c.ExposedPorts!)).toEqual(['8080/tcp', '53/udp']);
    expect(c.WorkingDir).toBe('/app');
    expect(c.User).toBe('1000');
  });
});

describe('library errors name options, not CLI flags; the CLI adds its flag', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['fileLayer without DEST_PATH', () => fileLayer('justafile', { cache: join(dir, 'c') }), /^copy "justafile": expected SRC:DEST_PATH/],
    ['fileLayer with a relative DEST_PATH', () => fileLayer({ source: 'x', dest: 'app/x' }, { cache: join(dir, 'c') }), /^copy "x:app\/x": DEST_PATH "app\/x" must be absolute/],
    ['fileLayer of a missing file', () => fileLayer(`${join(dir, 'missing')}:/x`, { cache: join(dir, 'c') }), /^copy source ".*missing" does not exist$/],
    ['memoryLayer with a relative path', () => memoryLayer([{ path: 'etc/x', content: '' }], { cache: join(dir, 'c') }), /^in-memory entry path "etc\/x" must be absolute/],
    ['modelLayers with a relative dest', () => modelLayers(dir, { dest: 'models', cache: join(dir, 'c') }), /^model ".*:models": DEST_DIR "models" must be absolute/],
    ['modelLayers with a bad chown', () => modelLayers(dir, { chown: 'root', cache: join(dir, 'c') }), /^chown "root": expected UID\[:GID\]/],
  ];
  it.each(cases)('%s', async (_name, call, message) => {
    const e = await thrown(call);
    expect(e).toMatchObject({ name: 'StowageError', code: 'INVALID_INPUT' });
    expect(e.message).toMatch(message);
    expect(e.message).not.toMatch(/--/);
  });

  it.each([
    ['copy "x": expected SRC:DEST_PATH', '--copy "x": expected SRC:DEST_PATH'],
    ['labels "": invalid label name', '--label "": invalid label name'],
    ['model source "m" does not exist', '--model source "m" does not exist'],
    ['env: expected "K=V" strings', '--env: expected "K=V" strings'],
    ['environment is fine', 'environment is fine'],
    ['copying failed', 'copying failed'],
  ])('CLI: %s', (message, cli) => {
    expect((withFlagNames(new StowageError('INVALID_INPUT', message)) as Error).message).toBe(cli);
  });
});

describe('memoryLayer ids', () => {
  it.each([
    [{ uid: 2 ** 31 }, /^in-memory entry "\/x": uid must be an integer from 0 to 2147483647, got 2147483648$/],
    [{ gid: 2 ** 32 - 2 }, /^in-memory entry "\/x": gid must be an integer from 0 to 2147483647, got 4294967294$/],
    [{ uid: -1 }, /uid must be an integer from 0 to 2147483647, got -1$/],
  ])('%j is refused as --chown refuses it', async (ids, message) => {
    const e = await thrown(() => memoryLayer([{ path: '/x', content: 'x', ...ids }], { cache: join(dir, 'c') }));
    expect(e).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(message) });
  });

  it('2147483647 is the largest id taken', async () => {
    const layer = await memoryLayer([{ path: '/x', content: 'x', uid: 2 ** 31 - 1, gid: 2 ** 31 - 1 }], { cache: join(dir, 'c') });
    expect(layer.descriptor.size).toBeGreaterThan(0);
  });
});

describe('closest', () => {
  it.each([
    ['entrypont', 'entrypoint'],
    ['cmdd', 'cmd'],
    ['lables', 'labels'],
    ['workingdir', 'workdir'],
    ['healthcheck', undefined],
    ['zzz', undefined],
  ])('%s → %s', (word, near) => expect(closest(word, ['entrypoint', 'cmd', 'env', 'workdir', 'user', 'labels', 'expose'])).toBe(near));
});
