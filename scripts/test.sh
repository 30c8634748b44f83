#!/usr/bin/env bash
# Runs the test suite (type check + vitest) and ends with one plain line: "N passed, N failed",
# counted from vitest's JSON report, so a run that executed no test is visible.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
mkdir -p .tmp
report=.tmp/vitest-report.json
rm -f "$report"
npm test -- --reporter=default --reporter=json --outputFile.json="$report"
status=$?
if [ -s "$report" ]; then
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`)' "$report"
else
  echo "0 passed, 0 failed"
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
