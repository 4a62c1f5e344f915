#!/usr/bin/env python3
"""Renders README.md from docs/README.in.md, pasting in the example workflows, the inputs/outputs tables
(docs/inputs.md, generated from src/inputs/defs.rs by tests/action_metadata.rs), the RBAC Role and the benchmark
results, so the README never drifts from them.
`--check` exits 1 when README.md is not current."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent


def section(path, heading):
    text = (root / path).read_text()
    if heading is None:
        # A whole document goes under a README section: drop its title, push its headings one level down.
        lines = text.strip().splitlines()
        if lines and lines[0].startswith("# "):
            lines = lines[1:]
        return "\n".join("#" + l if l.startswith("## ") else l for l in lines).strip()
    lines = text.splitlines()
    start = lines.index(heading) + 1
    level = heading.split(" ")[0]
    end = next((i for i in range(start, len(lines)) if lines[i].startswith(level + " ")), len(lines))
    return "\n".join(lines[start:end]).strip()


def include(match):
    kind, path, heading = match.group(1), match.group(2), match.group(3)
    if not (root / path).exists():
        return f"(`{path}` is not written yet)"
    if kind == "include":
        return (root / path).read_text().rstrip("\n")
    return section(path, heading.strip() if heading else None)


template = (root / "docs/README.in.md").read_text()
rendered = re.sub(r"\{\{(include|include-section) (\S+)( [^}]+)?\}\}", include, template)
rendered = "<!-- Generated from docs/README.in.md by scripts/render-readme.py: edit that file. -->\n" + rendered
target = root / "README.md"
if "--check" in sys.argv:
    if not target.exists() or target.read_text() != rendered:
        print("README.md is not current: run python3 scripts/render-readme.py")
        sys.exit(1)
else:
    target.write_text(rendered)
