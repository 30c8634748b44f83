#!/usr/bin/env bash
# Runs the README's test command (scripts/test.sh) while busy loops keep every core loaded, as on a shared CI
# machine: a test that depends on the machine's speed shows up here. The last line is test.sh's
# "N passed, N failed"; the exit status is test.sh's.
#
# The loops are bounded (STOWAGE_LOAD_SECONDS, default 3600, after which each stops by itself) and are killed when
# this script ends, however it ends: success, failure, Ctrl-C or kill. STOWAGE_LOAD_CORES sets how many loops
# run (default: one per core, nproc).
set -uo pipefail
cd "$(dirname "$0")/.."

cores="${STOWAGE_LOAD_CORES:-$(nproc)}"
limit="${STOWAGE_LOAD_SECONDS:-3600}"
if ! [[ "$cores" =~ ^[0-9]+$ && "$limit" =~ ^[0-9]+$ && "$limit" -gt 0 ]]; then
  echo "test-under-load: STOWAGE_LOAD_CORES and STOWAGE_LOAD_SECONDS must be whole numbers (got \"$cores\", \"$limit\")" >&2
  exit 2
fi

loops=()
suite=""
stop_loops() {
  local pid
  for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${loops[@]}"; do wait "$pid" 2>/dev/null; done
  loops=()
}
# Ctrl-C or a kill stops the whole suite (its own process group: npm, vitest, its workers, the registries the tests
# started) with SIGTERM, which every part honours (a background job may have SIGINT ignored), and waits for it;
# the EXIT trap then stops the loops; the status is the usual 128+N.
stop_suite() {
  if [ -n "$suite" ]; then
    kill -TERM -- "-$suite" 2>/dev/null
    wait "$suite" 2>/dev/null
  fi
  exit "$1"
}
trap stop_loops EXIT
trap 'stop_suite 130' INT
trap 'stop_suite 143' TERM
trap 'stop_suite 129' HUP

for ((i = 0; i < cores; i++)); do
  # A subshell spinning on bash's own SECONDS: no child process to leave behind, and it stops by itself at $limit.
  ( end=$((SECONDS + limit)); while ((SECONDS < end)); do :; done ) &
  loops+=("$!")
done
echo "test-under-load: ${#loops[@]} busy loops (pids ${loops[*]}, at most ${limit} s each) while scripts/test.sh runs" >&2

# setsid: the suite leads its own process group, so that a signal can reach all of it (see stop_suite).
setsid bash scripts/test.sh &
suite=$!
wait "$suite"
status=$?
suite=""
stop_loops
exit "$status"
