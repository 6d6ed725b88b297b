"""Load measured data (time series of time, voltage, current, or any table an objective reads).

A data source is a string such as ``"file:data/1C.csv"`` or ``"folder:data/rpt"``, a pandas
DataFrame, or a :class:`DataOptions` (dict) that adds column mapping and filters. Each source
prefix is a loader in :data:`DATA_SOURCES`, filled by the module that defines it or by a plugin's
``sweepfit.data_sources`` entry point (the measurement store's ``db:`` comes that way).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from elements.core.registry import Registry

__all__ = ["DATA_SOURCES", "TIME_SERIES", "DataError", "DataOptions", "DataSpec", "Measurement", "SourceLoader",
           "in_store", "load_measurements", "normalise", "register_source", "store_of"]

TIME, VOLTAGE, CURRENT, STEP = "Time [s]", "Voltage [V]", "Current [A]", "Step"
TIME_SERIES = (TIME, VOLTAGE, CURRENT)  # what a current-driven objective needs
INLINE = "inline"  # the source of data given as columns in the spec
LOADER = ("sort", "remove_duplicates")  # ionworks-schema's data loader options read here
# ionworks-schema's column names, read as sweepfit's where a file has no column of that name
IONWORKS_COLUMNS = {"Z_Re [Ohm]": "Z_real [Ohm]", "Z_Im [Ohm]": "Z_imag [Ohm]"}
_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_DECIMAL_COMMA = re.compile(r"\s*[-+]?\d+,\d+\s*")
# A folder often holds README or notes .txt files, so only these are picked up from folders.
_FOLDER_SUFFIXES = (".csv", ".parquet")
# cycler= names: PyProBE's reader modules, each with the class of the same name capitalised.
Cycler = Literal["arbin", "basytec", "biologic", "maccor", "neware", "novonix"]
CYCLERS: tuple[str, ...] = get_args(Cycler)


class DataError(ValueError):
    """A measured data source that cannot be used for a fit.

    The message names the source file (and the column at fault), what was wrong, and how to fix it.
    Rows are counted as pandas does: from 0, over the data rows, header excluded.
    """


class DataOptions(BaseModel):
    """How to read one measured data source; the ``data`` entry of a pipeline spec.

    Attributes
    ----------
    source : str
        ``"file:<path>"``, ``"folder:<path>"`` or another registered prefix.
    data : dict of str to list, optional
        The measurement itself, ``{column: values}``, in place of a ``source``: what
        ionworks-schema's ``to_config()`` writes for a DataFrame (``{"data": {column: [...]}}``).
        ionworks-schema's ``{"data": "file:..."}``, ``time_range: {start, end}`` and
        ``metadata`` (provenance, kept with the spec) are read too.
    column_map : dict of str to str
        ``{file column: PyBaMM column}``, e.g. ``{"U": "Voltage [V]"}``.
    columns : list of str, optional
        Names for the columns of a header-less text file, in order.
    sep : str, optional
        CSV separator; by default a comma, or tab / whitespace when the first line has no comma
        (with ``decimal=","``: tab, then semicolon, then whitespace).
    decimal : str, optional
        The decimal mark of a text file: ``","`` for a European-locale export (``3,3091569``).
    sheet : str or int, optional
        The sheet of an Excel workbook (``.xlsx``, ``.xlsm``) to read, by name or 0-based position;
        by default the first.
    cycler : {"arbin", "basytec", "biologic", "maccor", "neware", "novonix"}, optional
        Read the file as that cycler's own export (e.g. BioLogic ``.mpt``, Neware ``.csv`` /
        ``.xlsx``) with PyProBE's reader, into ``Time [s], Step, Event, Current [A], Voltage [V],
        Capacity [Ah]`` (and ``Temperature [C]`` when the file has one); needs
        ``pip install "sweepfit[cyclers]"``. Not with ``columns`` or ``sep``.
    current_sign : {"positive_discharge", "positive_charge"}
        Sign convention of the file; ``"positive_charge"`` negates the current to PyBaMM's.
        With ``cycler`` it defaults to ``"positive_charge"``, PyProBE's convention.
    steps : list of int, optional
        Keep only rows whose ``"Step"`` column is one of these.
    current : float, optional
        Constant current [A], in the file's sign convention, for files without a current column.
    time_range : (float, float), optional
        Keep rows with ``t0 <= "Time [s]" <= t1`` (file time, before the shift to 0).
    voltage_range : (float, float), optional
        Keep rows with ``v0 <= "Voltage [V]" <= v1``.
    drop_rests : bool
        Drop rows whose ``|"Current [A]"|`` is below ``rest_current``. Time is not closed up: a
        rest in the middle leaves a gap that a current drive interpolates across.
    rest_current : float
        The rest threshold [A]; 1 mA by default, above a cycler's zero-current noise and below
        any current a fit would drive with (a 1 A·h cell at C/1000).
    resample : float, optional
        Interpolate onto a uniform time base with this step [s], from 0 to the last time: voltage,
        current and float columns linearly; integer and text columns (``"Step"``) take the
        previous sample.
    sort, remove_duplicates : bool
        ionworks-schema's loader options (``options: {sort: true, remove_duplicates: true}``, or under
        ``transforms``): drop repeated rows, sort by time (or, without time, by the first column the
        objective needs, an OCP's capacity). Both apply first, as do ionworks' column names
        ``Z_Re [Ohm]`` and ``Z_Im [Ohm]`` (read as ``Z_real [Ohm]`` and ``Z_imag [Ohm]``).

    Filters apply in this order: ``steps``, ``time_range``, ``voltage_range``, ``drop_rests``;
    then a row equal to the one before it in every column is dropped (a step boundary logged
    twice), time starts at 0 and ``resample`` applies.

    Examples
    --------
    >>> DataOptions(source="file:1C_discharge_U.txt", columns=["Time [s]", "Voltage [V]"],
    ...             current=2.28).current
    2.28
    """

    model_config = ConfigDict(extra="forbid")
    _store: Path | None = PrivateAttr(default=None)

    source: str = INLINE
    data: dict[str, list[Any]] | None = None
    metadata: dict[str, Any] | None = None
    column_map: dict[str, str] = {}
    columns: list[str] | None = None
    sep: str | None = None
    decimal: str | None = Field(None, min_length=1, max_length=1)
    sheet: str | int | None = None
    cycler: Cycler | None = None
    current_sign: Literal["positive_discharge", "positive_charge"] = "positive_discharge"
    steps: list[int] | None = None
    current: float | None = None
    time_range: tuple[float, float] | None = None
    voltage_range: tuple[float, float] | None = None
    drop_rests: bool = False
    rest_current: float = Field(1e-3, gt=0)
    resample: float | None = Field(None, gt=0)
    sort: bool = False
    remove_duplicates: bool = False

    @model_validator(mode="before")
    @classmethod
    def _ionworks(cls, value: Any) -> Any:
        """ionworks-schema's payload: ``data`` as a path, ``time_range`` as ``{start, end}``; its
        loader ``options`` (transforms, step selection) have no meaning here yet."""
        if not isinstance(value, dict):
            return value
        value = dict(value)
        if isinstance(value.get("data"), str):
            value.setdefault("source", value.pop("data"))
        window = value.get("time_range")
        if isinstance(window, dict) and set(window) <= {"start", "end"}:
            value["time_range"] = (window.get("start", 0.0), window["end"]) if "end" in window else window
        loader = value.pop("options", None)
        if loader is not None:
            loader = {**loader, **(loader.get("transforms") or {})} if isinstance(loader, dict) else loader
            other = {k: v for k, v in loader.items() if k not in (*LOADER, "transforms")} \
                if isinstance(loader, dict) else loader
            if other:
                raise ValueError(f"data options {other!r}: ionworks-schema's data loader options other than "
                                 f"{' and '.join(LOADER)} (transforms, first_step, filters, interpolate ...) are "
                                 f"not supported; select rows with steps=, time_range=, voltage_range=, "
                                 f"drop_rests= or resample= instead")
            value.update({k: loader[k] for k in LOADER if loader.get(k) is not None})
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DataOptions:
        if (self.source == INLINE) == (self.data is None):
            raise ValueError(f"give either a source such as 'file:<path>' or the columns as data: "
                             f"{{column: [values]}}, not {'both' if self.data is not None else 'neither'}")
        return self

    @model_validator(mode="after")
    def _cycler_export(self) -> DataOptions:
        if self.cycler is None:
            return self
        given = " and ".join(f"{name}=" for name in ("columns", "sep", "decimal", "sheet")
                             if getattr(self, name) is not None)
        if given:
            raise ValueError(f"{given} describe a plain text file, but with cycler={self.cycler!r} PyProBE reads "
                             f"the export's own header and layout; drop {given} (rename columns with column_map)")
        if "current_sign" not in self.model_fields_set:
            self.current_sign = "positive_charge"  # PyProBE's convention
        return self

    @field_validator("time_range", "voltage_range")
    @classmethod
    def _check_range(cls, value: tuple[float, float] | None, info: ValidationInfo) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            a = info.field_name[0]  # t or v
            raise ValueError(f"{info.field_name} must be [{a}0, {a}1] with {a}0 < {a}1, got {list(value)}")
        return value


DataSpec = str | DataOptions


@dataclass(frozen=True, eq=False)  # eq=False: `==` on a DataFrame field has no single truth value
class Measurement:
    """One measured time series, in PyBaMM column names and sign convention.

    ``frame`` has ``"Time [s]"`` (from 0, strictly increasing), ``"Voltage [V]"`` and
    ``"Current [A]"`` (positive on discharge), plus any other columns of the file. ``sha256``
    is the hash of the raw file bytes (for a DataFrame, of its CSV serialisation).
    """

    name: str
    source: str
    frame: pd.DataFrame
    sha256: str

    @property
    def time(self) -> np.ndarray:
        return self.frame[TIME].to_numpy()

    @property
    def voltage(self) -> np.ndarray:
        return self.frame[VOLTAGE].to_numpy()

    @property
    def current(self) -> np.ndarray:
        return self.frame[CURRENT].to_numpy()


# loader(target, options, base_dir, required) -> measurements
SourceLoader = Callable[[str, DataOptions, Path, tuple[str, ...]], list[Measurement]]
DATA_SOURCES: Registry[SourceLoader] = Registry("data source")


def register_source(prefix: str, loader: SourceLoader) -> None:
    """Make ``"<prefix>:<target>"`` sources load with ``loader(target, options, base_dir, required)``.

    ``required`` names the columns the reading objective needs. Packages can also declare a
    ``sweepfit.data_sources`` entry point instead of calling this.

    Examples
    --------
    >>> def load_lab(target, options, base_dir, required):
    ...     return load_measurements(my_lab.fetch(target), required=required)  # doctest: +SKIP
    >>> register_source("lab", load_lab)  # doctest: +SKIP
    """
    if not prefix or ":" in prefix:
        raise ValueError(f"source prefix must be a non-empty name without ':', got {prefix!r}")
    DATA_SOURCES.register(prefix, loader)


def load_measurements(
    source: DataSpec | pd.DataFrame | dict[str, Any],
    *,
    base_dir: Path | None = None,
    required: tuple[str, ...] = TIME_SERIES,
) -> list[Measurement]:
    """Load, validate and normalise measured data.

    Parameters
    ----------
    source : str, DataOptions, dict or pandas.DataFrame
        ``"file:<path>"`` (one measurement), ``"folder:<path>"`` (one per ``*.csv`` /
        ``*.parquet``, sorted by name), a DataFrame (named ``"dataframe"``), or options.
    base_dir : Path, optional
        Directory that relative paths resolve against; the current directory by default.
    required : tuple of str
        Columns the data must have (time, voltage and current by default). Time, when present,
        starts at 0 and must increase; current, when present, follows PyBaMM's sign.

    Returns
    -------
    list of Measurement

    Raises
    ------
    DataError
        Naming the file and column, for anything that would make a fit meaningless.

    Examples
    --------
    >>> [m] = load_measurements({"source": "file:lgm50_rpt_25degC.parquet", "steps": [5],
    ...                          "current_sign": "positive_charge"})  # doctest: +SKIP
    >>> m.time[0], m.current.mean()  # doctest: +SKIP
    (0.0, 0.500005)
    """
    if isinstance(source, pd.DataFrame):
        frame = normalise(source, DataOptions(source="dataframe"), "dataframe", required)
        return [Measurement("dataframe", "dataframe", frame, dataframe_sha256(source))]
    options = _to_options(source)
    if options.data is not None:
        return [_inline(options, required)]
    prefix, colon, target = options.source.partition(":")
    valid = ", ".join(sorted(DATA_SOURCES))
    if not colon:
        raise DataError(f"data source {options.source!r} has no prefix; write e.g. "
                        f"'file:{options.source}' or 'folder:{options.source}' (prefixes: {valid})")
    if prefix not in DATA_SOURCES:
        raise DataError(f"unknown data source prefix {prefix!r} in {options.source!r}; valid "
                        f"prefixes: {valid}. Register a loader with register_source({prefix!r}, ...)")
    return DATA_SOURCES[prefix](target, options, Path.cwd() if base_dir is None else Path(base_dir), required)


def _inline(options: DataOptions, required: tuple[str, ...]) -> Measurement:
    lengths = {name: len(values) for name, values in options.data.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"inline data: columns have different lengths {lengths}; give every column one value per row")
    frame = pd.DataFrame(options.data)
    sha = dataframe_sha256(frame)
    return Measurement(INLINE, f"{INLINE}:{sha[:12]}", normalise(frame, options, "inline data", required), sha)


def dataframe_sha256(frame: pd.DataFrame) -> str:
    """Checksum of a DataFrame's content (its CSV text), so lineage can name in-memory data."""
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def in_store(value: Any, root: Path) -> Any:
    """``value`` (an element's spec, or a part of one) with every ``db:`` source resolving in the
    measurement store at ``root``: the store then travels with the spec into every task that reads
    its data (per-key fits, multistarts, workers of another machine), none relying on where it runs."""
    if isinstance(value, str) and value.startswith("db:"):
        value = DataOptions(source=value)
    if isinstance(value, DataOptions):
        if value.source.startswith("db:"):
            value = value.model_copy()
            value._store = Path(root)
        return value
    if isinstance(value, BaseModel):
        found = {k: in_store(v, root) for k, v in value.__dict__.items()}
        changed = {k: v for k, v in found.items() if v is not value.__dict__[k]}
        return value.model_copy(update=changed) if changed else value
    if isinstance(value, dict):
        found = {k: in_store(v, root) for k, v in value.items()}
        return found if any(found[k] is not value[k] for k in value) else value
    if isinstance(value, list):
        found = [in_store(v, root) for v in value]
        return found if any(a is not b for a, b in zip(found, value)) else value
    return value


def store_of(options: DataOptions) -> Path | None:
    """The measurement store a ``db:`` source resolves in (see :func:`in_store`); None: ``sweepfit.store``."""
    return options._store


def _serialized(data: Any) -> Any:
    if isinstance(data, pd.DataFrame):
        return f"dataframe:{dataframe_sha256(data)}"
    return data.model_dump() if isinstance(data, DataOptions) else data


# A measured data set as an element's spec takes it: a source (``file:...``, ``db:...``), its
# DataOptions, or a DataFrame, which a stored spec (and a cache key) keeps as its content's hash.
DataInput = Annotated[str | DataOptions | pd.DataFrame, PlainSerializer(_serialized)]


def _to_options(source: object) -> DataOptions:
    if isinstance(source, DataOptions):
        return source
    if isinstance(source, str):
        return DataOptions(source=source)
    if isinstance(source, dict):
        try:
            return DataOptions.model_validate(source)
        except ValidationError as exc:
            raise DataError(f"invalid data options for {source.get('source')!r} (valid keys: "
                            f"{', '.join(DataOptions.model_fields)}):\n{exc}") from exc
    raise TypeError(f"data source must be a str, dict, DataOptions or pandas.DataFrame, "
                    f"got {type(source).__name__}")


def _load_file(target: str, options: DataOptions, base_dir: Path, required: tuple[str, ...]) -> list[Measurement]:
    path = base_dir / target
    if not path.is_file():
        raise DataError(f"{target}: file not found (resolved to {path.resolve()}); check the "
                        f"path, relative paths resolve against base_dir")
    return [_load_path(path, options, f"file:{target}", required)]


def _load_folder(target: str, options: DataOptions, base_dir: Path, required: tuple[str, ...]) -> list[Measurement]:
    folder = base_dir / target
    if not folder.is_dir():
        raise DataError(f"{target}: folder not found (resolved to {folder.resolve()})")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in _FOLDER_SUFFIXES)
    if not paths:
        raise DataError(f"{folder}: no {' or '.join(_FOLDER_SUFFIXES)} files in the folder; "
                        f"load other files one by one with 'file:<path>'")
    return [_load_path(p, options, f"file:{Path(target) / p.name}", required) for p in paths]


