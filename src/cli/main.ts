#!/usr/bin/env node
// The CLI's entry. It checks the Node version with only node: built-ins loaded, then loads the CLI itself
// (run.ts), whose modules need Node 22: on an older Node, a static import of them would fail before any check
// could run, with a message about node:zlib instead of the version.
import zlib from 'node:zlib';
import { nodeProblem } from '../node-version.js';
import { restartWithFewArenas } from './malloc-arenas.js';
import { keepOldGenerationTight } from './old-generation.js';
import { keepYoungGenerationSmall } from './young-generation.js';

const problem = nodeProblem(process.version, zlib);
if (problem) {
  process.stderr.write(`stowage: error: ${problem}\n`);
  process.exitCode = 1;
} else {
  restartWithFewArenas();
  keepYoungGenerationSmall();
  keepOldGenerationTight();
  await import('./run.js');
}
