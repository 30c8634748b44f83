// Which Dockerfile layers may be streamed and kept without a blob: their files must all be readable again after the
// run (none in its staging directory), and together big enough to stream.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readableAgain, worthStreaming } from '../../src/dockerfile/layer-destination.js';
import { STREAM_MIN_BYTES } from '../../src/layer/file-layer.js';
import type { LayerEntry } from '../../src/layer/walk.js';

const staging = path.join('/tmp', 'stowage-dockerfile-abc');
const file = (source: string, size = 1): LayerEntry => ({ name: `app/${path.basename(source)}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size, source });
const dir: LayerEntry = { name: 'app/', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 };

describe('readableAgain', () => {
  it('is true when every file is read from the context (directories have no source)', () => {
    expect(readableAgain([dir, file('/ctx/model.bin'), file('/ctx/a.txt')], staging)).toBe(true);
  });
  it('is false when any file lives in the staging directory (another stage or image, a heredoc, a download)', () => {
    expect(readableAgain([dir, file('/ctx/a.txt'), file(path.join(staging, 'h1234'))], staging)).toBe(false);
  });
  it('a sibling directory whose name starts like the staging one is not inside it', () => {
    expect(readableAgain([file(`${staging}-other/x`)], staging)).toBe(true);
  });
});

describe('worthStreaming', () => {
  it('counts the files of the layer against the --copy threshold', () => {
    expect(worthStreaming([dir, file('/ctx/a', STREAM_MIN_BYTES - 1)])).toBe(false);
    expect(worthStreaming([file('/ctx/a', STREAM_MIN_BYTES - 1), file('/ctx/b', 1)])).toBe(true);
  });
});
