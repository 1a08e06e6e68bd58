#!/usr/bin/env bash
# arm64_mca.sh estimates the arm64 kernels' speed where no arm64 machine is
# at hand: it builds the kernel's tests for arm64, disassembles the inner
# loops of the 5-row micro-kernels (fmaN5: exact, FMLA; dotSDOT5: the int8
# prefilter, SDOT) and of x86's fmaY6 for comparison, and runs LLVM's
# scheduling models of the cores on them (llvm-mca). It prints cycles per
# loop iteration and what one iteration does; docs/performance.md (arm64)
# explains how to read them. Not part of `make test`: it installs llvm-19
# (Debian's package, about 100 MB) when llvm-mca-19 is missing.
# Settings: MCA_ARM_CPUS, MCA_X86_CPUS (the -mcpu names to run).
set -euo pipefail

ARM_CPUS=${MCA_ARM_CPUS:-"neoverse-n1 neoverse-n2 neoverse-v1 neoverse-v2 ampere1"}
X86_CPUS=${MCA_X86_CPUS:-"znver3 znver4 haswell skylake"}

if ! command -v llvm-mca-19 >/dev/null; then
	sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
	echo "installing llvm-19 (llvm-mca-19, llvm-objdump-19)..."
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq llvm-19 >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for arch in arm64 amd64; do
	GOARCH=$arch go test -c -o "$tmp/k.$arch" ./miner/internal/kernel/
	llvm-objdump-19 -d --no-show-raw-insn --no-leading-addr "$tmp/k.$arch" >"$tmp/k.$arch.dis"
done

# loop DISASSEMBLY FUNC: the instructions of FUNC's main loop, from the one after
# its first forward branch over the loop (to the tail) to the branch back,
# as a file llvm-mca reads (the branch goes back to a label).
loop() {
	awk -v fn="<github.com/hardneg/hardneg/miner/internal/kernel.$2.abi0>:" '
			$0 == fn { in_fn = 1; next }
			in_fn && /^$/ { exit }
			in_fn && !started && /\tb\.lt\t|\tjb\t/ { started = 1; print "loop:"; next }
			in_fn && started && /\tb\.ge\t|\tjae\t/ { sub(/\t(b\.ge|jae)\t.*/, "\t" ($0 ~ /b\.ge/ ? "b.ge" : "jae") "\tloop"); print; exit }
			in_fn && started { print }' "$1"
}

mca() { # TRIPLE CPU FILE: cycles per iteration over 300 iterations
	llvm-mca-19 -mtriple="$1" -mcpu="$2" -mattr="${4:-}" -iterations=300 "$3" |
		awk '/^Total Cycles:/ { printf "%.1f", $3 / 300 }'
}

loop "$tmp/k.arm64.dis" fmaN5 >"$tmp/fma.s"
loop "$tmp/k.arm64.dis" dotSDOT5 >"$tmp/sdot.s"
loop "$tmp/k.amd64.dis" fmaY6 >"$tmp/fmaY6.s"
count() { grep -c -E "^\s*$1\b" "$2" || true; }

echo "fmaN5 (neon, exact): $(count fmla "$tmp/fma.s") FMLA (5 queries x 16 rows x 4 dimensions, 4 lanes each) per iteration"
echo "dotSDOT5 (neon-sdot, int8): $(count sdot "$tmp/sdot.s") SDOT (5 queries x 16 rows x 16 dimensions, 16 multiply-adds each) per iteration"
printf '%-12s %14s %14s\n' cpu "fmaN5 cycles" "dotSDOT5 cycles"
for c in $ARM_CPUS; do
	printf '%-12s %14s %14s\n' "$c" "$(mca aarch64 "$c" "$tmp/fma.s")" "$(mca aarch64 "$c" "$tmp/sdot.s" +dotprod)"
done
echo "fmaY6 (x86 avx2, exact; measured at 99% of the FMA peak in place, docs/performance.md): $(grep -c vfmadd231ps "$tmp/fmaY6.s") FMAs (8 lanes) per iteration"
printf '%-12s %14s\n' cpu "fmaY6 cycles"
for c in $X86_CPUS; do
	printf '%-12s %14s\n' "$c" "$(mca x86_64 "$c" "$tmp/fmaY6.s")"
done
