export const MAIN_USAGE = `stowage: build and push OCI container images without Docker

Usage:
  stowage build --from BASE --to DEST [options]   build an image from a base plus local files
  stowage sign REF --key FILE | --keyless         sign a pushed image (Sigstore bundle referrer)
  stowage verify REF --key PUB.pem                check an image's signatures offline
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
  --cache-repo REPO         also share layers through a registry repository (host/name): keyed by file
                            contents, hits are mounted instead of compressed and uploaded; never fails a build
  --retries N               retries of a failed registry request or upload (default 3)
  --sign                    sign the pushed image (sigstore bundle referrer; fallback tag sha256-<hex>)
  --key FILE                private key PEM for --sign (ECDSA P-256, Ed25519, RSA; cosign keys too)
  --key-password-env NAME   password of an encrypted key from env NAME (default COSIGN_PASSWORD)
  --key-password-stdin      password of an encrypted key from stdin
  --keyless                 sign with a Fulcio certificate for the CI's OIDC identity, log to Rekor
  --fulcio-url/--rekor-url/--tsa-url URL   keyless services (default: public-good Sigstore)
  --legacy-signature        also write cosign's legacy sha256-<hex>.sig tag
  --provenance              attach SLSA provenance (base digest, input file digests, parameters)
  --sbom                    attach a CycloneDX list of the added files
  --quiet                   no progress on stderr
  --verbose                 more detail on stderr

stdout carries exactly one line: the manifest digest (sha256:...). Progress, attachments and errors go to stderr.
Timestamps come from SOURCE_DATE_EPOCH (default 0), so the same inputs give the same digest.
`;

export const SIGN_USAGE = `Usage:
  stowage sign REF --key FILE [--key-password-env NAME | --key-password-stdin] [--legacy]
                   [--insecure] [--ca-file FILE]
  stowage sign REF --keyless [--fulcio-url URL] [--rekor-url URL] [--tsa-url URL] [--insecure] [--ca-file FILE]

  REF    [host[:port]/]repo[:tag|@sha256:...]; a tag is resolved to its digest, and the digest is signed

Signs the image with a DSSE-wrapped in-toto statement (cosign v3 format) in a Sigstore bundle, attached as an
OCI 1.1 referrer (artifactType application/vnd.dev.sigstore.bundle.v0.3+json, subject = the image). Registries
without the referrers API (e.g. distribution 2.8) get the referrers tag sha256-<hex> instead, as the OCI spec says.

Options:
  --key FILE                private key PEM: ECDSA P-256 (cosign's default), Ed25519 or RSA >= 2048; PKCS#8,
                            SEC1, PKCS#1 or a cosign.key. Signing with a key is fully offline.
  --key-password-env NAME   password of an encrypted key from the environment variable NAME
                            (default: COSIGN_PASSWORD, read only when the key is encrypted)
  --key-password-stdin      read the password of an encrypted key from stdin (one trailing newline is dropped)
  --legacy                  also write cosign's legacy sha256-<hex>.sig tag (for cosign < 3 verifiers)
  --keyless                 sign with a short-lived Fulcio certificate for the CI's OIDC identity and record it in
                            Rekor (needs the network). The token comes from SIGSTORE_ID_TOKEN, or from GitHub
                            Actions (job permission "id-token: write").
  --fulcio-url URL          Fulcio (default https://fulcio.sigstore.dev)
  --rekor-url URL           Rekor (default https://rekor.sigstore.dev)
  --tsa-url URL             also get an RFC 3161 timestamp from this timestamp authority
  --insecure                allow plain HTTP and unverified TLS for non-loopback registries
  --ca-file FILE            trust the PEM CA certificates in FILE
  --quiet | --verbose       less or more progress on stderr

stdout: one line per manifest written, "KIND DIGEST [TAG]": KIND is signature (the bundle referrer) or
legacy-signature (the image at the .sig tag); TAG is the tag written, if any (sha256-<hex> or sha256-<hex>.sig).
The signed image digest and the key fingerprint go to stderr. Passwords and tokens are never printed.
The created annotation comes from SOURCE_DATE_EPOCH when set, else the current time.
`;

export const VERIFY_USAGE = `Usage:
  stowage verify REF --key PUB.pem [--insecure] [--ca-file FILE] [--insecure-ignore-tlog]

  REF    [host[:port]/]repo[:tag|@sha256:...]; a tag is resolved to its digest, and that digest is checked

Finds the image's signatures (referrers API, else the sha256-<hex> referrers tag, and cosign's legacy
sha256-<hex>.sig tag) and verifies them offline: the signature against the public key, and the signed statement
against the image digest. Exits 0 only if at least one signature verifies; otherwise prints why each one failed
(another key, another image digest, modified bytes) and exits 1.

Options:
  --key PUB.pem             public key PEM (-----BEGIN PUBLIC KEY-----), e.g. cosign.pub
  --insecure-ignore-tlog    accept bundles carrying Rekor entries or timestamps by checking the signature alone
                            (they cannot be checked offline)
  --insecure                allow plain HTTP and unverified TLS for non-loopback registries
  --ca-file FILE            trust the PEM CA certificates in FILE
  --quiet | --verbose       less or more on stderr

stdout carries one line: the verified manifest digest (sha256:...), to pin a deployment to.
stderr: "verified REPO@DIGEST with key PUB.pem (sha256:<key fingerprint>): ...".
`;
