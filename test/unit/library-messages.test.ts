// Issue 20, leftover g: errors reachable from the library API name the library's options ("the tags option",
// "the platform option"), not CLI flags; the CLI's error line names its flags (cli/flag-names withFlagPhrases), so
// a command-line user reads what they typed. Before, these library calls answered with `--tag`, `--modelcar`,
// `--from`, `--cache-repo` and `--compression`, flags a program never passed.
import { describe, expect, it } from 'vitest';
import { build, copy, lock, type BuildOptions } from '../../src/index.js';
import { parseCacheRepo } from '../../src/cache/open-registry-cache.js';
import { newLayerMediaType } from '../../src/image/layer.js';
import { withFlagPhrases } from '../../src/cli/flag-names.js';
import { prepareSigning } from '../../src/sign/attest.js';
import { StowageError } from '../../src/errors.js';
import { stowage } from '../harness/cli.js';

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
