/**
 * What a Dockerfile build read besides its context: the Dockerfile itself, every image it resolved and every URL it
 * downloaded, with the digests of what it got; and the arguments it was given. Provenance records these as BuildKit
 * does (externalParameters.configSource and .request, resolvedDependencies).
 */
export interface DockerfileSources {
  /** The Dockerfile: its path as given (default CONTEXT/Dockerfile) and the sha256 (hex) of its bytes. */
  file: { path: string; sha256: string };
  /** The stage built, when one was named (`--target`). */
  target?: string;
  /** Build arguments as given and resolved (`--build-arg K` takes K from the environment), sorted by name. */
  buildArgs: Record<string, string>;
  /**
   * Every image the build resolved, in the order it did (each stage's FROM it ran, COPY --from images): the
   * reference as the Dockerfile names it (after ARG expansion), the platform it was resolved for, and the manifest
   * digest and media type it got. `target` marks the image the built stage starts from.
   */
  images: { ref: string; platform: string; digest: string; mediaType: string; target?: boolean }[];
  /** ADD of http(s) URLs: the URL (credentials removed) and the sha256 (`sha256:…`) of what was downloaded. */
  urls: { url: string; digest: string }[];
}
