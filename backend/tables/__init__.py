"""The papers' tables: reported numbers beside the runs that reproduce them (docs/tables.md).

`data` holds the tables, `profiles` the settings they are reproduced at, `results` matches runs to cells,
`notes` says a table's settings under a profile, `reproduce` queues what a table lacks, `local_speed` and
`cost` say how long that takes here and on one H100, `export` writes CSV, Markdown and LaTeX, `rounding`
rounds for the page and the exports alike.
"""

from .data import PAPER_TABLES, PaperTable, get_table
from .profiles import DEFAULT_PROFILE, PROFILES, profile_spec, table_specs

__all__ = ["PAPER_TABLES", "PaperTable", "get_table", "DEFAULT_PROFILE", "PROFILES", "profile_spec",
           "table_specs"]
