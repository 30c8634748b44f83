// Issue 20, leftover g: errors reachable from the library API name the library's options ("the tags option",
// "the platform option"), not CLI flags; the CLI's error line names its flags (cli/flag-names withFlagPhrases), so
// a command-line user reads what they typed. Before, these library calls answered with `--tag`, `--modelcar`,
// `--from`, `--cache-repo` and `--compression`, flags a program never passed.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, copy, lock, splitAptFlag, type BuildOptions } from '../../src/index.js';
import { parseCacheRepo } from '../../src/cache/open-registry-cache.js';
import { newLayerMediaType } from '../../src/image/layer.js';
import { withFlagPhrases } from '../../src/cli/flag-names.js';
import { prepareSigning } from '../../src/sign/attest.js';
import { identityMatcher } from '../../src/sign/certificate-identity.js';
import { directWheels } from '../../src/python/select.js';
import { StowageError } from '../../src/errors.js';
import { failsWithOneLine, stowage } from '../harness/cli.js';
import { debianBaseLayout } from '../harness/debian-base.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

async function thrown(f: () => unknown): Promise<StowageError> {
  try {
    await f();
  } catch (e) {
    return e as StowageError;
  }
  throw new Error('expected an error');
}

const from = 'oci:/nonexistent/stowage-test-base:1';
const to = 'oci:/nonexistent/stowage-test-out:1';

describe('library errors name options, not flags', () => {
  const cases: [string, () => unknown, string][] = [
    ['build: tags on an oci: destination', () => build({ from, to, tags: ['v2'] }), `the tags option applies to registry and docker-archive destinations, not ${to}`],
    ['build: no base', () => build({ from: '', to }), 'a base image is required (the from option)'],
    ['build: modelcar without a model', () => build({ from, to, modelcar: true }), 'the modelcar option needs a model: the model option SRC[:DEST_DIR]'],
    ['build: a Dockerfile with copies', () => build({ from: '', to, dockerfile: { file: 'Dockerfile', context: '.' }, copy: ['a:/a'] } as BuildOptions), 'a Dockerfile build takes its base and config from the Dockerfile; drop the copy option'],
    ['build: a cache repository with a tag', () => build({ from, to, cacheRepo: '127.0.0.1:5000/cache:t' }), 'the cacheRepo option "127.0.0.1:5000/cache:t" names a tag or digest; give a repository (host/name): stowage tags its entries itself'],
    ['lock: no base', () => lock({ from: '' } as Parameters<typeof lock>[0]), 'a base image is required (the from option)'],
    ['copy: tags on an oci: destination', () => copy({ from, to, tags: ['v2'] }), `the tags option applies to registry destinations, not ${to}`],
    ['parseCacheRepo', () => parseCacheRepo('127.0.0.1:5000/c@sha256:' + 'a'.repeat(64)), 'the cacheRepo option "127.0.0.1:5000/c@sha256:' + 'a'.repeat(64) + '" names a tag or digest; give a repository (host/name): stowage tags its entries itself'],
    ['signing: a key and keyless', () => prepareSigning({ key: 'k.pem', keyless: true }, {}), 'sign with a key or keyless, not both (the key option or the keyless option)'],
    ['signing: neither', () => prepareSigning({}, {}), 'signing needs a private key (the key option) or keyless signing (the keyless option)'],
    ['zstd on a Docker base', () => newLayerMediaType('docker', 'zstd', 'base:1'), 'the compression option zstd needs an OCI base image; base:1 is a Docker schema 2 image, which has no zstd layer type (use gzip, or an oci: destination)'],
  ];
  it.each(cases)('%s', async (_name, call, message) => {
    const e = await thrown(call);
    expect(e).toBeInstanceOf(StowageError);
    expect(e.message).toBe(message);
    expect(e.message).not.toMatch(/--/);
  });
});

