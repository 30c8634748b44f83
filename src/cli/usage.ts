export const MAIN_USAGE = `stowage: build and push OCI container images without Docker

Usage:
  stowage build --from BASE --to DEST [options]   build an image from a base plus local files
  stowage login HOST -u USER --password-stdin      store registry credentials like docker login
  stowage --help | --version

Run "stowage COMMAND --help" for a command's options.
`;

export const LOGIN_USAGE = `Usage:
  stowage login HOST -u USER --password-stdin    (or -p PASSWORD, visible to other users)

Checks the credentials against the registry, then stores them like "docker login": in
$DOCKER_CONFIG/config.json (default ~/.docker/config.json), mode 0600, or in the credential
helper that file names (credHelpers / credsStore).

Options:
  -u, --username USER
  -p, --password PASSWORD
  --password-stdin          read the password or token from stdin
  --insecure                allow plain HTTP and unverified TLS for a non-loopback registry
  --ca-file FILE            trust the PEM CA certificates in FILE
`;

export const BUILD_USAGE = `Usage:
  stowage build --from BASE --to DEST [--copy SRC:DEST_PATH]... [--entrypoint E] [--cmd C]
                [--env K=V]... [--workdir DIR] [--user U] [--label K=V]... [--expose PORT[/PROTO]]...
                [--platform OS/ARCH[/VARIANT]] [--tag TAG]... [--insecure] [--digest-file FILE]

  BASE   [host[:port]/]repo[:tag|@sha256:...]  or  oci:DIR[:TAG]
  DEST   [host[:port]/]repo[:tag]  or  oci:DIR[:TAG]  or  docker-archive:FILE[:REPO:TAG]

Options:
  --from BASE               base image (Docker defaults: docker.io, library/, latest)
  --to DEST                 where the image goes
  --copy SRC:DEST_PATH      a file or directory placed at the absolute DEST_PATH; each --copy is one layer
  --chown UID[:GID]         owner of copied files (default 0:0)
  --entrypoint E            JSON array = exec form; other text = /bin/sh -c E. Resets the base Cmd unless --cmd
  --cmd C                   JSON array = exec form; other text = /bin/sh -c C; '[]' clears
  --env K=V                 set an environment variable (repeatable)
  --workdir DIR             working directory
  --user U                  user (name, UID or UID:GID)
  --label K=V               image label (repeatable)
  --expose PORT[/PROTO]     exposed port, tcp by default (repeatable)
  --platform OS/ARCH[/V]    platform to pick from a multi-platform base (default linux/amd64)
  --tag TAG                 also tag the pushed manifest TAG (repeatable)
  --insecure                allow plain HTTP and unverified TLS for non-loopback registries
  --ca-file FILE            trust the PEM CA certificates in FILE
  --from-creds USER[:PASS]  credentials for the base registry (else docker config / helpers / auth.json)
  --to-creds USER[:PASS]    credentials for the destination registry; without :PASS the password is read
                            from STOWAGE_FROM_PASSWORD / STOWAGE_TO_PASSWORD
  --digest-file FILE        also write the manifest digest to FILE
  --compression gzip|none   layer compression (default gzip)
  --compression-level N     gzip level 0-9
  --cache-dir DIR           layer cache (default $XDG_CACHE_HOME/stowage or ~/.cache/stowage)
  --no-cache                build in a private temp directory, removed afterwards
  --retries N               retries of a failed registry request or upload (default 3)
  --quiet                   no progress on stderr
  --verbose                 more detail on stderr

stdout carries one line: the manifest digest (sha256:...). Progress and errors go to stderr.
Timestamps come from SOURCE_DATE_EPOCH (default 0), so the same inputs give the same digest.
`;
