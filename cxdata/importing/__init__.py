"""Importing real exports: CSV/TSV, Excel and Parquet → validated canonical datasets.

    source = read_source("export.csv")            # text cells + source row numbers
    mapping = suggested_mapping(source, data_dir=…)  # saved profile or suggestion
    result = import_source(store, source, mapping, mode="append")
    result.read == result.imported + result.rejected + result.already_stored

Or in one call: `import_file(store, "export.csv")`. Nothing here imports streamlit.
"""

from cxdata.importing.datasets import dataset_summaries, delete_dataset, import_log
from cxdata.importing.errors import (
    DateOrderUndecided,
    MappingError,
    NothingToImport,
    UnreadableFile,
)
from cxdata.importing.load import (
    MODES,
    ImportResult,
    dry_run,
    import_file,
    import_source,
    read_with_mapping,
)
from cxdata.importing.mapping import ColumnMap, Mapping
from cxdata.importing.profiles import load_profile, matching_profile, profile_names, save_profile
from cxdata.importing.readers import Source, read_source, sheet_names
from cxdata.importing.rejects import reject_summary, rejects_csv
from cxdata.importing.suggest import suggest_mapping, suggested_mapping
from cxdata.importing.validate import Validated

__all__ = [
    "MODES",
    "ColumnMap",
    "DateOrderUndecided",
    "ImportResult",
    "Mapping",
    "MappingError",
    "NothingToImport",
    "Source",
    "UnreadableFile",
    "Validated",
    "dataset_summaries",
    "delete_dataset",
    "dry_run",
    "import_file",
    "import_log",
    "import_source",
    "load_profile",
    "matching_profile",
    "profile_names",
    "read_source",
    "read_with_mapping",
    "reject_summary",
    "rejects_csv",
    "save_profile",
    "sheet_names",
    "suggest_mapping",
    "suggested_mapping",
]