def _load_path(path: Path, options: DataOptions, source: str, required: tuple[str, ...]) -> Measurement:
    raw = path.read_bytes()
    frame = normalise(_read(path, raw, options), options, str(path), required)
    return Measurement(path.stem, source, frame, hashlib.sha256(raw).hexdigest())


def _read(path: Path, raw: bytes, options: DataOptions) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if options.cycler is None and suffix not in (*_TEXT_SUFFIXES, *_EXCEL_SUFFIXES, ".parquet"):
        raise DataError(f"{path}: unsupported file type {suffix!r}; supported: "
                        f"{', '.join(_TEXT_SUFFIXES + _EXCEL_SUFFIXES)}, .parquet, or a cycler's own export with "
                        f"cycler=<{'|'.join(CYCLERS)}>. Convert the file, or read it with pandas "
                        f"and pass the DataFrame")
    if not raw.strip():
        raise DataError(f"{path}: file is empty")
    if options.cycler is not None:
        return _read_cycler(path, raw, options.cycler)
    text_only = [f"{name}=" for name in ("sep", "decimal") if getattr(options, name) is not None]
    if suffix not in _TEXT_SUFFIXES and text_only:
        raise DataError(f"{path}: {' and '.join(text_only)} describe a text file, not a {suffix[1:]} file; drop "
                        f"{' and '.join(text_only)}")
    if suffix not in _EXCEL_SUFFIXES and options.sheet is not None:
        raise DataError(f"{path}: sheet= picks a sheet of an Excel workbook ({', '.join(_EXCEL_SUFFIXES)}), not of a "
                        f"{suffix[1:]} file; drop sheet=")
    if suffix == ".parquet" and options.columns is not None:
        raise DataError(f"{path}: columns= names header-less text files; rename parquet "
                        f"columns with column_map instead")
    try:
        if suffix == ".parquet":
            return pd.read_parquet(io.BytesIO(raw))
        if suffix in _EXCEL_SUFFIXES:
            frame = _read_sheet(path, raw, options)
        else:
            frame = pd.read_csv(io.BytesIO(raw), sep=options.sep or _sniff_sep(raw, options.decimal),
                                decimal=options.decimal or ".", index_col=False,
                                header=None if options.columns is not None else 0)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot be read as {suffix[1:]} ({exc})") from exc
    if options.columns is not None:
        if len(options.columns) != frame.shape[1]:
            raise DataError(f"{path}: columns= gives {len(options.columns)} names but the file "
                            f"has {frame.shape[1]} columns; give one name per column")
        frame.columns = options.columns
    return frame