describe('the CLI names its flags in the same messages', () => {
  it.each([
    ['the tags option applies to registry destinations, not oci:x', '--tag applies to registry destinations, not oci:x'],
    ['a base image is required (the from option)', 'a base image is required (--from)'],
    ['the modelcar option needs a model: the model option SRC[:DEST_DIR]', '--modelcar needs a model: --model SRC[:DEST_DIR]'],
    ['drop the from option, the python option, the chown option', 'drop --from, --python-lock/--wheel, --chown'],
    ['choose one with the platform option', 'choose one with --platform'],
    ['trust its CA with the caFile option, or use the insecure option only if', 'trust its CA with --ca-file, or use --insecure only if'],
    ['the modelCompression option needs a model', '--model-compression needs a model'],
    ['the other option and the fromage option stay', 'the other option and the fromage option stay'],
    ['sign with a key or keyless, not both (the key option or the keyless option)', 'sign with a key or keyless, not both (--key or --keyless)'],
    ['a Sigstore trusted root (the trustedRoot option, a trusted_root.json)', 'a Sigstore trusted root (--trusted-root, a trusted_root.json)'],
    ['instead of the key option (the certificateIdentity option, the certificateOidcIssuer option)', 'instead of --key (--certificate-identity, --certificate-oidc-issuer)'],
  ])('%s', (library, cli) => expect(withFlagPhrases(library)).toBe(cli));

  it.each([
    [['build', '--from', from, '--to', to, '--tag', 'v2'], `stowage: error: --tag applies to registry and docker-archive destinations, not ${to}\n`],
    [['build', '--from', from, '--to', to, '--modelcar'], 'stowage: error: --modelcar needs a model: --model SRC[:DEST_DIR]\n'],
    [['copy', '--tag', 'v2', from, to], `stowage: error: --tag applies to registry destinations, not ${to}\n`],
  ])('stowage %j', async (args, line) => {
    const r = await stowage(args);
    expect(r.stderr).toBe(line);
    expect(r.code).toBe(2);
  });
});

