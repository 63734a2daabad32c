#!/bin/bash
# KV GET A/B of two built trees, one after the other on a quiet machine (bench/RESULTS.md,
# "Issue 12 ... before/after"): a fresh daemon of each tree on CPU 0 (no SSH, no proxies),
# 10,000 keys of 100 bytes prefilled, wrk -t1 -c50 with random-key GETs on CPU 1, 2 s warm-up,
# then 4 rounds of 10 s; prints req/s and VmRSS per round.
# usage: bench/ab-get.sh <tree-before> <tree-after>   (each a checkout with dist/ built)
set -euo pipefail
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
cat > "$W/get.lua" <<'LUA'
local n = 10000
local gets = {}
init = function(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  for i = 0, n - 1 do gets[i + 1] = wrk.format("GET", "/api/v1/kv/bench/k" .. i) end
end
request = function() return gets[math.random(n)] end
LUA
cat > "$W/prefill.js" <<'JS'
const port = process.argv[2];
const body = JSON.stringify({ value: Buffer.alloc(100, 7).toString('base64') });
let i = 0;
const worker = async () => { while (i < 10000) { const r = await fetch(`http://127.0.0.1:${port}/api/v1/kv/bench/k${i++}`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } }); if (r.status !== 200) throw new Error(`prefill: ${r.status}`); await r.arrayBuffer(); } };
Promise.all(Array.from({ length: 50 }, worker)).catch((e) => { console.error(e); process.exit(1); });
JS
run() {
  local tree=$1 label=$2 port=$3 data; data=$(mktemp -d "$W/data-XXXX")
  taskset -c 0 node --initial-old-space-size=64 "$tree/dist/daemon/main.js" --data-dir "$data" --api-port "$port" \
    --log-level warn --ssh-enabled false --proxy-enabled false > "$W/$label.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -sf "localhost:$port/healthz" >/dev/null && break; sleep 0.2; done
  sleep 1; echo "$label idle VmRSS $(awk '/VmRSS/{print $2}' /proc/$pid/status) kB"
  taskset -c 1 node "$W/prefill.js" "$port"
  taskset -c 1 wrk -t1 -c50 -d2s -s "$W/get.lua" "http://127.0.0.1:$port" >/dev/null
  for r in 1 2 3 4; do
    echo "$label round $r: $(taskset -c 1 wrk -t1 -c50 -d10s -s "$W/get.lua" "http://127.0.0.1:$port" | awk '/Requests\/sec/{print $2}') req/s  VmRSS $(awk '/VmRSS/{print $2}' /proc/$pid/status) kB"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
run "$1" before 41001
run "$2" after 41002
