#!/usr/bin/env bash
# compare.sh runs hardneg's search (exact and quantized) beside FAISS's exact
# IndexFlatIP (../shared/bench/faiss_flat.py) on the same .npy data, back to
# back, and prints the throughput ratios. `make bench` calls it from the
# repository root. Settings (environment):
#   BENCH_NQ (10000), BENCH_NB (200000), BENCH_K (100), BENCH_DIMS ("384 768"),
#   BENCH_DIR (/tmp/hardneg-bench: data, ids, results), FAISS_FLAT (the script),
#   BENCH_KIND: random (the default); outliers (every row 1 + 0.5·N(0, 1) per
#   dimension with three dimensions ×12, the transformer-like data of
#   docs/performance.md); clustered (2,000 Gaussian centers, each row a center
#   plus 0.6·N(0, 1), queries from the same centers); anisotropic (a variance
#   falling as i^−1.4 over the i-th axis of a random basis, plus a common
#   component, so that random pairs score about 0.5, as many models' do).
# The rows of every kind are normalised (cosine) and made once per size and
# kind with a fixed seed. Ratios are only meaningful within one run: the machine
# may be shared, so FAISS and hardneg are timed in the same minute.
set -euo pipefail

NQ=${BENCH_NQ:-10000}
NB=${BENCH_NB:-200000}
K=${BENCH_K:-100}
DIMS=${BENCH_DIMS:-"384 768"}
KIND=${BENCH_KIND:-random}
case "$KIND" in random | outliers | clustered | anisotropic) ;;
*) echo "bench: BENCH_KIND must be random, outliers, clustered or anisotropic, not $KIND" >&2; exit 2 ;;
esac
DIR=${BENCH_DIR:-/tmp/hardneg-bench}
FAISS_FLAT=${FAISS_FLAT:-../shared/bench/faiss_flat.py}
PY=/usr/bin/python3 # Debian's python, where python3-faiss installs

# python3-faiss alone links the slow reference BLAS; OpenBLAS is what FAISS
# users run, so the comparison installs it too.
if ! "$PY" -c 'import faiss, numpy' 2>/dev/null || ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
	echo "installing python3-faiss, python3-numpy, libopenblas0-pthread..."
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-faiss python3-numpy libopenblas0-pthread
fi
[ -f "$FAISS_FLAT" ] || { echo "bench: $FAISS_FLAT not found (set FAISS_FLAT)" >&2; exit 1; }

mkdir -p "$DIR"
go build -o "$DIR/hardneg-bench" ./cmd/bench

gflops() { sed -n 's/.* gflops=\([0-9.]*\).*/\1/p' <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

table=""
for d in $DIMS; do
	data="$DIR/nq$NQ-nb$NB-d$d"
	[ "$KIND" = random ] || data="$data-$KIND"
	mkdir -p "$data"
	if [ ! -f "$data/C.npy" ]; then
		echo "generating $data ..."
		"$PY" - "$data" "$NQ" "$NB" "$d" "$KIND" <<'PYEOF'
import sys
import numpy as np
out, nq, nb, d, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
r = np.random.default_rng(d)
if kind == "clustered":
    centers = r.standard_normal((2000, d), dtype=np.float32)
elif kind == "anisotropic":
    scales = (np.arange(1, d + 1) ** -0.7).astype(np.float32)
    basis = np.linalg.qr(r.standard_normal((d, d)))[0].astype(np.float32)
    common = r.standard_normal(d).astype(np.float32)
    common *= 1.05 * np.linalg.norm(scales) / np.linalg.norm(common)
for name, n in (("Q", nq), ("C", nb)):
    x = np.empty((n, d), dtype=np.float32)
    for i in range(0, n, 50000):  # in slices, to bound memory
        y = r.standard_normal((min(50000, n - i), d), dtype=np.float32)
        if kind == "outliers":
            y = 1 + 0.5 * y
            y[:, [17, d * 2 // 5, d - 157]] *= 12
        elif kind == "clustered":
            y = centers[r.integers(0, len(centers), len(y))] + 0.6 * y
        elif kind == "anisotropic":
            y = (y * scales) @ basis.T + common
        x[i:i + len(y)] = y / np.linalg.norm(y, axis=1, keepdims=True)
    np.save(f"{out}/{name}.npy", x)
PYEOF
	fi
	faiss=$("$PY" "$FAISS_FLAT" "$data/Q.npy" "$data/C.npy" "$K" --ids "$data/faiss_ids.npy")
	echo "$faiss"
	exact=$("$DIR/hardneg-bench" --queries "$data/Q.npy" --corpus "$data/C.npy" --k "$K" \
		--ids "$data/exact_ids.npy" --faiss-ids "$data/faiss_ids.npy")
	echo "$exact"
	quant=$("$DIR/hardneg-bench" --queries "$data/Q.npy" --corpus "$data/C.npy" --k "$K" \
		--ids "$data/quantized_ids.npy" --precision quantized)
	echo "$quant"
	same="identical"
	cmp -s "$data/exact_ids.npy" "$data/quantized_ids.npy" || same="DIFFERENT"
	f=$(gflops "$faiss")
	table+="d=$d nq=$NQ nb=$NB k=$K: faiss $f GFLOP/s, exact $(gflops "$exact") ($(ratio "$(gflops "$exact")" "$f")x), quantized $(gflops "$quant") ($(ratio "$(gflops "$quant")" "$f")x), quantized ids $same to exact"$'\n'
	[ "$same" = identical ] || { printf '%s' "$table"; echo "bench: quantized ids differ from exact" >&2; exit 1; }
done
echo
echo "hardneg vs FAISS IndexFlatIP (throughput ratio, same data, back to back):"
printf '%s' "$table"
