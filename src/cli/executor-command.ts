import { readFileSync } from 'node:fs';
import { KANIKO_FLAGS, parseKanikoFlags } from '../executor/flags.js';
import { planExecutor } from '../executor/plan.js';
import { StowageError } from '../errors.js';
import type { Logger } from '../log.js';

export const EXECUTOR_USAGE = `Usage:
  stowage executor --context DIR --dockerfile FILE --destination REF [--destination REF]... [kaniko's flags]

kaniko's command line (GoogleContainerTools/kaniko v1.24.0, archived), built by stowage: no root, no container.
A job keeps its arguments; the README ("kaniko's command line") says what each flag does here.

  -c, --context DIR             build context (default /workspace/; dir://DIR accepted)
      --context-sub-path DIR    a directory inside the context
  -f, --dockerfile FILE         the Dockerfile: as given, else relative to the context (default Dockerfile)
  -d, --destination REF         push to REF; repeat for more (every one names the same digest)
      --build-arg K=V           repeatable; K alone takes the value from the environment
      --target STAGE            build this stage
      --label K=V               repeatable; on top of the Dockerfile's labels
      --custom-platform OS/ARCH default: this machine's platform
      --cache                   use the layer cache in a registry: --cache-repo REPO, else DEST/cache
      --cache-repo REPO         the cache repository (host/name)
      --no-push-cache           read the cache, record nothing in it
      --no-push                 build without pushing (or KANIKO_NO_PUSH=true)
      --tar-path FILE           also write a docker-load archive named by the destinations
      --oci-layout-path DIR     also write an OCI image layout
      --digest-file FILE        the manifest digest (sha256:..., no newline)
      --image-name-with-digest-file FILE       REPO@DIGEST per destination, one a line
      --image-name-tag-with-digest-file FILE   REPO:TAG@DIGEST per destination, one a line
      --insecure, --insecure-pull, --skip-tls-verify, --skip-tls-verify-pull,
      --insecure-registry REG, --skip-tls-verify-registry REG
                                plain HTTP and unverified TLS (for every registry of the build)
      --registry-certificate REG=FILE   trust FILE's CA certificates
      --registry-mirror HOST[/PREFIX]   pull docker.io images through a mirror first (or KANIKO_REGISTRY_MIRROR)
      --registry-map REG=HOST[/PREFIX]  the same for any registry (or KANIKO_REGISTRY_MAP)
      --skip-default-registry-fallback  only the mirrors
      --push-retry N, --image-download-retry N   retries of each registry request
      --compression gzip|zstd, --compression-level N
      --reproducible            accepted: stowage's output always is (SOURCE_DATE_EPOCH, else 0)
  -v, --verbosity LEVEL         trace|debug (more), info, warn|error|fatal|panic (less)
  -h, --help

Accepted and ignored, one notice each (they tune kaniko's own snapshots, cache, state directory or logs):
  --snapshot-mode, --single-snapshot, --use-new-run, --compressed-caching, --ignore-var-run, --whitelist-var-run,
  --ignore-path, --cleanup, --force, --kaniko-dir, --cache-dir, --cache-ttl, --cache-copy-layers,
  --cache-run-layers, --skip-unused-stages, --force-build-metadata, --skip-push-permission-check,
  --image-fs-extract-retry, --git, --log-format, --log-timestamp
Refused, one line saying what to do instead: --bucket (-b), --registry-client-cert, --push-ignore-immutable-tag-errors
Old spellings accepted as kaniko accepts them: tarPath, customPlatform, snapshotMode (with two dashes).

Credentials: $DOCKER_CONFIG/config.json (/kaniko/.docker/config.json when DOCKER_CONFIG is unset and it exists),
else ~/.docker/config.json, with the credential helpers it names. stdout: the digest, one line.
`;

/** What the executor accepts: every kaniko flag under its current name (old spellings are aliases of these). */
export const flagTables = { executor: Object.fromEntries(KANIKO_FLAGS.filter((f) => !f.alias).map((f) => [f.name, f])) };

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** `stowage executor`: kaniko's flags, one notice per ignored flag on stderr, the digest on stdout. */
export async function executorCommand(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  const parsed = parseKanikoFlags(argv);
  if (parsed.help) {
    process.stdout.write(EXECUTOR_USAGE);
    return 0;
  }
  // kaniko's one subcommand; any other word is an error there too ("unknown command").
  if (parsed.positionals[0] === 'version' && parsed.positionals.length === 1) {
    process.stdout.write(`stowage ${version()} (kaniko executor flags)\n`);
    return 0;
  }
  if (parsed.positionals.length) {
    throw new StowageError('USAGE', `unexpected argument "${parsed.positionals[0]}": kaniko's executor takes flags only (a bool flag takes its value as --flag=false)`);
  }
  const plan = planExecutor(parsed);
  for (const notice of plan.notices) process.stderr.write(`stowage: notice: ${notice}\n`);
  // The build code loads only now: --help and a bad flag answer without it.
  const [{ runExecutor }, { ttyReporter }] = await Promise.all([import('../executor/run.js'), import('../progress.js')]);
  const tty = process.stderr.isTTY && !plan.quiet ? ttyReporter(process.stderr, { verbose: plan.verbose }) : undefined;
  const log = tty ?? makeLog(plan);
  try {
    const result = await runExecutor(plan, { log, signal, ...(tty ? { progress: tty } : {}) });
    process.stdout.write(`${result.digest}\n`);
  } finally {
    tty?.stop();
  }
  return 0;
}
