/**
 * The library's first import (src/index.ts imports it before anything else, so it is evaluated first): on a Node
 * that cannot run stowage, `import('stowage')` fails with the one line the CLI prints (src/node-version.ts), not
 * with whatever Node 22 API a later module happens to touch first. No stowage module may import a Node 22 export by
 * name (e.g. `import { createZstdDecompress } from 'node:zlib'`): a missing named export fails at link time, before
 * any module runs, and this check would never be reached. package.json's `sideEffects` names this file so that
 * bundlers keep the import.
 */
import zlib from 'node:zlib';
import { StowageError } from './errors.js';
import { nodeProblem } from './node-version.js';

const problem = nodeProblem(process.version, zlib);
if (problem) throw new StowageError('NODE_VERSION', problem);