// Leftover g, second part: the python, apt and Dockerfile messages still said --python-target, --index-url, --wheel,
// --apt, --apt-source, --apt-allow-unrun and --build-arg to a program that passed python.target, apt, buildArgs.
describe('python, apt and Dockerfile options: the library names the option, the CLI the flag', () => {
  let tmp: string;
  let bare: string;
  let context: string;
  const out = () => `oci:${join(tmp, 'out')}:1`;

  beforeAll(async () => {
    tmp = await makeTempDir('stowage-messages-');
    // A base without a dpkg database: the apt request fails on reading it, before any index is fetched.
    const root = join(tmp, 'bare');
    await mkdir(join(root, 'bin'), { recursive: true });
    await writeFile(join(root, 'bin/busybox'), 'not really');
    bare = `oci:${(await debianBaseLayout(root, join(tmp, 'bare-layout'))).dir}:bookworm`;
    context = join(tmp, 'context');
    await mkdir(context);
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\n');
  }, 120_000);
  afterAll(() => removeTempDir(tmp));

  const library: [string, () => unknown, string | RegExp][] = [
    ['python: an index URL that is not http(s)', () => build({ from, to, python: { lock: 'requirements.txt', indexUrl: 'ftp://example.invalid/simple' } }), 'the python.indexUrl option ftp://example.invalid/simple: expected an http(s) URL'],
    ['python: options without a lock or wheels', () => build({ from, to, python: { target: 'venv:/opt/venv', findLinks: ['wheels'] } }), 'the python.findLinks option, the python.target option need something to install: the python.lock option FILE or the python.wheels option FILE.whl'],
    ['python: a site and a venv', () => build({ from, to, python: { lock: 'r.txt', site: '/s', target: 'venv:/v' } }), 'the python.site option and the python.target option venv: cannot be used together'],
    ['python: a wheel that is not one', () => directWheels(['notes.txt']), 'the python.wheels option notes.txt: not a wheel file name ({name}-{version}-{python}-{abi}-{platform}.whl)'],
    ['apt: a bad package name', () => build({ from, to, apt: ['Bad!'] }), 'apt "Bad!": expected a Debian package name, optionally =VERSION'],
    ['apt: sources without packages', () => build({ from, to, aptSources: ['deb http://127.0.0.1:9/debian bookworm main'] }), 'the aptLock option, the aptRecommends option, the aptSources option, the aptKeyrings option and the aptAllowUnrun option need packages: the apt option PKG[,PKG...] (or the aptLock option FILE)'],
    ['apt: an empty name in a list', () => splitAptFlag(['a,,b']), 'apt "a,,b": an empty package name'],
    ['apt: a Dockerfile build with packages', () => build({ from: '', to, dockerfile: { text: 'FROM scratch\n' }, apt: ['hello'] }), 'a Dockerfile build takes its packages from RUN apt-get install; drop the apt option (the aptLock option and the aptAllowUnrun option apply to its RUN)'],
    ['apt: build on a base without dpkg', () => build({ from: bare, to: out(), apt: ['hello'], cacheDir: join(tmp, 'cache') }), 'the base image has no dpkg database (looked for /var/lib/dpkg/status); the apt option needs a Debian or Ubuntu base'],
    ['apt: lock names its own option (packages)', () => lock({ from: bare, packages: ['hello'], cacheDir: join(tmp, 'cache') }), /^base oci:.*bare-layout:bookworm has no dpkg database \(looked for \/var\/lib\/dpkg\/status\); the packages option needs a Debian or Ubuntu base$/],
    ['dockerfile: a build arg without a name', () => build({ from: '', to, dockerfile: { text: 'FROM scratch\n', buildArgs: ['=x'] } }), 'the dockerfile.buildArgs option "": expected KEY=VALUE'],
    ['verify: an identity and its pattern', () => identityMatcher({ identity: 'a', identityRegExp: 'b', issuer: 'i' }), 'give the certificateIdentity option or the certificateIdentityRegExp option, not both'],
  ];
  it.each(library)('%s', async (_name, call, message) => {
    const e = await thrown(call);
    expect(e).toBeInstanceOf(StowageError);
    if (typeof message === 'string') expect(e.message).toBe(message);
    else expect(e.message).toMatch(message);
    // No flag (a temp directory's name may hold `--`).
    expect(e.message).not.toMatch(/(^|[\s(,])--[a-z]/);
  });

  it.each([
    // PY_EXTERNALLY_MANAGED (python/target.ts) and APT_UNRUN_SCRIPT (apt/install.ts) say what to pass, as a program writes it.
    [
      "install into a virtual environment with python: { target: 'venv:/opt/venv' }, or into /usr/local as Debian's pip does with python: { breakSystemPackages: true }",
      "install into a virtual environment with --python-target venv:/opt/venv, or into /usr/local as Debian's pip does with --break-system-packages",
    ],
    ["to install without those effects, pass aptAllowUnrun: ['uuid-runtime', 'adduser'] (or 'all')", 'to install without those effects, pass --apt-allow-unrun uuid-runtime,adduser (or all)'],
    ["give one with the aptSources option 'deb URI SUITE COMPONENT'", "give one with --apt-source 'deb URI SUITE COMPONENT'"],
    ['the sources option and the keyrings option', '--apt-source and --apt-keyring'],
    ['name the one to install with the packages option', 'name the one to install with --apt'],
    ['the python.wheels option a.whl: no wheel fits', '--wheel a.whl: no wheel fits'],
    ['the python.extraIndexUrls option ftp://x: expected', '--extra-index-url ftp://x: expected'],
    ['a python: { other: true } stays', 'a python: { other: true } stays'],
    ["the aptAllowUnrun option, aptAllowUnrun: 'all'", "--apt-allow-unrun, --apt-allow-unrun all"],
  ])('%s', (text, cli) => expect(withFlagPhrases(text)).toBe(cli));

  it('stowage build: the flags', async () => {
    const [python, apt, sources, noDpkg, buildArg] = await Promise.all([
      failsWithOneLine(['build', '--from', from, '--to', to, '--python-lock', 'requirements.txt', '--index-url', 'ftp://example.invalid/simple']),
      failsWithOneLine(['build', '--from', from, '--to', to, '--apt', 'Bad!']),
      failsWithOneLine(['build', '--from', from, '--to', to, '--apt-source', 'deb http://127.0.0.1:9/debian bookworm main']),
      failsWithOneLine(['build', '--from', bare, '--to', out(), '--apt', 'hello', '--cache-dir', join(tmp, 'cache')]),
      failsWithOneLine(['build', '--to', to, '--build-arg', '=x', context]),
    ]);
    expect(python).toBe('stowage: error: --index-url ftp://example.invalid/simple: expected an http(s) URL');
    expect(apt).toBe('stowage: error: --apt "Bad!": expected a Debian package name, optionally =VERSION');
    expect(sources).toBe('stowage: error: --apt-lock, --apt-recommends, --apt-source, --apt-keyring and --apt-allow-unrun need packages: --apt PKG[,PKG...] (or --apt-lock FILE)');
    expect(noDpkg).toBe('stowage: error: the base image has no dpkg database (looked for /var/lib/dpkg/status); --apt needs a Debian or Ubuntu base');
    expect(buildArg).toBe('stowage: error: --build-arg "": expected KEY=VALUE');
  }, 120_000);

  it('stowage lock: the flags', async () => {
    const [noDpkg, empty] = await Promise.all([
      failsWithOneLine(['lock', '--from', bare, '--apt', 'hello', '--cache-dir', join(tmp, 'cache')]),
      failsWithOneLine(['lock', '--from', bare, '--apt', 'a,,b']),
    ]);
    expect(noDpkg).toMatch(/^stowage: error: base oci:.*bare-layout:bookworm has no dpkg database \(looked for \/var\/lib\/dpkg\/status\); --apt needs a Debian or Ubuntu base$/);
    expect(empty).toBe('stowage: error: --apt "a,,b": an empty package name');
  }, 120_000);
});
