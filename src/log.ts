import { redactOutput } from './auth/redact.js';

/** Where stowage reports what it does. Lines go to stderr in the CLI; never to stdout, never with secrets. */
export interface Logger {
  info(line: string): void;
  warn(line: string): void;
  debug(line: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, debug() {} };

export function stderrLogger(opts: { verbose?: boolean; quiet?: boolean } = {}): Logger {
  // Last line of defence: any secret this process handled is masked, whatever a server echoed into a message.
  const write = (line: string) => process.stderr.write(`${redactOutput(line)}\n`);
  return {
    info: (line) => {
      if (!opts.quiet) write(line);
    },
    warn: (line) => write(`warning: ${line}`),
    debug: (line) => {
      if (opts.verbose) write(line);
    },
  };
}
