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
field() { sed -n "s/.*\"$1\":\([-0-9.]*\).*/\1/p"; }
for _ in $(seq 1 "$runs"); do
    for binary in "$@"; do
        line=$("$binary" coordinator --only "$mode" --target "$target" --rounds 10 \
            --calls 30000 --executor loop --json | grep "coordinator-$mode")
        echo "$binary $(echo "$line" | field overheadPairedMedianPercent)" \
            "$(echo "$line" | field userCpuExtraPerCallPairedMedianUs)" >>"$results"
    done
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for binary in "$@"; do
    overheads=$(awk -v b="$binary" '$1 == b { print $2 }' "$results")
    extra=$(awk -v b="$binary" '$1 == b { print $3 }' "$results" | median)
    echo "$binary: overhead median $(echo "$overheads" | median) % (all: $(echo "$overheads" | sort -g | tr '\n' ' ')), extra user CPU $extra us/call"
done
