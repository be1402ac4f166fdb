"""Cyclomatic complexity (radon) of openai_images.py: every function of the
batch section scores at most 15; prints the mean over all blocks and the
functions above 15 elsewhere (the target for those is 20, see the README)."""

import sys

from radon.complexity import cc_visit

path = sys.argv[1]
with open(path, encoding="utf-8") as handle:
    source = handle.read()
lines = source.splitlines()
start = next(n for n, line in enumerate(lines, 1) if line.startswith("# Batch runner"))
end = next(n for n, line in enumerate(lines, 1) if line.startswith("# Command line"))
unique = {}
for block in cc_visit(source):
    for each in (block, *getattr(block, "methods", [])):
        unique[(each.lineno, each.fullname)] = each
blocks = list(unique.values())
functions = [b for b in blocks if not hasattr(b, "methods")]
too_complex = [b for b in functions if start <= b.lineno <= end and b.complexity > 15]
elsewhere = [b for b in functions if not start <= b.lineno <= end and b.complexity > 15]
mean = sum(b.complexity for b in blocks) / len(blocks)
print(
    f"   mean complexity {mean:.2f} over {len(blocks)} blocks; above 15 outside the batch section: "
    + (", ".join(f"{b.fullname} {b.complexity}" for b in elsewhere) or "none")
)
for block in too_complex:
    print(f"   batch section: {block.fullname} (line {block.lineno}) scores {block.complexity}")
sys.exit(1 if too_complex else 0)
