"""What a custom Data Commons serves beside the owner's variables: Data Commons' own medium index.

A custom DC's NL server searches two default indexes, the owner's (`user_all_minilm_mem`) and Data
Commons' `medium_ft`, and merges their hits by raw cosine (../shared/datacommons/serving.md). This module
reads both sides as (sentence, dcid) rows, for one model to serve both (eval/served.py searches them as the
server does; ship/custom_dc.py writes them):

    rows, _ = read_index(path)          # medium_ft's sentences (data/formats.py): its `dcid,sentence` input
                                        # (preindex/medium/sv_descriptions.csv) or the server's embeddings.csv
    rows = owner_rows(catalog)          # every text of each owner variable ("importer": its search
                                        # descriptions, else its name, as the importer writes sentences.csv)
"""

from __future__ import annotations

from pathlib import Path

from svtune.data.csvio import DataError
from svtune.data.records import Catalog

# The seed-era input of Data Commons' medium_ft index, inside a catalog folder in the repo's layout.
DC_MEDIUM_INPUT = Path("preindex") / "medium" / "sv_descriptions.csv"


def default_dc_index(dc_dir: Path | str) -> Path:
    """Where medium_ft's input lies in a Data Commons catalog folder."""
    return Path(dc_dir) / DC_MEDIUM_INPUT


def owner_rows(catalog: Catalog, rule: str = "all") -> list[tuple[str, str]]:
    """The owner's index: every text of each variable (`all`: name, description, search descriptions, as
    Data Commons' own indexes hold names and descriptions), or as the importer writes nl/sentences.csv
    (`importer`: the search descriptions, else the name). Topics are not in it; held-out descriptions are
    not in a run's catalog."""
    if rule == "importer":
        return [(s, sv.dcid) for sv in catalog.statvars.values() if not sv.topic
                for s in (sv.curated_alternatives or [sv.name]) if s]
    return [(s, sv.dcid) for sv in catalog.statvars.values() if not sv.topic for s in sv.sentences()]


def check_disjoint(owner: list[tuple[str, str]], dc: list[tuple[str, str]], where: Path) -> None:
    """Refuse a Data Commons index that is the owner's own (both sides would be one index twice)."""
    if owner and {d for _, d in owner} <= {d for _, d in dc}:
        raise DataError("every variable of the owner's catalog is also in Data Commons' index: is dc_index the "
                        "owner's own index?", where)

