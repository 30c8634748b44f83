export const MAIN_USAGE = `stowage: build and push OCI container images without Docker

Usage:
  stowage build --from BASE --to DEST [options]   build an image from a base plus local files
  stowage lock --from BASE --apt PKG[,PKG...]     resolve Debian packages for a base (apt's rules), write the lock
  stowage sign REF --key FILE | --keyless         sign a pushed image (Sigstore bundle referrer)
  stowage verify REF --key PUB.pem                check an image's signatures offline
  stowage copy SRC DEST [--platform P|all]        copy an image or a whole index (registry, oci:, docker-archive:)
  stowage tag REF TAG...                          add tags to a pushed image (no blob moves)
  stowage inspect REF [--platform P] [--config|--raw]   show an image or index (JSON, or exact bytes)
  stowage digest REF                              print the manifest digest
  stowage login HOST -u USER --password-stdin      store registry credentials like docker login
  stowage executor --context DIR --destination REF [kaniko's flags]   kaniko's command line, built by stowage
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
  --quiet | --verbose       less or more on stderr
`;

export const BUILD_USAGE = `Usage:
  stowage build --from BASE --to DEST [--copy SRC:DEST_PATH]... [--entrypoint E] [--cmd C]
                [--env K=V]... [--workdir DIR] [--user U] [--label K=V]... [--expose PORT[/PROTO]]...
                [--platform OS/ARCH[/VARIANT] | all | P1,P2,...] [--tag TAG]... [--insecure] [--digest-file FILE] [--json]
                [--model SRC[:DEST_DIR]] [--modelcar] [--modelpack] [--model-compression none|gzip|zstd]
                [--python-lock pylock.toml|requirements.txt] [--wheel FILE.whl]... [--find-links DIR]...
                [--index-url URL] [--extra-index-url URL]... [--python-target auto|venv:DIR] [--python-site DIR]
                [--break-system-packages]
                [--apt PKG[=VER][,PKG...]] [--apt-lock FILE] [--apt-allow-unrun PKG,...|all]

  stowage build [-f Dockerfile] --to DEST [--build-arg K=V]... [--target STAGE] [--platform all|P] [CONTEXT]

  BASE   [host[:port]/]repo[:tag|@sha256:...]  or  oci:DIR[:TAG]
  DEST   [host[:port]/]repo[:tag]  or  oci:DIR[:TAG]  or  docker-archive:FILE[:REPO:TAG]

Options:
  -f, --file DOCKERFILE     build from a Dockerfile (default CONTEXT/Dockerfile): every instruction but RUN;
                            without --from, --copy or --model, a ./Dockerfile is built from CONTEXT . (docker build);
                            -f - reads it from stdin
  CONTEXT                   the directory COPY/ADD read from (default .); .dockerignore applies
  --build-arg K[=V]         a Dockerfile ARG value (K alone: from the environment)
  --target STAGE            the Dockerfile stage to build (default the last)
  --from BASE               base image (Docker defaults: docker.io, library/, latest)
  --to DEST                 where the image goes
  --copy SRC:DEST_PATH      a file or directory placed at the absolute DEST_PATH; each --copy is one layer
  --chown UID[:GID]         owner of copied files (default 0:0)
  --model SRC[:DEST_DIR]    a model directory or file under DEST_DIR (default /models): each file of 16 MiB
                            or more its own uncompressed layer, the other files one layer; before the copies
  --model-file-layer-min N  size from which a model file gets its own layer (default 16M)
  --model-compression C     none (default), gzip or zstd (OCI bases), for the per-file weight layers
  --modelcar                KServe Modelcar: model files 0644, directories 0755, no Entrypoint; the base
                            must have /bin/sh
  --modelpack               also push a CNCF ModelPack artifact (same weight blobs); DEST's tag then names
                            an OCI index of the image and the artifact, and the index digest is printed
  --python-lock FILE        install Python packages from wheels, nothing executed: a PEP 751 pylock.toml or a
                            requirements.txt in hash-checking mode (name==VERSION, a sha256 hash each), read for
                            the base's own python3 (version, glibc/musl, architecture); wheels chosen by tag,
                            every hash and RECORD checked, scripts generated as pip does; no .pyc is compiled.
                            Big wheels (64 MiB installed) get a layer each, the rest one; before the copies
  --wheel FILE.whl          also install this wheel (repeatable; as pip install FILE.whl, with direct_url.json)
  --find-links DIR|URL      where a requirements.txt's wheels are (repeatable)
  --index-url URL           a PEP 503/691 simple index for them (credentials: URL user:pass, else docker config)
  --extra-index-url URL     another index searched too (repeatable; the files of all indexes are candidates, the
                            lock's hashes pin the one installed)
  --python-target T         auto (default): where the base's pip would install (python.org images:
                            /usr/local/lib/python3.X/site-packages); venv:DIR: a virtual environment at DIR
  --python-site DIR         install into DIR (scripts to the interpreter's bin) when the layout is not known
  --break-system-packages   install into an EXTERNALLY-MANAGED (PEP 668) Debian python, in
                            /usr/local/lib/python3.X/dist-packages as Debian's pip does
  --apt PKG[=VER][,PKG...]  install Debian packages on a Debian/Ubuntu base, nothing executed: files through the
                            base's symlinks, the dpkg database merged, alternatives and ld.so.cache reproduced;
                            one layer per Source package (10 at most) plus one for the database; before the copies
  --apt-lock FILE           install exactly the packages of this lock (stowage lock); no index is read
  --apt-recommends          also install Recommends (default: left out, as apt-get's no-install-recommends)
  --apt-source LINE|FILE    apt sources instead of the base's (repeatable)
  --apt-keyring FILE        also trust the keys in FILE for the sources (repeatable)
  --apt-allow-unrun P,..|all  install packages whose maintainer scripts would do more than stowage reproduces
                            (adduser, debconf, mkdir...); the image records them in label org.stowage.apt.unrun
  --entrypoint E            JSON array = exec form; other text = /bin/sh -c E. Resets the base Cmd unless --cmd
  --cmd C                   JSON array = exec form; other text = /bin/sh -c C; '[]' clears
  --env K=V                 set an environment variable (repeatable)
  --workdir DIR             working directory
  --user U                  user (name, UID or UID:GID)
  --label K=V               image label (repeatable)
  --expose PORT[/PROTO]     exposed port, tcp by default (repeatable)
  --platform OS/ARCH[/V]    platform to pick from a multi-platform base (default linux/amd64)
  --platform all | P1,P2    build every platform of the base index (or those listed): the same new layers and
                            config changes on each image, and an index in the base's media type; prints its digest
  --tag TAG                 also tag the pushed manifest TAG (repeatable)
  --insecure                allow plain HTTP and unverified TLS for non-loopback registries
  --ca-file FILE            trust the PEM CA certificates in FILE
  --from-creds USER[:PASS]  credentials for the base registry (else docker config / helpers / auth.json)
  --to-creds USER[:PASS]    credentials for the destination registry; without :PASS the password is read
                            from STOWAGE_FROM_PASSWORD / STOWAGE_TO_PASSWORD
  --digest-file FILE        also write the manifest digest to FILE
  --json                    print one JSON object instead of the digest line: digest, destination, mediaType,
                            base, layers (source, dest, digest, diffId, size, mediaType, cached), attachments,
                            durations per phase (ms)
  --compression KIND        gzip (default), zstd (OCI bases only) or none
  --compression-level N     gzip 0-9 (default 6), zstd 1-22 (default 3)
  --cache-dir DIR           layer cache (default $XDG_CACHE_HOME/stowage or ~/.cache/stowage)
  --no-cache                build in a private temp directory, removed afterwards
  --cache-repo REPO         also share layers through a registry repository (host/name): keyed by file
                            contents, hits are mounted instead of compressed and uploaded; never fails a build
  --retries N               retries of a failed registry request or upload (default 3)
  --concurrency N           blobs uploaded at once (default 4)
  --sign                    sign the pushed image (sigstore bundle referrer; fallback tag sha256-<hex>)
  --key FILE                private key PEM for --sign (ECDSA P-256, Ed25519, RSA; cosign keys too)
  --key-password-env NAME   password of an encrypted key from env NAME (default COSIGN_PASSWORD)
  --key-password-stdin      password of an encrypted key from stdin
  --keyless                 sign with a Fulcio certificate for the CI's OIDC identity, log to Rekor
  --fulcio-url/--rekor-url/--tsa-url URL   keyless services (default: public-good Sigstore)
  --legacy-signature        also write cosign's legacy sha256-<hex>.sig tag (alias: --legacy)
  --provenance              attach SLSA provenance (base digest, input file digests, parameters)
  --sbom                    attach a CycloneDX list of the added files
  --quiet                   no progress on stderr
  --verbose                 more detail on stderr

stdout carries exactly one line: the manifest digest (sha256:...). Progress, attachments and errors go to stderr.
Timestamps come from SOURCE_DATE_EPOCH (default 0), so the same inputs give the same digest.
`;

