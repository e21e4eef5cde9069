#!/usr/bin/env bash
# Compares the coordinator's overhead over bare SMTPSessions between builds of the
# benchmark, against a loopback SMTP server (Postfix's smtp-sink), runs interleaved so
# that both builds see the same machine. One run per build is noise: on a shared 2-core
# machine, single runs spread by about 1.5 points.
#
#   Benchmarks/scripts/compare-builds.sh send 6 127.0.0.1:2525 /tmp/bench-old /tmp/bench-new
#
# Each binary is a copy of .build/release/directsmtp-bench. Prints, per binary, the median
# and all of the paired-median overheads (per cent), and the median extra user CPU per call.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 send|probe RUNS HOST:PORT BINARY..." >&2
    exit 64
fi
mode=$1 runs=$2 target=$3
shift 3
results=$(mktemp)
trap 'rm -f "$results"' EXIT
field() { sed -n "s/.*\"$1\":\([-0-9.][0-9.e+-]*\).*/\1/p"; }
binaries=("$@")
for run in $(seq 1 "$runs"); do
    # Each binary first in turn, so none always runs right after another.
    order=("${binaries[@]:$(((run - 1) % $#))}" "${binaries[@]:0:$(((run - 1) % $#))}")
    for binary in "${order[@]}"; do
        # A failed call makes the harness exit 1; its figures still count, but a run
        # with no figures (a refused target, a crash) is reported and skipped.
        line=$("$binary" coordinator --only "$mode" --target "$target" --rounds 10 \
            --calls 30000 --executor loop --json | grep "coordinator-$mode" || true)
        overhead=$(echo "$line" | field overheadPairedMedianPercent)
        extra=$(echo "$line" | field userCpuExtraPerCallPairedMedianUs)
        if [ -z "$overhead" ] || [ -z "$extra" ]; then
            echo "$binary: run $run gave no figures; skipped" >&2
            continue
        fi
        printf '%s\t%s\t%s\n' "$binary" "$overhead" "$extra" >>"$results"
    done
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for binary in "$@"; do
    overheads=$(B="$binary" awk -F '\t' '$1 == ENVIRON["B"] { print $2 }' "$results")
    extra=$(B="$binary" awk -F '\t' '$1 == ENVIRON["B"] { print $3 }' "$results" | median)
    echo "$binary: overhead median $(echo "$overheads" | median) % (all: $(echo "$overheads" | sort -g | tr '\n' ' ')), extra user CPU $extra us/call"
done
