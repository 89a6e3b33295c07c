"""Reading an uploaded file of sentences: a .txt (one per line) or a .csv (one text column).

Never raises: every problem (type, size, encoding, binary data, a missing column, too many rows) comes
back as a message that says what to do.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from explorer.inputs import parse_sentences, shorten

MAX_UPLOAD_SENTENCES = 10_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # matches server.maxUploadSize in .streamlit/config.toml
MAX_CSV_COLUMNS = 200  # read and offered; a 100,000-column file cost 17 CPU-s to read whole
UPLOAD_TYPES = ("txt", "csv")


@dataclass(frozen=True)
class UploadResult:
    """What came out of a file: sentences (empty on failure), a message for the user, CSV columns."""

    sentences: tuple[str, ...]
    message: str
    ok: bool
    columns: tuple[str, ...] = field(default_factory=tuple)
    column: str | None = None


def _fail(message: str, columns: Sequence[str] = ()) -> UploadResult:
    return UploadResult((), message, False, tuple(columns))


def parse_upload(
    name: str, data: bytes, text_column: str | None = None, max_sentences: int = MAX_UPLOAD_SENTENCES
) -> UploadResult:
    """Sentences from an uploaded .txt (one per line) or .csv (one column). Never raises; says what's wrong."""
    kind = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if kind not in UPLOAD_TYPES:
        return _fail(f"'{shorten(name, 60)}' is not a .txt or .csv file. Valid types: {list(UPLOAD_TYPES)}")
    if len(data) > MAX_UPLOAD_BYTES:
        return _fail(
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB. "
            "Upload a smaller part of it."
        )
    if not data.strip():
        return _fail("The file is empty. Put one sentence per line (.txt) or a text column (.csv).")
    if b"\x00" in data[:65536]:
        return _fail(
            "This looks like a binary file, not text. Save it as plain UTF-8 text (.txt or .csv) and upload again."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _fail(
            f"The file is not UTF-8 text (byte {exc.start} cannot be read). Save it with UTF-8 encoding "
            "(in most editors: Save as → Encoding: UTF-8) and upload again."
        )
    if kind == "csv":
        return _parse_csv(text, text_column, max_sentences)
    return _from_lines(text.splitlines(), max_sentences, None, ())


def _parse_csv(text: str, text_column: str | None, max_sentences: int) -> UploadResult:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        separator = dialect.delimiter
    except csv.Error:
        separator = ","
    width = _header_width(text, separator)
    usecols = range(MAX_CSV_COLUMNS) if width > MAX_CSV_COLUMNS else None
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=separator, dtype=str, keep_default_na=False, usecols=usecols
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        return _fail(f"Could not read the CSV: {str(exc).splitlines()[0][:200]}. Check it has a header row.")
    columns = tuple(str(c) for c in frame.columns)
    cut = (
        f"The CSV has {width:,} columns; only the first {MAX_CSV_COLUMNS:,} are read and offered (the limit). "
        f"If the text is in a later column, save a copy with it among the first {MAX_CSV_COLUMNS:,}."
        if usecols is not None
        else ""
    )
    if frame.empty or not columns:
        return _fail(" ".join(filter(None, ("The CSV has a header but no rows.", cut))), columns)
    if text_column is None:
        text_column = max(columns, key=lambda c: frame[c].str.len().mean())  # the wordiest column
    if text_column not in columns:
        valid = f"Valid columns: {list(columns)}"
        return _fail(" ".join(filter(None, (f"No column '{text_column}' in the CSV.", cut, valid))), columns)
    cells = [" ".join(str(v).split()) for v in frame[text_column]]
    return _from_lines(cells, max_sentences, text_column, columns, cut)


def _header_width(text: str, separator: str) -> int:
    """How many fields the header row has, read alone (cheap) before pandas reads the whole file."""
    try:
        return len(next(csv.reader(io.StringIO(text), delimiter=separator), []))
    except csv.Error:  # e.g. a header field over the csv module's size limit: pandas will say what's wrong
        return 0


def _from_lines(
    lines: Sequence[str],
    max_sentences: int,
    column: str | None,
    columns: tuple[str, ...],
    notice: str = "",
) -> UploadResult:
    parsed = parse_sentences("\n".join(lines), max_sentences=max_sentences)
    where = f"column '{column}'" if column else "the file"
    if parsed.error:
        return _fail(
            " ".join(filter(None, (f"No sentences found in {where}: every line is blank.", notice))), columns
        )
    if parsed.n_lines > max_sentences:
        return _fail(
            f"{where.capitalize()} has {parsed.n_lines:,} sentences; the limit is {max_sentences:,}. "
            "Split it into smaller files and upload them one at a time." + (f" {notice}" if notice else ""),
            columns,
        )
    # What parse_sentences cut short (a sentence over its length limit) is said, as it is for typed text.
    read = f"Read {len(parsed.sentences):,} sentences from {where}."
    message = " ".join(filter(None, (read, notice, *parsed.notices)))
    return UploadResult(parsed.sentences, message, True, columns, column)
