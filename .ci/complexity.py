"""The shape of openai_images.py, measured with radon: every function of
the batch section scores at most 15 (cyclomatic complexity), every other at
most 20; the mean over all blocks (radon's average) is at most 3.2; no
function is longer than 80 lines. Prints the mean and what is over."""

import sys

from radon.complexity import cc_visit

MEAN, MOST, MOST_IN_BATCH, LONGEST = 3.2, 20, 15, 80

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
mean = sum(b.complexity for b in blocks) / len(blocks)
over = [
    f"{b.fullname} (line {b.lineno}) scores {b.complexity}"
    for b in functions
    if b.complexity > (MOST_IN_BATCH if start <= b.lineno <= end else MOST)
]
over += [
    f"{b.fullname} (line {b.lineno}) is {b.endline - b.lineno + 1} lines"
    for b in functions
    if b.endline - b.lineno + 1 > LONGEST
]
if mean > MEAN:
    over.append(f"the mean complexity is {mean:.3f}, above {MEAN}")
top = max(functions, key=lambda b: b.complexity)
print(f"   mean complexity {mean:.3f} over {len(blocks)} blocks; the most complex: {top.fullname} {top.complexity}")
for line in over:
    print(f"   over: {line}")
sys.exit(1 if over else 0)
