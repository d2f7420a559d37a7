"""Validate taxonomy data files and print what they hold:
`python scripts/check_taxonomy.py [--gaps] [--alone] [FILE ...]`.

Named files are checked in place of the data files of the same name, with the rest of
taxonomy/data around them (a new node's parent may live in another file); `--alone` checks
the named files by themselves. `--gaps` lists everything the teaching layer and the reported
results' protocols still lack (takeaways, levels, datasets, windows, baselines) in the named
files, or in all of them, and exits 1 while any remain.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taxonomy.loader import (  # noqa: E402
    DATA_DIR,
    TaxonomyError,
    content_gaps,
    load_file,
    load_paths,
)

OPTIONS = ("--gaps", "--alone")


def _paths(named: list[Path], alone: bool) -> list[Path]:
    if not named:
        return sorted(DATA_DIR.glob("*.yaml"))
    if alone:
        return named
    # A named file stands in for the data file of its name: an edited copy is checked, not
    # the original beside it.
    by_name = {path.name: path for path in DATA_DIR.glob("*.yaml")}
    by_name.update({path.name: path for path in named})
    return sorted(by_name.values(), key=lambda path: path.name)


def main(argv: list[str]) -> int:
    named = [Path(a) for a in argv if a not in OPTIONS]
    try:
        taxonomy = load_paths(_paths(named, "--alone" in argv), allow_gaps=True)
        gaps = content_gaps({p.name: load_file(p) for p in named or _paths([], False)})
    except TaxonomyError as error:
        print(f"INVALID\n{error}")
        return 1
    if "--gaps" in argv:
        print("\n".join(gaps) if gaps else "No gaps.")
        return 1 if gaps else 0
    if gaps:
        print(f"INCOMPLETE: {len(gaps)} gaps (list them with --gaps)")
    leaves = [n for n in taxonomy.nodes if not taxonomy.children(n.slug)]
    results = sum(len(n.reported_results) for n in taxonomy.nodes)
    print(
        f"OK: {len(taxonomy.nodes)} nodes ({len(leaves)} leaves), "
        f"{len(taxonomy.references)} references, {results} reported results"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
