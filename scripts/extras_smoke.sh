#!/usr/bin/env bash
# Each extra works alone: build the wheel once, then for the base install, [cloud], [erp] and
# [vision] create a clean virtualenv, install the wheel with only that extra (dependencies from
# PyPI) and run a smoke command with it:
#   base    `edgeproof init` + `edgeproof run` on a simulated one-meter profile (no extras) for a few
#           seconds: readings stored, a clean stop, no traceback
#   cloud   `edgeproof cloud serve` (healthz answers) + `edgeproof cloud token` + `cloud analyse --all`
#   erp     `edgeproof import-erp` of a CSV and an Excel export (openpyxl, sqlalchemy, the DB drivers import)
#   vision  `edgeproof vision detect` on a generated image with a shipped model
# Run by .ci/run after `make test`; takes minutes (downloads). Usage: scripts/extras_smoke.sh [base cloud erp vision]
# Exits non-zero at the first extra that fails, naming it. Temp files are removed at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
WORK="$(mktemp -d -t ep-extras-XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi; done
  rm -rf "$WORK"
}
trap cleanup EXIT
EXTRAS=("${@:-base cloud erp vision}")
# shellcheck disable=SC2206
EXTRAS=(${EXTRAS[*]})

fail() { echo "extras_smoke: [$1] FAILED: $2" >&2; exit 1; }

echo "extras_smoke: building the wheel"
"$PY" -m pip wheel -q --no-deps -w "$WORK/dist" "$ROOT" >/dev/null
WHEEL="$(ls "$WORK"/dist/edgeproof-*.whl)"

venv() {  # venv NAME SPEC -> prints the venv dir
  local d="$WORK/venv-$1"
  "$PY" -m venv "$d"
  "$d/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$d/bin/python" -m pip install -q "$2" >/dev/null || fail "$1" "pip install $2"
  echo "$d"
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_http() {  # wait_http URL SECONDS
  local deadline=$((SECONDS + $2))
  until "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
}

smoke_base() {
  local d; d="$(venv base "$WHEEL")"
  local s="$WORK/base-state" p="$WORK/base.toml" port; port="$(free_port)"
  sed -e 's/^transport = "http"/transport = "none"/' -e "s/^port = 5020/port = $port/" \
    "$ROOT/tests/fixtures/profiles/one-meter.toml" > "$p"
  (cd "$WORK" && "$d/bin/edgeproof" init --profile "$p" --state "$s" >/dev/null) || fail base "edgeproof init"
  (cd "$WORK" && EDGEPROOF_LOG_LEVEL=INFO timeout -s TERM 8 "$d/bin/edgeproof" run --profile "$p" --state "$s" \
     --simulate > "$WORK/base-run.log" 2>&1) || [ $? -eq 124 ] || { tail -20 "$WORK/base-run.log" >&2; fail base "edgeproof run"; }
  ! grep -q Traceback "$WORK/base-run.log" || { tail -30 "$WORK/base-run.log" >&2; fail base "traceback in run"; }
  local n; n="$("$d/bin/python" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM readings").fetchone()[0])' "$s/edgeproof.db")"
  [ "$n" -gt 0 ] || fail base "no readings stored"
  echo "extras_smoke: [base] ok ($n readings in 8 s, no extras installed)"
}

smoke_cloud() {
  local d; d="$(venv cloud "${WHEEL}[cloud]")"
  local db="$WORK/cloud/receiver.db" port; port="$(free_port)"; mkdir -p "$WORK/cloud"
  "$d/bin/edgeproof" cloud serve --db "$db" --port "$port" > "$WORK/cloud-serve.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$port/healthz" 60 || { tail -20 "$WORK/cloud-serve.log" >&2; fail cloud "cloud serve /healthz"; }
  "$d/bin/edgeproof" cloud token --db "$db" --enterprise ent-smoke >/dev/null || fail cloud "cloud token"
  "$d/bin/edgeproof" cloud analyse --db "$db" --all --json > "$WORK/cloud-analyse.json" || fail cloud "cloud analyse"
  kill "${PIDS[-1]}" 2>/dev/null || true
  echo "extras_smoke: [cloud] ok (serve answered /healthz; analyse ran)"
}

smoke_erp() {
  local d; d="$(venv erp "${WHEEL}[erp]")"
  "$d/bin/python" -c "import openpyxl, sqlalchemy, pymysql, psycopg; import gateway.connectors.importer" \
    || fail erp "imports"
  local s="$WORK/erp-state" p="$WORK/erp.toml"
  mkdir -p "$WORK/erp-csv" "$WORK/erp-xlsx"
  cp "$ROOT/tests/fixtures/erp/orders_utf8.csv" "$WORK/erp-csv/"
  cp "$ROOT/tests/fixtures/erp/orders.xlsx" "$WORK/erp-xlsx/"
  cat > "$p" <<TOML
[site]
id = "erp-smoke"
timezone = "Asia/Shanghai"
[uplink]
transport = "none"
[status]
enabled = false
[[connectors]]
name = "orders-csv"
kind = "folder"
dataset = "orders"
path = "$WORK/erp-csv"
pattern = "*.csv"
columns = { order_no = "订单号", customer = "客户", product = "产品", qty = "数量", unit_price = "单价", order_date = "日期" }
[[connectors]]
name = "orders-xlsx"
kind = "folder"
dataset = "orders"
path = "$WORK/erp-xlsx"
pattern = "*.xlsx"
header_row = 2
columns = { order_no = "订单号", customer = "客户", product = "产品", qty = "数量", unit_price = "单价", order_date = "日期" }
TOML
  (cd "$WORK" && "$d/bin/edgeproof" init --profile "$p" --state "$s" >/dev/null) || fail erp "edgeproof init"
  (cd "$WORK" && "$d/bin/edgeproof" import-erp --profile "$p" --state "$s" --json > "$WORK/erp.json") \
    || { cat "$WORK/erp.json" >&2; fail erp "import-erp"; }
  "$d/bin/python" -c '
import json, sys
reps = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
assert len(reps) == 2 and all(r["status"] == "imported" and r["rows_ok"] > 0 for r in reps), reps
' "$WORK/erp.json" || { cat "$WORK/erp.json" >&2; fail erp "import-erp report"; }
  echo "extras_smoke: [erp] ok (a CSV and an Excel export imported)"
}

smoke_vision() {
  local d; d="$(venv vision "${WHEEL}[vision]")"
  "$d/bin/python" -c '
import cv2, numpy as np, sys
img = np.full((240, 320, 3), 200, np.uint8)
cv2.rectangle(img, (100, 40), (220, 220), (40, 40, 40), -1)
cv2.imwrite(sys.argv[1], img)
' "$WORK/frame.png" || fail vision "writing a test image with OpenCV"
  "$d/bin/edgeproof" vision models > /dev/null || fail vision "vision models"
  "$d/bin/edgeproof" vision detect "$WORK/frame.png" > "$WORK/vision.json" || fail vision "vision detect"
  echo "extras_smoke: [vision] ok (detect ran: $(head -c 120 "$WORK/vision.json"))"
}

for x in "${EXTRAS[@]}"; do
  case "$x" in
    base|cloud|erp|vision) "smoke_$x" ;;
    *) echo "unknown extra $x (base cloud erp vision)" >&2; exit 2 ;;
  esac
done
echo "extras_smoke: all passed (${EXTRAS[*]})"
