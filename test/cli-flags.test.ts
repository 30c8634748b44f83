// Issue 24 item 5: what each command accepts, what its --help lists and what the README's CLI synopsis lists are the
// same flags. Data-driven, so a new flag (or a new command) only needs its help line and its README entry:
// - the commands are those `stowage --help` lists;
// - what a command accepts is the `flagTables` its src/cli/*-command.ts module exports (the parser's own table);
// - its help is `stowage COMMAND --help` of the built CLI;
// - the README's entry is the synopsis block under "## CLI": the lines from `stowage COMMAND` up to the next command.
// Every accepted `--long-flag` must be named in the help and the synopsis, and every flag the help's synopsis and
// option lines (or the README synopsis) offer must be accepted (`--help` itself aside: every command has it).
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stowage } from './harness/cli.js';

const ROOT = new URL('../', import.meta.url);
const FLAG = /(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)/g;

function flagsIn(text: string): string[] {
  return [...new Set([...text.matchAll(FLAG)].map((m) => m[1]!))].filter((f) => f !== 'help').sort();
}

/**
 * The flags a help text offers: its synopsis lines (`stowage …` and the `[…]` lines under them) and the first column
 * of its option lines (`  -f, --file FILE   text`). Prose may name other tools' flags (pip's `--hash`, apt's
 * `--no-install-recommends`); an alias may be named in an option's text (`(alias: --legacy)`).
 */
function offeredIn(text: string): string[] {
  const columns = text.split('\n').map((line) => {
    const t = line.trim();
    if (t.startsWith('stowage ') || t.startsWith('[')) return t;
    return t.startsWith('-') ? t.split(/\s{2,}/)[0]! : '';
  });
  return flagsIn(columns.join('\n'));
}

/** Every command module's table of accepted flags, by command name, and the modules that export none. */
async function acceptedFlags(): Promise<{ tables: Map<string, string[]>; without: string[] }> {
  const dir = new URL('src/cli/', ROOT);
  const tables = new Map<string, string[]>();
  const without: string[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('-command.ts')).sort()) {
    const module = (await import(fileURLToPath(new URL(file, dir)))) as { flagTables?: Record<string, Record<string, unknown>> };
    if (!module.flagTables) without.push(`src/cli/${file}`);
    for (const [command, table] of Object.entries(module.flagTables ?? {})) tables.set(command, Object.keys(table).filter((f) => f !== 'help').sort());
  }
  return { tables, without };
}

/** The README's CLI synopsis, split by command: `stowage COMMAND …` and its continuation lines. */
async function readmeSynopsis(): Promise<Map<string, string>> {
  const readme = await readFile(new URL('README.md', ROOT), 'utf8');
  const section = readme.slice(readme.indexOf('\n## CLI\n'));
  const block = /\n```\n([\s\S]*?)\n```\n/.exec(section);
  expect(block, 'README.md: no synopsis code block in the CLI section').not.toBeNull();
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of block![1]!.split('\n')) {
    const m = /^stowage ([a-z]+)\b/.exec(line);
    if (m) current = m[1]!;
    if (current) out.set(current, `${out.get(current) ?? ''}\n${line}`);
  }
  return out;
}

describe('every command: accepted flags = --help = README', async () => {
  const main = await stowage(['--help']);
  const commands = [...new Set([...main.stdout.matchAll(/^ {2}stowage ([a-z]+)\b/gm)].map((m) => m[1]!))].sort();
  const { tables: accepted, without } = await acceptedFlags();
  const readme = await readmeSynopsis();

  it('every src/cli/*-command.ts exports the flag table it parses with (flagTables)', () => {
    expect(without).toEqual([]);
  });

  it('stowage --help lists the commands that have flag tables, and each has a README synopsis entry', () => {
    expect(commands).toEqual([...accepted.keys()].sort());
    expect([...readme.keys()].sort()).toEqual(commands);
  });

  for (const command of commands) {
    it(`stowage ${command}`, async () => {
      const help = await stowage([command, '--help']);
      expect(help.code).toBe(0);
      const inParser = accepted.get(command) ?? [];
      // Named lists, so that a failure says which flag is missing where.
      // Every accepted flag is named somewhere in the text; every flag its synopsis and option lines offer is accepted.
      const diff = (where: string, named: string[], offered: string[]) =>
        `${where}: accepted but not listed [${inParser.filter((f) => !named.includes(f)).join(' ')}], listed but not accepted [${offered.filter((f) => !inParser.includes(f)).join(' ')}]`;
      const same = (where: string) => `${where}: accepted but not listed [], listed but not accepted []`;
      expect(diff(`stowage ${command} --help`, flagsIn(help.stdout), offeredIn(help.stdout))).toBe(same(`stowage ${command} --help`));
      const synopsis = readme.get(command) ?? '';
      expect(diff(`README.md CLI synopsis of stowage ${command}`, flagsIn(synopsis), flagsIn(synopsis))).toBe(same(`README.md CLI synopsis of stowage ${command}`));
    });
  }
});

describe('one flag, one meaning, on every command (issue 24 items 4 and 5)', () => {
  it('--legacy-signature and its alias --legacy ask for the same thing on sign and on build --sign', async () => {
    const { parseSignArgs } = await import('../src/cli/sign-command.js');
    const { parseBuildArgs } = await import('../src/cli/build-command.js');
    for (const flag of ['--legacy-signature', '--legacy']) {
      expect(parseSignArgs(['r.example/app:1', '--key', 'k.pem', flag]).options.legacy).toBe(true);
      expect(parseBuildArgs(['--from', 'a', '--to', 'b', '--sign', '--key', 'k.pem', flag]).options.sign).toEqual({ key: 'k.pem', legacy: true });
    }
    expect(() => parseBuildArgs(['--from', 'a', '--to', 'b', '--sign', '--keyless', '--legacy-signature'])).toThrow('--legacy-signature needs --key');
  });

  it('build --concurrency N reaches BuildOptions.concurrency, as copy --concurrency does; a bad value is refused before anything runs', async () => {
    const { parseBuildArgs } = await import('../src/cli/build-command.js');
    const { build } = await import('../src/build.js');
    expect(parseBuildArgs(['--from', 'a', '--to', 'b', '--concurrency', '2']).options.concurrency).toBe(2);
    expect(() => parseBuildArgs(['--from', 'a', '--to', 'b', '--concurrency', '0'])).toThrow('--concurrency "0": expected a positive integer');
    await expect(build({ from: 'oci:/nonexistent', to: 'oci:/nonexistent-too', concurrency: 0 })).rejects.toThrow('concurrency must be a positive integer, got 0');
  });
});
