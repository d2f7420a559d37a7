"""Validate taxonomy data files and print what they hold:
`python scripts/check_taxonomy.py [FILE ...]`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taxonomy.loader import TaxonomyError, load_paths, load_taxonomy  # noqa: E402


def main(argv: list[str]) -> int:
    try:
        taxonomy = load_paths([Path(a) for a in argv]) if argv else load_taxonomy()
    except TaxonomyError as error:
        print(f"INVALID\n{error}")
        return 1
    leaves = [n for n in taxonomy.nodes if not taxonomy.children(n.slug)]
    results = sum(len(n.reported_results) for n in taxonomy.nodes)
    print(
        f"OK: {len(taxonomy.nodes)} nodes ({len(leaves)} leaves), "
        f"{len(taxonomy.references)} references, {results} reported results"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
