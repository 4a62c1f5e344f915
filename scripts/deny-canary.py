#!/usr/bin/env python3
"""The canary of scripts/deny.sh: makes one crate of the lock file both vulnerable and yanked in copies of the
advisory database and of cargo's index cache, so the script can prove that a check against them fails.

usage: deny-canary.py <advisory db dir> <index cache dir> <Cargo.lock> <crate>"""
import pathlib
import re
import sys

db, index, lock, crate = sys.argv[1:]
version = re.search(rf'name = "{crate}"\nversion = "([^"]+)"', pathlib.Path(lock).read_text()).group(1)

advisory = pathlib.Path(db, "crates", crate, "RUSTSEC-2000-9999.md")
advisory.parent.mkdir(parents=True, exist_ok=True)
advisory.write_text(f"""```toml
[advisory]
id = "RUSTSEC-2000-9999"
package = "{crate}"
date = "2000-01-01"
url = "https://example.invalid/canary"

[versions]
patched = []
```

# deny.sh canary

Not a real advisory: scripts/deny.sh checks that the advisories check reports it.
""")

# cargo's index cache entry: a header, then NUL-separated (version, JSON line) pairs.
entry = pathlib.Path(index, ".cache", crate[:2], crate[2:4], crate)
data = entry.read_bytes()
marker = f'"vers": "{version}"'.encode()
parts = data.split(b"\0")
hits = [i for i, part in enumerate(parts) if marker in part]
if not hits:
    sys.exit(f"deny-canary: {crate} {version} not in {entry}")
for i in hits:
    parts[i] = parts[i].replace(b'"yanked": false', b'"yanked": true')
entry.write_bytes(b"\0".join(parts))
