"""Validate taxonomy data files and print what they hold:
`python scripts/check_taxonomy.py [--gaps] [FILE ...]`.

`--gaps` lists everything the teaching layer and the reported results' protocols still lack
(takeaways, levels, datasets, windows, baselines) in the named files, or in all of them.
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


def main(argv: list[str]) -> int:
    list_gaps = "--gaps" in argv
    named = [Path(a) for a in argv if a != "--gaps"]
    paths = named or sorted(DATA_DIR.glob("*.yaml"))
    try:
        taxonomy = load_paths(paths, allow_gaps=True) if not named else load_paths(
            sorted({*paths, *DATA_DIR.glob("*.yaml")}), allow_gaps=True)
        gaps = content_gaps({p.name: load_file(p) for p in paths})
    except TaxonomyError as error:
        print(f"INVALID\n{error}")
        return 1
    if list_gaps:
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
