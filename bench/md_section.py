#!/usr/bin/env python3
"""md_section.py FILE HEADING - replace the "## HEADING" section of a Markdown
file (from its heading to the next "## " heading or the end) with the text on
stdin, or append it; other sections stay as they are. Also importable:
replace_section(path, heading, text)."""
import os
import re
import sys


def replace_section(path, heading, text):
    doc = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    section = text.rstrip("\n") + "\n"
    m = re.search(r"^## " + re.escape(heading) + r"\n.*?(?=^## |\Z)", doc, flags=re.S | re.M)
    if m:
        doc = doc[:m.start()] + section + ("\n" if doc[m.end():] else "") + doc[m.end():]
    else:
        doc = doc.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(doc)
    print(f"wrote {path}")


if __name__ == "__main__":
    replace_section(sys.argv[1], sys.argv[2], sys.stdin.read())
