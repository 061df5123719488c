"""Loading saved embeddings and labels for the command line.

Every error is a :class:`CLIError` whose one-line message starts with the
file's name. Formats:

- ``.npy`` (``-`` reads one from standard input) and ``.npz`` (``--key``
  names the array): the header's shape is checked against the file's size
  before anything is allocated, and pickled objects are never loaded.
- ``.csv`` / ``.tsv`` / ``.txt``: UTF-8 (a BOM is dropped; UTF-16 with a BOM
  is read too), the separator sniffed among ``,`` ``;`` tab and whitespace,
  quoted fields, ``#`` comment lines. The first line is a header when a
  field of it is empty or not a number, or when its fields are the column
  numbers ``0 .. k-1`` that ``pandas.DataFrame(X).to_csv()`` writes above
  non-integer data. Read with pandas when it is installed, else with
  Python's :mod:`csv` module (same rules, slower on large files).
- ``.parquet`` (pandas with pyarrow or fastparquet).
- ``.pt`` / ``.pth``: ``torch.load(weights_only=True, map_location="cpu")``,
  a tensor or a dict of tensors (``--key``); never arbitrary pickles.

A table's leading row-index column (unnamed, as pandas' ``to_csv()`` and R's
``write.csv`` write it, an R ``write.table`` header one field short, or
values ``0 .. N-1`` / ``1 .. N``) is dropped with a note on standard error
unless ``columns`` chooses the features.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

#: Lines the separator sniffer looks at.
SNIFF_LINES = 50

#: Shown for ``-``.
STDIN_NAME = "standard input"


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _note(message: str) -> None:
    print(f"skdse: note: {message}", file=sys.stderr)


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------- .npy


def _read_npy(fh, size: int, name: str) -> np.ndarray:
    """The array of the ``.npy`` stream ``fh`` of ``size`` bytes, its header checked first."""
    try:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(fh)
        else:
            shape, fortran, dtype = npy_format._read_array_header(fh, version)
    except (ValueError, EOFError) as exc:
        if size == 0:
            raise CLIError(f"{name}: empty (0 bytes), not a .npy array") from None
        raise CLIError(f"{name}: not a .npy array ({first_line(exc)})") from None
    if dtype.hasobject:
        raise CLIError(f"{name}: holds Python objects; skdse reads numeric arrays only")
    needed = math.prod(int(d) for d in shape) * dtype.itemsize
    available = size - fh.tell()
    if needed > available:
        raise CLIError(
            f"{name}: truncated or corrupt .npy: its header declares a {tuple(shape)} "
            f"{dtype} array ({needed} bytes) but the file holds {available} bytes of data"
        )
    fh.seek(0)
    try:
        return npy_format.read_array(fh, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise CLIError(f"{name}: cannot read the .npy array ({first_line(exc)})") from None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@functools.cache
def read_stdin_npy() -> np.ndarray:
    """A ``.npy`` array written to standard input (the file name ``-``), read once."""
    if sys.stdin is None or sys.stdin.isatty():
        raise CLIError(f"{STDIN_NAME}: is a terminal; pipe a .npy into it (- reads .npy only)")
    data = sys.stdin.buffer.read()
    return _read_npy(io.BytesIO(data), len(data), STDIN_NAME)


def _choose_key(name: str, keys: list, key, what: str = "arrays"):
    if key is None:
        if len(keys) != 1:
            raise CLIError(f"{name}: holds {what} {keys}; choose one with --key")
        return keys[0]
    if key not in keys:
        raise CLIError(f"{name}: no array {key!r} (it holds {keys})")
    return key


def _read_npz(path: Path, key) -> np.ndarray:
    try:
        with zipfile.ZipFile(path) as zf:
            members = {
                i.filename[: -len(".npy")]: i for i in zf.infolist() if i.filename.endswith(".npy")
            }
            key = _choose_key(str(path), list(members), key)
            info = members[key]
            with zf.open(info) as fh:
                return _read_npy(fh, info.file_size, f"{path} [{key}]")
    except zipfile.BadZipFile as exc:
        raise CLIError(f"{path}: not a .npz archive ({first_line(exc)})") from None


# ------------------------------------------------------------------- tables


def _decode(path: Path, raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # legacy spreadsheet exports; numbers are ASCII


def _content_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _split(line: str, sep: str | None) -> list[str]:
    """Fields of one line; ``sep=None`` splits on runs of whitespace."""
    if sep is None:
        line = line.strip().replace("\t", " ")
        sep = " "
    return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])


def sniff_separator(lines: Sequence[str], suffix: str) -> str | None:
    """The separator of a text table: ``","``, ``";"``, tab, or None (whitespace).

    The first of ``;`` (spreadsheets with a decimal comma), tab and ``,``
    that splits every sampled line into the same number (> 1) of fields;
    whitespace when none does. ``.tsv`` files are tab separated.
    """
    if suffix == ".tsv":
        return "\t"
    sample = lines[:SNIFF_LINES]
    for sep in (";", "\t", ","):
        counts = {len(_split(ln, sep)) for ln in sample}
        if len(counts) == 1 and counts.pop() > 1:
            return sep
    return None


def _is_header(first: list[str], second: list[str] | None) -> bool:
    fields = [f.strip() for f in first]
    if any(not f or not _is_number(f) for f in fields):
        return True
    # pandas.DataFrame(X).to_csv(index=False) writes the column numbers 0..k-1
    numbered = [str(i) for i in range(len(fields))] == fields
    data_is_integer = second is not None and all(f.strip().lstrip("+-").isdigit() for f in second)
    return numbered and not data_is_integer


def _numeric(values: np.ndarray, decimal_comma: bool) -> np.ndarray | None:
    """A column as float64, or None when it is not numeric."""
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    strings = np.char.strip(values.astype(str))
    if decimal_comma:
        strings = np.char.replace(strings, ",", ".")
    try:
        return strings.astype(np.float64)
    except ValueError:
        return None


class Table:
    """Columns of a table with their names (None for a bare array)."""

    def __init__(self, name: str, columns: list[np.ndarray], names=None, decimal_comma=False):
        self.name = name
        self.columns = columns
        self.names = None if names is None else ["" if n is None else str(n) for n in names]
        self.decimal_comma = decimal_comma

    @classmethod
    def from_array(cls, name: str, X: np.ndarray) -> Table:
        X = np.asarray(X)
        return cls(name, [X[:, j] for j in range(X.shape[1])])

    def label(self, j: int) -> str:
        if self.names is None or not self.names[j]:
            return f"column {j}"
        return f"column {self.names[j]!r} (position {j})"

    def numeric(self, j: int) -> np.ndarray | None:
        return _numeric(self.columns[j], self.decimal_comma)

    def looks_like_index(self, j: int) -> str | None:
        """Why column ``j`` is a row index, or None."""
        if self.names is not None and self.names[j] in ("", "Unnamed: 0"):
            return "it has no name"
        values = self.numeric(j)
        n = len(self.columns[j])
        if values is None or n < 2:
            return None
        if np.array_equal(values, np.arange(n)):
            return f"its values are 0..{n - 1}"
        if np.array_equal(values, np.arange(1, n + 1)):
            return f"its values are 1..{n} (R's row names)"
        return None

    def position(self, spec: str) -> int:
        if self.names is not None and spec in self.names:
            return self.names.index(spec)
        k = len(self.columns)
        if spec.lstrip("-").isdigit():
            j = int(spec)
            if not -k <= j < k:
                raise CLIError(f"{self.name}: no column {j} (it has {k} columns: 0..{k - 1})")
            return j % k
        known = "" if self.names is None else f" (its columns: {self.names})"
        raise CLIError(f"{self.name}: no column named {spec!r}{known}")

    def select(self, columns=None, drop_columns=None, *, detect_index=True) -> list[int]:
        """Positions of the feature columns (see the module's docstring)."""
        if columns:
            keep = [self.position(c) for c in columns]
            if len(set(keep)) != len(keep):
                raise CLIError(f"{self.name}: --columns names a column twice")
            return keep
        dropped = {self.position(c) for c in drop_columns or ()}
        keep = [j for j in range(len(self.columns)) if j not in dropped]
        if detect_index and len(keep) > 1 and keep[0] == 0:
            reason = self.looks_like_index(0)
            if reason is not None:
                _note(
                    f"{self.name}: dropped {self.label(0)} as a row index ({reason}); "
                    "choose the features with --columns to keep it"
                )
                keep = keep[1:]
        if not keep:
            raise CLIError(f"{self.name}: no columns left after --drop-columns")
        return keep

    def to_array(self, keep: list[int]) -> np.ndarray:
        out = []
        for j in keep:
            values = self.numeric(j)
            if values is None:
                first = next((v for v in self.columns[j] if not _is_number(str(v).strip())), "?")
                raise CLIError(
                    f"{self.name}: {self.label(j)} is not numeric (holds {str(first)!r}); "
                    "choose the features with --columns or --drop-columns"
                )
            out.append(values)
        return np.column_stack(out) if out else np.empty((len(self.columns[0]), 0))


def _frame_table(name: str, frame, decimal_comma=False) -> Table:
    return Table(
        name,
        [frame.iloc[:, j].to_numpy() for j in range(frame.shape[1])],
        [str(c) for c in frame.columns],
        decimal_comma,
    )


def _pandas():
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def read_text_table(path: Path, *, header: bool | None = None, use_pandas=True) -> Table:
    """A delimited text file as a :class:`Table` (``header=None``: detect it)."""
    name = str(path)
    lines = _content_lines(_decode(path, path.read_bytes()))
    if not lines:
        raise CLIError(f"{name}: no data rows")
    sep = sniff_separator(lines, path.suffix.lower())
    if sep is None:  # no separator splits the lines evenly: ragged rows, not one column
        for cand in (";", "\t", ","):
            counts = [len(_split(ln, cand)) for ln in lines[:SNIFF_LINES]]
            if min(counts) > 1:
                raise CLIError(
                    f"{name}: rows have different numbers of {cand!r}-separated fields "
                    f"({min(counts)} to {max(counts)})"
                )
    first = _split(lines[0], sep)
    second = _split(lines[1], sep) if len(lines) > 1 else None
    if header is None:
        header = _is_header(first, second)
    body = lines[int(header) :]
    if not body:
        raise CLIError(f"{name}: a header line and no data rows")
    width = len(_split(body[0], sep))
    names = None
    if header:
        names = [f.strip() for f in first]
        if len(names) == width - 1:  # R's write.table: no header field above the row names
            names = ["", *names]
        if len(names) != width:
            raise CLIError(
                f"{name}: the header has {len(names)} fields and the first data row {width}"
            )
    decimal_comma = sep == ";" and any("," in f and "." not in f for f in _split(body[0], sep))
    pandas = _pandas() if use_pandas else None
    if pandas is not None:
        try:
            frame = pandas.read_csv(
                io.StringIO("\n".join(body)),
                sep=r"\s+" if sep is None else sep,
                header=None,
                skipinitialspace=True,
                decimal="," if decimal_comma else ".",
            )
        except (ValueError, pandas.errors.ParserError) as exc:
            raise CLIError(f"{name}: not a table ({first_line(exc)})") from None
        if frame.shape[1] != width:
            raise CLIError(f"{name}: rows have different numbers of fields")
        frame.columns = names if names is not None else range(width)
        table = _frame_table(name, frame)
        table.names = names
        return table
    rows = [_split(ln, sep) for ln in body]
    for i, row in enumerate(rows):
        if len(row) != width:
            raise CLIError(f"{name}: data row {i + 1} has {len(row)} fields, the first has {width}")
    cells = np.array(rows, dtype=str).reshape(len(rows), width)
    return Table(name, [cells[:, j] for j in range(width)], names, decimal_comma)


def _read_parquet(path: Path) -> Table:
    pandas = _pandas()
    if pandas is None:
        raise CLIError(
            f"{path}: reading .parquet needs pandas and pyarrow: pip install 'skdse[cli]'"
        )
    engine = None
    for module in ("pyarrow", "fastparquet"):
        try:
            __import__(module)
        except ImportError:
            continue
        engine = module
        break
    if engine is None:
        raise CLIError(f"{path}: reading .parquet needs pyarrow: pip install pyarrow")
    try:
        frame = pandas.read_parquet(path, engine=engine)
    except Exception as exc:  # the engine's own error types
        raise CLIError(f"{path}: not a parquet table ({first_line(exc)})") from None
    return _frame_table(str(path), frame)


# ------------------------------------------------------------------ PyTorch


def _tensor_array(name: str, value) -> np.ndarray:
    import torch

    if not isinstance(value, torch.Tensor):
        raise CLIError(f"{name}: holds a {type(value).__name__}, not a tensor")
    value = value.detach().cpu()
    if value.is_complex():
        raise CLIError(f"{name}: holds a complex tensor")
    if value.is_floating_point() and value.dtype not in (torch.float32, torch.float64):
        value = value.to(torch.float32)  # float16/bfloat16/float8: numpy lacks some
    return value.numpy()


def _read_torch(path: Path, key) -> np.ndarray:
    try:
        import torch
    except ImportError:
        raise CLIError(f"{path}: reading .pt needs PyTorch: pip install torch") from None
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ...
        raise CLIError(
            f"{path}: not a tensor file that loads with weights_only=True "
            f"({type(exc).__name__}; skdse never unpickles arbitrary objects)"
        ) from None
    if isinstance(obj, Mapping):
        keys = list(obj)
        chosen = _choose_key(str(path), keys, key, "tensors")
        return _tensor_array(f"{path} [{chosen}]", obj[chosen])
    return _tensor_array(str(path), obj)  # --key names tensors of dicts, as arrays of .npz


# ------------------------------------------------------------------- public

FORMATS = ".npy, .npz, .csv, .tsv, .txt, .parquet, .pt or .pth"
_TEXT = (".csv", ".tsv", ".txt")


def check_readable(path) -> None:
    """Fail early, naming the file, when ``path`` is missing or of an unknown format."""
    if str(path) == "-":
        return
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz", ".parquet", ".pt", ".pth", *_TEXT):
        raise CLIError(f"{path}: unknown format {suffix!r}; use {FORMATS}")


def load_array(path, key=None, *, columns=None, drop_columns=None) -> np.ndarray:
    """Load an embedding (or reference) matrix; ``-`` reads a ``.npy`` from standard input.

    ``columns`` / ``drop_columns`` (names or 0-based positions, as strings)
    choose the features of a 2-D result; see the module's docstring.
    """
    if str(path) == "-":
        X = read_stdin_npy()
        return _select_array(STDIN_NAME, X, columns, drop_columns)
    check_readable(path)
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in _TEXT or suffix == ".parquet":
            table = read_text_table(path) if suffix in _TEXT else _read_parquet(path)
            return table.to_array(table.select(columns, drop_columns))
        if suffix == ".npy":
            with open(path, "rb") as fh:
                X = _read_npy(fh, path.stat().st_size, str(path))
        elif suffix == ".npz":
            X = _read_npz(path, key)
        else:
            X = _read_torch(path, key)
    except OSError as exc:
        raise CLIError(f"{path}: cannot read ({first_line(exc)})") from None
    return _select_array(str(path), X, columns, drop_columns)


def _select_array(name: str, X: np.ndarray, columns, drop_columns) -> np.ndarray:
    if not columns and not drop_columns:
        return X
    if X.ndim != 2:
        raise CLIError(f"{name}: --columns/--drop-columns need a 2D array, not shape {X.shape}")
    table = Table.from_array(name, X)
    return X[:, table.select(columns, drop_columns, detect_index=False)]


def _as_labels(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "OUS" and all(_is_number(str(v)) for v in values):
        values = values.astype(str).astype(float)
    if values.dtype.kind == "f" and np.all(values == np.round(values)):
        values = values.astype(int)
    return values


def load_labels(path, n_samples: int, key=None) -> np.ndarray:
    """Labels, one per sample.

    From ``.npy``/``.npz``/``.pt``; a ``.csv``/``.tsv`` table (a header line
    when the file has one line more than the embeddings; a leading row-index
    column is dropped; one column must remain); or any other text file of one
    label per line (surrounding double quotes removed).
    """
    name = str(path)
    if name != "-":
        check_readable(path)
    path = Path(path)
    suffix = path.suffix.lower()
    if name == "-" or suffix in (".npy", ".npz", ".pt", ".pth", ".parquet"):
        labels = load_array(path, key)
    else:
        text = [ln for ln in _decode(path, path.read_bytes()).splitlines() if ln.strip()]
        header = len(text) == n_samples + 1
        if suffix in (".csv", ".tsv"):
            table = read_text_table(path, header=header)
            keep = table.select()
            if len(keep) != 1:
                raise CLIError(
                    f"{path}: holds {len(keep)} columns; a labels file needs one label per row"
                )
            labels = np.asarray(table.columns[keep[0]])
        else:
            lines = [ln.strip() for ln in text[int(header) :]]
            labels = np.array(
                [ln[1:-1] if len(ln) > 1 and ln[0] == ln[-1] == '"' else ln for ln in lines]
            )
        labels = _as_labels(labels)
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim == 0 or labels.shape[0] != n_samples:
        got = labels.shape[0] if labels.ndim else 0
        raise CLIError(f"{path}: {got} labels for {n_samples} embedding rows; they must match")
    return labels
