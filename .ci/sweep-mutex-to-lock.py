#!/usr/bin/env python3
# One-off migration, kept so the sweep can be re-run after merges; .ci/sanitizers.sh fails
# while any Mutex is left.
"""Sweep: every `Synchronization.Mutex` in Sources/, Tests/, Benchmarks/ becomes `Sockets.Lock`.

Run from the repository root: python3 sweep-mutex-to-lock.py
Per file that names `Mutex` (Sources/Sockets/Lock.swift excepted):
  1. every word `Mutex` -> `Lock`;
  2. outside Sources/Sockets: `import Sockets` is added unless present;
  3. `import Synchronization` is removed unless the file still uses `Atomic`.
The contiguous block of plain `import X` lines is kept sorted if it was sorted.
"""
import pathlib, re

word = re.compile(r"\bMutex\b")
changed = []
for root in ("Sources", "Tests", "Benchmarks"):
    for path in sorted(pathlib.Path(root).rglob("*.swift")):
        if path.as_posix() == "Sources/Sockets/Lock.swift":
            continue
        text = path.read_text()
        if not word.search(text):
            continue
        text = word.sub("Lock", text)
        lines = text.split("\n")
        in_sockets = path.as_posix().startswith("Sources/Sockets/")
        imports = [i for i, l in enumerate(lines) if re.fullmatch(r"import \w+", l)]
        first = imports[0]
        block_end = first
        while block_end < len(lines) and re.fullmatch(r"import \w+", lines[block_end]):
            block_end += 1
        block = lines[first:block_end]
        was_sorted = block == sorted(block)
        uses_atomic = re.search(r"\bAtomic\b", text) is not None
        if not uses_atomic:
            lines = [l for l in lines if l != "import Synchronization"]
            block = [l for l in block if l != "import Synchronization"]
            block_end = first + len(block)
        if not in_sockets and "import Sockets" not in lines:
            block.append("import Sockets")
            if was_sorted:
                block.sort()
            lines = lines[:first] + block + lines[block_end:]
        elif was_sorted:
            lines = lines[:first] + sorted(block) + lines[block_end:]
        path.write_text("\n".join(lines))
        changed.append(path.as_posix())
print("\n".join(changed))
print(len(changed), "files")
