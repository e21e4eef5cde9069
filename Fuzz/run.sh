#!/usr/bin/env bash
# Builds the libFuzzer harnesses with AddressSanitizer and runs each one for SECONDS
# (default 30) on a copy of its committed seed corpus (Corpus/<Target>/). Exits
# non-zero on the first crash, leak or sanitizer report; crash files land in
# ${FUZZ_ARTIFACTS:-/tmp/directsmtp-fuzz}/<Target>/.
#
#   Fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls Corpus))
# -enable-testing: JournalRecoveryFuzzer reaches the journal scanner through @testable import.
swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing
out=${FUZZ_ARTIFACTS:-/tmp/directsmtp-fuzz}
for target in "${targets[@]}"; do
    work="$out/$target"
    rm -rf "$work" && mkdir -p "$work/corpus"
    cp Corpus/"$target"/* "$work/corpus/"
    echo "== $target: ${seconds}s"
    .build/release/"$target" "$work/corpus" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=1 2>&1 \
        | grep -E '^(#[0-9]+ *DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|artifact)' || true
    # libFuzzer's exit code is lost in the pipe: a crash leaves an artifact behind.
    if compgen -G "$work/crash-*" >/dev/null || compgen -G "$work/leak-*" >/dev/null \
        || compgen -G "$work/timeout-*" >/dev/null || compgen -G "$work/oom-*" >/dev/null; then
        echo "$target: found a failing input in $work" >&2
        exit 1
    fi
done