export const SIGN_USAGE = `Usage:
  stowage sign REF --key FILE [--key-password-env NAME | --key-password-stdin] [--legacy-signature]
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
  --legacy-signature        also write cosign's legacy sha256-<hex>.sig tag (for cosign < 3 verifiers);
                            --legacy is the same flag
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
  stowage verify REF --certificate-identity ID | --certificate-identity-regexp RE
                     --certificate-oidc-issuer URL | --certificate-oidc-issuer-regexp RE
                     --trusted-root trusted_root.json [--insecure] [--ca-file FILE]

  REF    [host[:port]/]repo[:tag|@sha256:...]; a tag is resolved to its digest, and that digest is checked

Finds the image's signatures (referrers API, else the sha256-<hex> referrers tag, and cosign's legacy
sha256-<hex>.sig tag) and verifies them offline: the signature against the public key, or for keyless signatures
the Fulcio certificate, transparency log entry and signing time against a Sigstore trusted root and the
certificate's identity and OIDC issuer against the ones given; then the signed statement against the image digest.
Exits 0 only if at least one signature verifies; otherwise prints why each one failed (another key or identity,
an untrusted certificate, another image digest, modified bytes) and exits 1.

Options:
  --key PUB.pem             public key PEM (-----BEGIN PUBLIC KEY-----), e.g. cosign.pub
  --certificate-identity ID the exact identity (subject alternative name) of the keyless signer, e.g.
                            https://github.com/ORG/REPO/.github/workflows/release.yml@refs/heads/main
  --certificate-identity-regexp RE
                            the identity must match this regular expression (unanchored, as cosign's)
  --certificate-oidc-issuer URL
                            the exact OIDC issuer, e.g. https://token.actions.githubusercontent.com
  --certificate-oidc-issuer-regexp RE
  --trusted-root FILE       Sigstore trusted_root.json (Fulcio CAs, Rekor keys, CT logs, TSAs) to verify against:
                            the Sigstore TUF repository's trusted_root.json (cosign initialize keeps one under
                            ~/.sigstore/root/), or \`cosign trusted-root create\` for a private instance
  --insecure-ignore-tlog    accept bundles without a transparency log entry, or (with --key) carrying Rekor
                            entries or timestamps that cannot be checked offline, by checking the signature alone
  --insecure                allow plain HTTP and unverified TLS for non-loopback registries
  --ca-file FILE            trust the PEM CA certificates in FILE
  --quiet | --verbose       less or more on stderr

stdout carries one line: the verified manifest digest (sha256:...), to pin a deployment to.
stderr: "verified REPO@DIGEST with key PUB.pem (sha256:<key fingerprint>): ..." or, keyless,
"verified REPO@DIGEST: 1 signature by IDENTITY (issuer URL) ...".
`;