def _read_cycler(path: Path, raw: bytes, cycler: str) -> pd.DataFrame:
    """The export at ``path``, converted by PyProBE's reader for ``cycler`` to its standard columns."""
    name = cycler.capitalize()
    try:  # lazily: PyProBE takes seconds to import
        reader_class = getattr(importlib.import_module(f"pyprobe.cyclers.{cycler}"), name)
        from loguru import logger
    except ImportError as exc:
        raise DataError(f'{path}: cycler={cycler!r} reads through PyProBE, which is not installed ({exc}); '
                        f'pip install "sweepfit[cyclers]"') from exc
    with tempfile.TemporaryDirectory() as folder:
        # PyProBE globs its input path ('[' in a name would miss the file) and skips the import when its
        # output parquet exists, so it reads a copy of the hashed bytes and writes nothing beside the file.
        copy = Path(folder) / f"export{path.suffix}"
        copy.write_bytes(raw)
        logger.disable("pyprobe")  # its per-column info logs would fill a run's output
        try:
            reader = reader_class(input_data_path=str(copy), output_data_path=str(Path(folder) / "export.parquet"))
            frame = reader.get_pyprobe_dataframe().to_pandas()
        except Exception as exc:  # PyProBE raises pydantic, polars and plain Python errors alike
            raise DataError(f"{path}: cannot be read as a {cycler} export; PyProBE's {name} reader says: {exc}. "
                            f"Check cycler= (one of {', '.join(CYCLERS)}) and that the file is the "
                            f"cycler's own export") from exc
        finally:
            logger.enable("pyprobe")
    # PyProBE skips the columns it cannot find; a file of another cycler loses time, current or voltage.
    missing = [c for c in TIME_SERIES if c not in frame.columns]
    if missing:
        wanted = [col for importer in reader.column_importers if importer.pyprobe_name in missing
                  for col in importer.required_cycler_cols]
        raise DataError(f"{path}: PyProBE's {name} reader found no {missing} in the file (it looks for "
                        f"columns {wanted}, * being a unit). Check cycler= (one of {', '.join(CYCLERS)}) "
                        f"and that the file is an export of that cycler")
    return frame.drop(columns="Date", errors="ignore")  # wall-clock time; Time [s] is kept


