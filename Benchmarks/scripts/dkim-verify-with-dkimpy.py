#!/usr/bin/env python3
"""Checks DirectSMTP's DKIM signatures with an independent verifier, dkimpy (PyPI).

    pip install dkimpy pynacl
    DKIM_EXPORT_DIR=/tmp/dkim swift test --filter DKIMExportTests
    python3 Benchmarks/scripts/dkim-verify-with-dkimpy.py /tmp/dkim

keys.txt maps each selector's DNS name to its key record; every signature of every .eml
file must verify. Exits non-zero on any failure. Not run by CI (needs PyPI).
"""
import glob
import os
import sys

import dkim

directory = sys.argv[1]
records = {}
with open(os.path.join(directory, "keys.txt")) as keys:
    for line in keys:
        name, record = line.strip().split(" ", 1)
        records[name.encode() + b"."] = record.encode()


def dnsfunc(name, timeout=5):
    return records.get(name if name.endswith(b".") else name + b".")


messages = signatures = failures = 0
for path in sorted(glob.glob(os.path.join(directory, "*.eml"))):
    with open(path, "rb") as handle:
        message = handle.read()
    verifier = dkim.DKIM(message, minkey=1024)
    count = message.count(b"DKIM-Signature:")
    messages += 1
    for index in range(count):
        signatures += 1
        if not verifier.verify(idx=index, dnsfunc=dnsfunc):
            failures += 1
            print(f"FAIL {os.path.basename(path)} signature {index}")
print(f"{messages} messages, {signatures} signatures, {failures} failed")
sys.exit(1 if failures or not signatures else 0)
