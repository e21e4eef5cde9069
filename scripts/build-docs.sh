#!/usr/bin/env bash
# Builds the DirectSMTP module's DocC catalog with the toolchain's own `docc` (no plugin
# package) and fails on any warning (a broken symbol link, a parameter left undocumented)
# and on any public symbol of the package's libraries without a doc comment.
#
#   scripts/build-docs.sh [OUTPUT_DIR]     (default .build-docs/DirectSMTP.doccarchive)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-docs
graphs="$scratch/symbol-graphs"
output=${1:-$scratch/DirectSMTP.doccarchive}
# From a clean scratch every time: the compiler writes a module's graph only when it
# compiles the module, and a changed doc comment in SMTPClient does not recompile
# DirectSMTP, whose graph carries the declarations it re-exports.
rm -rf "$scratch" && mkdir -p "$graphs"
for target in DirectSMTP DirectSMTPTesting; do
    swift build --target "$target" --scratch-path "$scratch" \
        -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc "$PWD/$graphs" \
        -Xswiftc -symbol-graph-minimum-access-level -Xswiftc public
done

# Every public symbol declared in Sources/ has a doc comment (synthesized members and
# those inherited from the standard library have no location there and are skipped).
python3 - "$graphs" <<'PY'
import glob, json, sys
missing = set()
for path in glob.glob(sys.argv[1] + "/*.symbols.json"):
    for symbol in json.load(open(path))["symbols"]:
        location = symbol.get("location")
        if symbol.get("docComment") or not location or "/Sources/" not in location["uri"]:
            continue
        where = location["uri"].split("/Sources/", 1)[1]
        missing.add(f"Sources/{where}:{location['position']['line'] + 1}: "
                    f"{'.'.join(symbol['pathComponents'])} has no doc comment")
for line in sorted(missing):
    print(line, file=sys.stderr)
if missing:
    print(f"build-docs: {len(missing)} public symbols without a doc comment", file=sys.stderr)
    sys.exit(1)
PY

# The catalog documents the DirectSMTP module (and the declarations it re-exports).
find "$graphs" -name '*.symbols.json' ! -name 'DirectSMTP.symbols.json' ! -name 'DirectSMTP@*' -delete
docc=$(dirname "$(readlink -f "$(command -v swift)")")/docc
"$docc" convert Sources/DirectSMTP/Documentation.docc \
    --additional-symbol-graph-dir "$graphs" \
    --fallback-display-name DirectSMTP --fallback-bundle-identifier org.directsmtp.DirectSMTP \
    --output-dir "$output" --warnings-as-errors
echo "documentation: $output"
