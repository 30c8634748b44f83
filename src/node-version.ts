/**
 * Whether this Node can run stowage, decided before any of stowage's own modules is loaded: they import Node 22
 * APIs by name (`createZstdDecompress` from node:zlib), and on an older Node the import itself fails with a
 * SyntaxError about a missing export, in whatever command first loads one. So this file imports nothing, and the
 * CLI's entry asks it first. Node 22.15 added zstd to node:zlib (package.json's engines asks for more, the
 * versions tested).
 */
export function nodeProblem(version: string, zlib: object): string | undefined {
  const major = Number(/^v(\d+)\./.exec(version)?.[1] ?? 0);
  if (major < 22) return `stowage needs Node 22 or later (this is Node ${version}); install a current Node LTS and run it again`;
  if (typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress !== 'function') {
    return `stowage needs Node 22.15 or later, whose node:zlib has zstd (this is Node ${version}); install a current Node LTS and run it again`;
  }
  return undefined;
}
