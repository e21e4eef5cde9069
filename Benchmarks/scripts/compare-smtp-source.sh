#!/usr/bin/env bash
# The coordinator's end-to-end sends per second against Postfix's smtp-source with 100
# parallel sessions, both against the same loopback SMTP server (Postfix's smtp-sink),
# runs interleaved so that both see the same machine.
#
#   Benchmarks/scripts/compare-smtp-source.sh 3 127.0.0.1:2525 .build/release/directsmtp-bench
#
# Prints each run's figures, then the median of each side.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 RUNS HOST:PORT BINARY [MESSAGES]" >&2
    exit 64
fi
runs=$1 target=$2 binary=$3 messages=${4:-20000}
host=${target%:*}
command -v smtp-source >/dev/null || PATH=$PATH:/usr/sbin
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for run in $(seq 1 "$runs"); do
    start=$(date +%s.%N)
    smtp-source -s 100 -m "$messages" -f bench@client.bench -t "user@[$host]" "$target"
    end=$(date +%s.%N)
    source_rate=$(echo "$messages $start $end" | awk '{ printf "%.0f", $1 / ($3 - $2) }')
    line=$("$binary" coordinator --only send --target "$target" --rounds 1 --calls "$messages" \
        --side coordinator --executor loop --json | grep coordinator-send || true)
    rate=$(echo "$line" | sed -n 's/.*"perSecondMedian":\([0-9.]*\).*/\1/p')
    echo "run $run: smtp-source -s 100: $source_rate sends/s, coordinator: ${rate:-none} sends/s"
    printf '%s\t%s\n' "$source_rate" "${rate:-0}" >>"$results"
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median: smtp-source -s 100 $(cut -f1 "$results" | median) sends/s, coordinator $(cut -f2 "$results" | median) sends/s"
