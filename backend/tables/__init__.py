"""The papers' tables: reported numbers beside the runs that reproduce them (docs/tables.md).

`data` holds the tables, `profiles` the settings they are reproduced at, `results` matches runs to cells,
`reproduce` queues what a table lacks, `cost` estimates GPU-hours, `export` writes CSV, Markdown and LaTeX.
"""

from .data import PAPER_TABLES, PaperTable, get_table
from .profiles import DEFAULT_PROFILE, PROFILES, profile_spec, table_specs

__all__ = ["PAPER_TABLES", "PaperTable", "get_table", "DEFAULT_PROFILE", "PROFILES", "profile_spec",
           "table_specs"]