export const COPY_USAGE = `Usage:
  stowage copy SRC DEST [--platform all|OS/ARCH[/VARIANT][,...]] [--tag TAG]... [--insecure] [--ca-file FILE]
               [--from-creds USER[:PASS]] [--to-creds USER[:PASS]] [--retries N] [--concurrency N]

  SRC    [host[:port]/]repo[:tag|@sha256:...]  or  oci:DIR[:TAG]  or  docker-archive:FILE[:REPO:TAG]
  DEST   [host[:port]/]repo[:tag|@sha256:...]  or  oci:DIR[:TAG]  or  docker-archive:FILE[:REPO:TAG]

Copies blobs and manifests as they are: a registry or oci: destination gets the same bytes and digests as the
source (an oci: layout relabels Docker schema 2 types to OCI, as skopeo does, which gives new manifest digests).
Blobs stream from registry to registry, verified on the way, several at once; on the same registry they are
mounted, and blobs the destination already has are skipped. Tags are set only after everything is in place.

Options:
  --platform all            the whole index with every image in it, byte for byte (default, as crane copy)
  --platform OS/ARCH[/V]    one platform's image alone (its manifest, not the index)
  --platform P1,P2,...      a new index of those platforms (same media type and annotations; new digest)
  --tag TAG                 also tag the copy TAG (repeatable; registry destinations)
  --from-creds USER[:PASS]  credentials for the source registry (else docker config / helpers / auth.json);
                            without :PASS the password is read from STOWAGE_FROM_PASSWORD
  --to-creds USER[:PASS]    credentials for the destination registry (password: STOWAGE_TO_PASSWORD)
  --retries N               retries of a failed request or blob transfer (default 3)
  --concurrency N           blobs moved at once (default 4)
  --json                    print one JSON object instead: digest, mediaType, destination, images (digest,
                            mediaType, platform), verbatim (false when the destination holds new manifest bytes)
  --insecure                allow plain HTTP and unverified TLS for non-loopback registries
  --ca-file FILE            trust the PEM CA certificates in FILE
  --quiet | --verbose       less or more progress on stderr

stdout carries one line: the digest the destination now names (the index's, or the image manifest's).
A docker-archive: holds one image: copying an index there needs --platform.
`;

