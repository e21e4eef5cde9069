#!/usr/bin/env bash
# Builds the DirectSMTP module's DocC catalog with the toolchain's own `docc` (no plugin
# package) and fails on any warning, such as a broken symbol link.
#
#   scripts/build-docs.sh [OUTPUT_DIR]     (default .build-docs/DirectSMTP.doccarchive)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-docs
graphs="$scratch/symbol-graphs"
output=${1:-$scratch/DirectSMTP.doccarchive}
rm -rf "$graphs" && mkdir -p "$graphs"
swift build --target DirectSMTP --scratch-path "$scratch" \
    -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc "$PWD/$graphs" \
    -Xswiftc -symbol-graph-minimum-access-level -Xswiftc public
# Only the DirectSMTP module's graphs (and its extensions of other modules' types).
find "$graphs" -name '*.symbols.json' ! -name 'DirectSMTP.symbols.json' ! -name 'DirectSMTP@*' -delete
docc=$(dirname "$(readlink -f "$(command -v swift)")")/docc
"$docc" convert Sources/DirectSMTP/Documentation.docc \
    --additional-symbol-graph-dir "$graphs" \
    --fallback-display-name DirectSMTP --fallback-bundle-identifier org.directsmtp.DirectSMTP \
    --output-dir "$output" --warnings-as-errors
echo "documentation: $output"
