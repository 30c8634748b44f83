// Issue 24 item 11: which ADD/COPY sources are git repositories, as BuildKit's gitutil.ParseGitRef decides (no network:
// the function only reads the string).
import { describe, expect, it } from 'vitest';
import { isGitSource } from '../../src/dockerfile/git-source.js';

describe('isGitSource', () => {
  const cases: [string, boolean][] = [
    ['https://github.com/moby/buildkit.git#v0.10.1', true], // the Dockerfile reference's own example
    ['https://github.com/moby/buildkit.git', true],
    ['https://github.com/moby/buildkit.git#main:docs', true],
    ['http://example.com/org/repo.git?x=1#main', true],
    ['HTTPS://example.com/repo.git', true],
    ['git@github.com:moby/buildkit.git#v0.10.1', true],
    ['git://github.com/moby/buildkit#v0.10.1', true],
    ['ssh://git@github.com/moby/buildkit.git', true],
    ['https://example.com/releases/model.tar.gz', false],
    ['https://example.com/repo.git/raw/file', false],
    ['https://example.com/download?name=repo.git', false],
    ['model.json', false],
    ['./dir/', false],
  ];
  for (const [src, git] of cases) it(`${src} → ${git}`, () => expect(isGitSource(src)).toBe(git));
});