def _read_sheet(path: Path, raw: bytes, options: DataOptions) -> pd.DataFrame:
    """One sheet of an Excel workbook (openpyxl); a missing sheet names those the workbook has."""
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    sheets = workbook.sheetnames
    workbook.close()
    sheet = 0 if options.sheet is None else options.sheet
    if sheet not in sheets and not (isinstance(sheet, int) and 0 <= sheet < len(sheets)):
        raise DataError(f"{path}: no sheet {sheet!r}; the workbook has sheets {sheets} (sheet= takes a name or a "
                        f"0-based position)")
    return pd.read_excel(io.BytesIO(raw), sheet_name=sheet, engine="openpyxl",
                         header=None if options.columns is not None else 0)


def _sniff_sep(raw: bytes, decimal: str | None = None) -> str:
    first_line = raw.lstrip().split(b"\n", 1)[0]
    if b"," in first_line and decimal != ",":
        return ","
    if b"\t" in first_line:
        return "\t"
    return ";" if b";" in first_line else r"\s+"


def normalise(
    frame: pd.DataFrame, options: DataOptions, label: str, required: tuple[str, ...] = TIME_SERIES
) -> pd.DataFrame:
    """Apply ``options`` to a read frame and check it: PyBaMM names, time from 0, PyBaMM's sign.

    ``label`` names the source in a :class:`DataError`; ``required`` the columns it must have.
    """
    unknown = [c for c in options.column_map if c not in frame.columns]
    if unknown:
        raise DataError(f"{label}: column_map names column(s) {unknown} that the file does not "
                        f"have; present columns: {list(frame.columns)}")
    frame = frame.rename(columns=options.column_map)
    frame = frame.rename(columns={k: v for k, v in IONWORKS_COLUMNS.items() if v not in frame.columns})
    if options.remove_duplicates:
        frame = frame.drop_duplicates()
    if options.sort and (TIME in frame.columns or required[0] in frame.columns):
        frame = frame.sort_values(TIME if TIME in frame.columns else required[0], kind="stable")
    repeated = list(dict.fromkeys(frame.columns[frame.columns.duplicated()]))
    if repeated:
        raise DataError(f"{label}: column(s) {repeated} appear more than once (after columns= and column_map="
                        f"{options.column_map}); give each column its own name")
    if options.current is not None:
        if CURRENT in frame.columns:
            raise DataError(f"{label}: column {CURRENT!r} is present and current= was also given; "
                            f"drop one of them")
        frame = frame.assign(**{CURRENT: options.current})
    filters = [STEP] if options.steps is not None else []
    if options.time_range is not None or options.resample is not None:
        filters.append(TIME)
    if options.voltage_range is not None:
        filters.append(VOLTAGE)
    if options.drop_rests:
        filters.append(CURRENT)
    missing = [c for c in dict.fromkeys((*required, *filters)) if c not in frame.columns]
    if missing:
        raise DataError(_missing_message(label, missing, list(frame.columns)))

    has_time = TIME in frame.columns
    frame = _numeric(frame, [c for c in dict.fromkeys([*filters, *([TIME] if has_time else [])])], label)
    if options.steps is not None:
        frame = frame[frame[STEP].isin(options.steps)]
    if options.time_range is not None:
        frame = frame[frame[TIME].between(*options.time_range)]
    if options.voltage_range is not None:
        frame = frame[frame[VOLTAGE].between(*options.voltage_range)]
    if options.drop_rests:
        frame = frame[frame[CURRENT].abs() >= options.rest_current]
    if frame.empty:
        how = (f" after filtering (steps={options.steps}, time_range={options.time_range}, "
               f"voltage_range={options.voltage_range}, drop_rests={options.drop_rests})")
        raise DataError(f"{label}: no data rows" + (how if filters else ""))
    frame = _numeric(frame, [c for c in required if c not in (TIME, STEP)], label)
    if has_time:
        # Cyclers log a step's boundary twice (the Samsung HPPC export does): a row equal to the
        # one before it in every column says nothing new.
        frame = frame[~frame.eq(frame.shift()).all(axis=1)]
        time = frame[TIME].to_numpy()
        bad = np.flatnonzero(np.diff(time) <= 0)
        if bad.size:
            i = bad[0] + 1
            raise DataError(f"{label}: column {TIME!r} is not strictly increasing: row {frame.index[i]} "
                            f"has t = {time[i]} after t = {time[i - 1]} ({bad.size} such rows). Select "
                            f"one monotonic segment with steps= or time_range=, or remove repeated rows")
    frame = frame.reset_index(drop=True)
    if has_time:
        frame[TIME] = (frame[TIME].to_numpy() - frame[TIME].iloc[0]).astype(float)
    if CURRENT in frame.columns:
        sign = -1.0 if options.current_sign == "positive_charge" else 1.0
        frame[CURRENT] = sign * pd.to_numeric(frame[CURRENT], errors="coerce").to_numpy(dtype=float)
    if options.resample is not None:
        frame = _resampled(frame, options.resample)
    return frame


