#!/usr/bin/env bash
# The salary example end to end, with nothing external: a busybox base made here with umoci, a registry on a
# loopback port, stowage building and pushing the image, skopeo checking it, and runc running it twice
# (default Cmd, then "5" replacing Cmd). Run scripts/setup.sh first on a fresh machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh
[ -f dist/cli/main.js ] || npm run build >&2

work="$(mktemp -d "${TMPDIR:-/tmp}/stowage-example-XXXXXX")"
registry_pid=""
cleanup() {
  [ -z "$registry_pid" ] || kill "$registry_pid" 2>/dev/null || true
  runc delete --force stowage-example-0 >/dev/null 2>&1 || true
  runc delete --force stowage-example-5 >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*" >&2; }

step "1. a busybox base image (OCI layout made with umoci)"
umoci init --layout "$work/base" >/dev/null
umoci new --image "$work/base:latest" >/dev/null
umoci unpack --image "$work/base:latest" "$work/rootfs-bundle" >/dev/null 2>&1
rootfs="$work/rootfs-bundle/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh awk cat echo dirname ls; do ln -sf busybox "$rootfs/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$rootfs/etc/passwd"
chmod 1777 "$rootfs/tmp"
umoci repack --image "$work/base:latest" "$work/rootfs-bundle" >/dev/null
umoci config --image "$work/base:latest" --os linux --architecture amd64 \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.cmd sh >/dev/null

step "2. a registry on loopback"
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
cat > "$work/registry.yml" <<YAML
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: $work/registry-data }, delete: { enabled: true } }
http: { addr: "127.0.0.1:$port", secret: example-only }
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
echo "registry at 127.0.0.1:$port" >&2
skopeo copy --quiet --dest-tls-verify=false "oci:$work/base:latest" "docker://127.0.0.1:$port/base/busybox:latest"

step "3. stowage build: base + model + predictor, ENTRYPOINT/CMD, push"
digest="$(node dist/cli/main.js build \
  --from "127.0.0.1:$port/base/busybox:latest" \
  --to "127.0.0.1:$port/ml/salary:1" \
  --copy fixtures/salary/model.json:/app/model.json \
  --copy fixtures/salary/predict.sh:/app/predict.sh \
  --entrypoint '["/bin/sh","/app/predict.sh"]' \
  --cmd '["0"]' \
  --cache-dir "$work/cache")"
echo "pushed 127.0.0.1:$port/ml/salary:1@$digest" >&2

step "4. skopeo, an independent client, reads it back"
seen="$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://127.0.0.1:$port/ml/salary:1")"
echo "skopeo sees $seen" >&2
[ "$seen" = "$digest" ] || { echo "digest mismatch: stowage $digest, skopeo $seen" >&2; exit 1; }

step "5. run it with runc (like 'docker run IMG' and 'docker run IMG 5')"
skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$port/ml/salary@$digest" "oci:$work/image:salary"
umoci unpack --image "$work/image:salary" "$work/bundle" >/dev/null 2>&1
node -e '
  const fs = require("fs"); const f = process.argv[1];
  const c = JSON.parse(fs.readFileSync(f, "utf8")); c.process.terminal = false; fs.writeFileSync(f, JSON.stringify(c));
' "$work/bundle/config.json"
echo "\$ runc run  (Cmd from the image: [\"0\"])" >&2
runc run --bundle "$work/bundle" stowage-example-0
node -e '
  const fs = require("fs"); const f = process.argv[1];
  const c = JSON.parse(fs.readFileSync(f, "utf8")); c.process.args = ["/bin/sh", "/app/predict.sh", "5"]; fs.writeFileSync(f, JSON.stringify(c));
' "$work/bundle/config.json"
echo "\$ runc run  (args replace Cmd: [\"5\"])" >&2
runc run --bundle "$work/bundle" stowage-example-5
