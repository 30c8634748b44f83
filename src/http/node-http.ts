/**
 * node:http and node:https, loaded through `require`. An ES `import` of node:http reads every export of the built-in
 * to build its module namespace, and one of them (a lazy getter for the WebSocket/EventSource classes) loads Node's
 * bundled undici: measured ~170 ms of CPU at every start-up (2 busy cores), against ~12 ms for `require`. Each
 * stowage command that talks to a registry paid it before doing any work. node:https (and OpenSSL's set-up behind
 * node:tls) load only when an https URL is first used.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function nodeHttp(): typeof import('node:http') {
  return require('node:http') as typeof import('node:http');
}

export function nodeHttps(): typeof import('node:https') {
  return require('node:https') as typeof import('node:https');
}
