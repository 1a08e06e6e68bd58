#!/usr/bin/env bash
# arm64_check.sh builds cmd/bench for arm64, runs it under qemu-aarch64-static
# on small random data (every arm64 engine the emulator offers, exact and
# quantized) and compares its ids with the build for this machine on the
# same .npy files. `make test` calls it after the miner's arm64 tests.
#
# What must hold: the NEON engines compute every pair as the x86 SIMD
# engines do (one FMA chain in dimension order), so their ids equal the
# x86 SIMD build's byte for byte; quantized equals exact; the portable "go"
# engine (unfused) gives the same ids on both architectures, and differs from
# the SIMD engines only at float ties (checked with --faiss-ids, which
# accepts a difference only where the two rows' scores tie within 1e-5).
# Equal ids would survive a last-bit difference, so the script also compares
# the score digests of the kernel test TestScoreDigest on both architectures.
# Settings: ARM64_NQ (200), ARM64_NB (2000), ARM64_D (384), ARM64_K (20).
set -euo pipefail

NQ=${ARM64_NQ:-200}
NB=${ARM64_NB:-2000}
D=${ARM64_D:-384}
K=${ARM64_K:-20}
QEMU=${QEMU:-qemu-aarch64-static}
DIR=$(mktemp -d /tmp/hardneg-arm64.XXXXXX)
trap 'rm -rf "$DIR"' EXIT

python3 - "$DIR" "$NQ" "$NB" "$D" <<'PYEOF'
# Normalised Gaussian rows as float32 .npy, standard library only.
import array, math, random, sys
out, nq, nb, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = random.Random(d)
for name, n in (("Q", nq), ("C", nb)):
    a = array.array("f")
    for _ in range(n):
        row = [r.gauss(0, 1) for _ in range(d)]
        s = math.sqrt(sum(x * x for x in row))
        a.extend(x / s for x in row)
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (n, d)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with open(f"{out}/{name}.npy", "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
        a.tofile(f)
PYEOF

go build -o "$DIR/bench-host" ./cmd/bench
GOARCH=arm64 go build -o "$DIR/bench-arm64" ./cmd/bench

args=(--queries "$DIR/Q.npy" --corpus "$DIR/C.npy" --k "$K")
# run NAME ENGINE PRECISION [RUNNER...]: one search, its line printed, its ids in $DIR/NAME.npy.
run() {
	local name=$1 engine=$2 precision=$3
	shift 3
	local line
	line=$(HARDNEG_KERNEL=$engine "$@" "${args[@]}" --precision "$precision" --ids "$DIR/$name.npy")
	echo "$name: $line"
	grep -q " kernel=$engine" <<<"$line" || { echo "arm64_check: $name did not report kernel=$engine" >&2; exit 1; }
}
same() {
	cmp -s "$DIR/$1.npy" "$DIR/$2.npy" || { echo "arm64_check: ids of $1 and $2 differ" >&2; exit 1; }
	echo "ids of $1 = ids of $2"
}

host=$("$DIR/bench-host" "${args[@]}" | sed -n 's/.* kernel=\([^ ]*\).*/\1/p')
run host "$host" exact "$DIR/bench-host"
run host-go go exact "$DIR/bench-host"
arm=(neon)
if QEMU_CPU=max HARDNEG_KERNEL=neon-dot "$QEMU" "$DIR/bench-arm64" "${args[@]}" >/dev/null 2>&1; then
	arm=(neon-dot neon)
fi
for e in "${arm[@]}"; do
	run "arm-$e" "$e" exact env QEMU_CPU=max "$QEMU" "$DIR/bench-arm64"
	run "arm-$e-q" "$e" quantized env QEMU_CPU=max "$QEMU" "$DIR/bench-arm64"
	case $host in
	avx512 | avx2) same "arm-$e" host ;;
	*) echo "host engine $host is not an x86 SIMD engine: arm64 ids checked against it for ties only" ;;
	esac
	same "arm-$e-q" "arm-$e"
done
run arm-go go exact env QEMU_CPU=max "$QEMU" "$DIR/bench-arm64"
same arm-go host-go
# The SIMD ids equal across architectures (checked above), so the host compares them with go's.
"$DIR/bench-host" "${args[@]}" --faiss-ids "$DIR/host-go.npy" | sed 's/^/SIMD against the portable engine: /'

# Scores, bit for bit: the kernel test's digests of fixed data, per arithmetic.
digests() { grep -o 'score digest .*' | sort; }
x86=$(go test -count=1 -v -run '^TestScoreDigest$' ./miner/internal/kernel/ | digests)
arm=$(QEMU_CPU=max GOARCH=arm64 go test -count=1 -v -exec "$QEMU" -run '^TestScoreDigest$' ./miner/internal/kernel/ | digests)
echo "$x86" | sed 's/^/host:  /'
echo "$arm" | sed 's/^/arm64: /'
[ "$x86" = "$arm" ] || { echo "arm64_check: score digests differ between the architectures" >&2; exit 1; }
echo "arm64_check: ok"
