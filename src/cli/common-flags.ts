/** Flags every command that talks to a registry takes: how to reach it, and how much to say. */
export const COMMON_FLAGS = {
  insecure: { type: 'boolean' },
  'ca-file': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;