export const LOCK_USAGE = `Usage:
  stowage lock --from BASE --apt PKG[=VERSION][,PKG...]... [--apt-recommends] [--apt-source LINE|FILE]...
               [--apt-keyring FILE]... [--out FILE] [--platform OS/ARCH[/VARIANT]] [--cache-dir DIR]
               [--from-creds USER[:PASS]] [--insecure] [--ca-file FILE] [--retries N]

  BASE   [host[:port]/]repo[:tag|@sha256:...]  or  oci:DIR[:TAG]  (a Debian or Ubuntu image)

Resolves the packages as "apt-get install" without Recommends would on BASE, without running anything:
the base's own apt sources and keys (read from its layers), every InRelease verified with OpenPGP, package lists
fetched by hash and checked, packages already in the base kept (never upgraded). Writes the lock: each .deb by
name, version, URL, SHA256 and size, in installation order, and the base's digest. stdout (or --out FILE): the lock.

Options:
  --apt PKG[=VERSION],...   packages to install (repeatable)
  --apt-recommends          also install Recommends (apt's default; off here, as apt-get's no-install-recommends)
  --apt-source LINE|FILE    use this source instead of the base's: 'deb [signed-by=KEYRING] URI SUITE COMPONENT...',
                            or a .sources/.list file (repeatable)
  --apt-keyring FILE        also trust the keys in FILE (armored or binary) for every source (repeatable)
  --out FILE                write the lock to FILE instead of stdout
  --cache-dir DIR           where parsed package lists are kept (default $XDG_CACHE_HOME/stowage or ~/.cache/stowage)
  --quiet | --verbose       less or more on stderr
`;

export const TAG_USAGE = `Usage:
  stowage tag REF TAG... [--creds USER[:PASS]] [--insecure] [--ca-file FILE] [--retries N]

  REF    [host[:port]/]repo[:tag|@sha256:...]  or  oci:DIR[:TAG]

Puts the manifest (or index) REF names under each TAG in the same repository (or layout), byte for byte: the
digest stays the same and no blob moves. stdout: that digest, one line.

Options:
  --creds USER[:PASS]       credentials (without :PASS the password is read from STOWAGE_PASSWORD)
  --retries N               retries of a failed registry request (default 3)
  --insecure                allow plain HTTP and unverified TLS for non-loopback registries
  --ca-file FILE            trust the PEM CA certificates in FILE
  --quiet | --verbose       less or more on stderr
`;

export const INSPECT_USAGE = `Usage:
  stowage inspect REF [--platform OS/ARCH[/VARIANT]] [--raw | --config] [--creds USER[:PASS]] [--insecure]
                      [--ca-file FILE] [--retries N]

  REF    [host[:port]/]repo[:tag|@sha256:...]  or  oci:DIR[:TAG]

Prints JSON: digest, mediaType and size; for an index its entries (platform, digest; artifactType for an OCI
artifact such as a ModelPack model, attestation: true for a BuildKit attestation); for an image its config
(platform, Entrypoint, Cmd, Env, WorkingDir, User, Labels, ExposedPorts) and layers.

Options:
  --platform P              from an index, the image for platform P
  --raw                     the manifest (or index) bytes exactly as the registry serves them
  --config                  the config blob exactly as stored (an index needs --platform)
  --creds USER[:PASS]       credentials (without :PASS the password is read from STOWAGE_PASSWORD)
  --retries N               retries of a failed registry request (default 3)
  --insecure                allow plain HTTP and unverified TLS for non-loopback registries
  --ca-file FILE            trust the PEM CA certificates in FILE
  --quiet | --verbose       less or more on stderr
`;

export const DIGEST_USAGE = `Usage:
  stowage digest REF [--platform OS/ARCH[/VARIANT]] [--creds USER[:PASS]] [--insecure] [--ca-file FILE]
                     [--retries N]

Prints the digest of the manifest (or index) REF names, computed from the bytes served, on one line.
With --platform, the digest of that platform's image in an index.

Options:
  --platform P              from an index, the image for platform P
  --creds USER[:PASS]       credentials (without :PASS the password is read from STOWAGE_PASSWORD)
  --retries N               retries of a failed registry request (default 3)
  --insecure                allow plain HTTP and unverified TLS for non-loopback registries
  --ca-file FILE            trust the PEM CA certificates in FILE
  --quiet | --verbose       less or more on stderr
`;
