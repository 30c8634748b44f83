/**
 * Whether an ADD/COPY source names a git repository, as BuildKit's `gitutil.ParseGitRef` decides it: a `git://`
 * or `ssh://` URL, an scp-like `git@host:path`, or an http(s) URL whose path ends in `.git` (the fragment, `#ref`
 * or `#ref:subdir`, and the query aside): `ADD https://github.com/moby/buildkit.git#v0.10.1 /b`, the Dockerfile
 * reference's own example, is a git source and not a file download.
 */
export function isGitSource(src: string): boolean {
  if (/^(git|ssh):\/\//i.test(src) || /^git@[^:/]+:/.test(src)) return true;
  if (!/^https?:\/\//i.test(src)) return false;
  let url: URL;
  try {
    url = new URL(src);
  } catch {
    return false;
  }
  return url.pathname.endsWith('.git');
}
