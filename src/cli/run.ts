import { readFileSync } from 'node:fs';
import { isStowageError, messageOf } from '../errors.js';
import { redactOutput } from '../auth/redact.js';
import { stderrLogger } from '../log.js';
import { withFlagPhrases } from './flag-names.js';
import { MAIN_USAGE } from './usage.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** One line on stderr that says what went wrong; never a stack trace (unless STOWAGE_DEBUG is set). */
function report(e: unknown): number {
  // Library messages name their options ("the platform option"); the command line names its flags.
  const message = withFlagPhrases(redactOutput(messageOf(e)).replace(/\s*\n\s*/g, ' '));
  process.stderr.write(`stowage: error: ${message}\n`);
  if (process.env.STOWAGE_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${redactOutput(e.stack)}\n`);
  if (isStowageError(e)) {
    if (e.code === 'USAGE') return 2;
    if (e.code === 'CANCELLED') {
      process.stderr.write('stowage: cancelled; no tag was changed, and it is safe to re-run\n');
      return 130;
    }
  }
  return 1;
}

/**
 * Ctrl-C (or SIGTERM) aborts the work in flight: requests stop, upload sessions are cancelled, temp files are
 * removed, and the process exits 130 with a message saying a re-run is safe. A second Ctrl-C exits at once.
 */
function cancelOnSignals(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`stowage: ${name} received, stopping (press Ctrl-C again to exit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}

/** Commands load on demand: a build never pays for the sigstore libraries it does not use. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const makeLog = (o: { quiet: boolean; verbose: boolean }) => stderrLogger(o);
  switch (command) {
    case 'build':
      return (await import('./build-command.js')).buildCommand(rest, makeLog, cancelOnSignals());
    case 'lock':
      return (await import('./lock-command.js')).lockCommand(rest, makeLog, cancelOnSignals());
    case 'sign':
      return (await import('./sign-command.js')).signCommand(rest, makeLog, cancelOnSignals());
    case 'verify':
      return (await import('./verify-command.js')).verifyCommand(rest, makeLog, cancelOnSignals());
    case 'copy':
      return (await import('./copy-command.js')).copyCommand(rest, makeLog, cancelOnSignals());
    case 'tag':
      return (await import('./tag-command.js')).tagCommand(rest, makeLog, cancelOnSignals());
    case 'inspect':
      return (await import('./inspect-command.js')).inspectCommand(rest, makeLog, cancelOnSignals());
    case 'digest':
      return (await import('./inspect-command.js')).digestCommand(rest, makeLog, cancelOnSignals());
    case 'executor':
      return (await import('./executor-command.js')).executorCommand(rest, makeLog, cancelOnSignals());
    case 'login':
      return (await import('./login-command.js')).loginCommand(rest, makeLog, cancelOnSignals());
    case '--version':
    case 'version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(MAIN_USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`stowage: error: unknown command "${command}"\n${MAIN_USAGE}`);
      return 2;
  }
}

// If the event loop ever empties with the command still pending (a stream that never ends), say so and fail
// rather than exit 0 with nothing printed.
let settled = false;
process.on('exit', (code) => {
  if (!settled && code === 0) {
    process.stderr.write('stowage: error: internal error: the command stopped with work unfinished; nothing more was pushed\n');
    process.exitCode = 70;
  }
});

main(process.argv.slice(2)).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (e: unknown) => {
    settled = true;
    process.exitCode = report(e);
  },
);