def _resampled(frame: pd.DataFrame, step: float) -> pd.DataFrame:
    """``frame`` on times 0, step, 2 step, ... up to its last time: voltage, current and other float
    columns interpolated linearly, integer and other columns (a step number, an event label) held
    from the previous sample."""
    time = frame[TIME].to_numpy()
    grid = np.arange(0.0, time[-1] + step * 1e-9, step)
    previous = np.searchsorted(time, grid, side="right") - 1
    columns = {}
    for name, column in frame.items():
        if name == TIME:
            columns[name] = grid
        elif name in (VOLTAGE, CURRENT) or pd.api.types.is_float_dtype(column):
            columns[name] = np.interp(grid, time, column.to_numpy(dtype=float))
        else:
            columns[name] = column.to_numpy()[previous]
    return pd.DataFrame(columns)


def _numeric(frame: pd.DataFrame, columns: list[str], label: str) -> pd.DataFrame:
    """Convert ``columns`` to numbers, reporting every non-numeric, NaN or infinite column at once."""
    problems = []
    for column in columns:
        if pd.api.types.is_bool_dtype(frame[column]):  # to_numeric keeps booleans as they are
            problems.append(f"column {column!r} holds true/false values, not numbers")
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        text = values.isna() & frame[column].notna()
        infinite = values.astype(float).abs() == np.inf
        if text.any():
            first = frame[column][text].iloc[0]
            comma = " (a decimal comma: read the file with decimal=\",\")" if _DECIMAL_COMMA.fullmatch(str(first)) else ""
            problems.append(f"column {column!r} has {text.sum()} non-numeric value(s), the first "
                            f"{first!r} at row {text.idxmax()}{comma}")
        elif values.isna().any():
            problems.append(f"column {column!r} has {values.isna().sum()} NaN value(s), the first "
                            f"at row {values.isna().idxmax()}")
        elif infinite.any():
            problems.append(f"column {column!r} has {infinite.sum()} infinite value(s), the first "
                            f"at row {infinite.idxmax()}")
        frame = frame.assign(**{column: values})
    if problems:
        raise DataError(f"{label}: " + "; ".join(problems) + ". Fix or drop those rows, exclude "
                        "them with steps= / time_range=, or check sep= and columns=")
    return frame


def _missing_message(label: str, missing: list[str], present: list[str]) -> str:
    hints = [f"map file columns with column_map={{'<file column>': {missing[0]!r}}}"]
    if CURRENT in missing:
        hints.append("give a constant current with current=<A>")
    if all(_is_number(c) for c in present):
        hints.insert(0, "the file seems to have no header row: name its columns with columns=[...]")
    return (f"{label}: missing column(s) {missing}; present columns: {present}. To fix, "
            + ", or ".join(hints))


def _is_number(name: object) -> bool:
    try:
        float(str(name))
    except ValueError:
        return False
    return True


register_source("file", _load_file)
register_source("folder", _load_folder)
