#!/usr/bin/env bash
# Removes from a production node_modules (DIR) what Node never loads, before scripts/image.sh puts it in the image:
# `bash scripts/image/prune.sh DIR`. Podman's vfs storage (used where overlay is not available, as on this machine)
# copies the whole image, file by file, each time it creates a container, so every file here costs start-up time in
# every job: stowage's 1241 files (41 MB) become 579 (7.8 MB).
#
# Removed, and why Node cannot need it:
# - source maps (*.map): read only by --enable-source-maps for stack traces, which the image does not set;
# - TypeScript (*.ts, *.mts, *.cts, declarations included): Node refuses to strip types under node_modules;
# - documentation (*.md, *.markdown, docs/, example/ and examples/ folders), licence and notice files kept; dotfiles
#   (CI and editor settings such as .travis.yml, .prettierrc.yaml);
# - the Bare runtime's packages (bare-fs, bare-path, bare-url, bare-buffer, bare-stream, bare-events: native *.bare
#   addons for 12 platforms, with their C sources): tar-stream reaches bare-fs only through its imports map's "bare"
#   condition and streamx reaches bare-events only through events-universal's "bare" export, never under Node;
# - openpgp's eight other builds of itself (browser, lightweight, unminified CommonJS, minified ESM): Node loads
#   dist/node/openpgp.mjs (the exports map's "import") or dist/node/openpgp.min.cjs ("require", and "main").
# Every dependency named in package.json is then imported from the pruned tree (scripts/image.sh does it), so a rule
# that removed something a dependency loads at start fails the build, not a job.
set -euo pipefail
DIR=${1:?usage: bash scripts/image/prune.sh NODE_MODULES_DIR}
[[ -d $DIR ]] || { echo "prune.sh: no directory $DIR" >&2; exit 2; }

find "$DIR" -type f \( -name '*.map' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.markdown' -o -name '.*' \
  -o \( -iname '*.md' ! -iname 'licen[cs]e*' ! -iname 'notice*' \) \) -delete
# A package's own docs/ and example(s)/ folders (top level of the package, scoped or not).
for pkg in "$DIR"/[!@]*/ "$DIR"/@*/*/; do
  if [[ -d $pkg ]]; then rm -rf "${pkg}docs" "${pkg}example" "${pkg}examples"; fi
done
rm -rf "$DIR"/bare-*
if [[ -d $DIR/openpgp/dist ]]; then
  find "$DIR/openpgp/dist" -type f ! -path '*/dist/node/openpgp.mjs' ! -path '*/dist/node/openpgp.min.cjs' -delete
fi
find "$DIR" -mindepth 1 -type d -empty -delete
