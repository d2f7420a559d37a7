"""Where a reader finds a cited work. Kept free of pydantic so the UI imports it cheaply."""


def reference_link(arxiv: str | None, doi: str | None, url: str | None) -> str:
    """The best address for a reader: the arXiv abstract, then the DOI, then the given URL."""
    if arxiv:
        return f"https://arxiv.org/abs/{arxiv}"
    if doi:
        return f"https://doi.org/{doi}"
    return url or ""
