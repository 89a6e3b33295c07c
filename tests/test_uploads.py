"""Reading uploaded files of sentences: .txt and .csv, and every way a file can be wrong."""

from __future__ import annotations

import pytest

from explorer import uploads


def test_txt_upload_one_sentence_per_line():
    result = uploads.parse_upload("notes.txt", b"First line.\n\n  Second line.  \r\nThird.\n")
    assert result.ok and result.sentences == ("First line.", "Second line.", "Third.")
    assert "3 sentences" in result.message


def test_txt_with_bom_is_fine():
    assert uploads.parse_upload("a.txt", "\ufeffHello there.".encode()).sentences == ("Hello there.",)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"  \n\n \t\n", "empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("latin.txt", "Caf\u00e9 au lait.".encode("latin-1"), "UTF-8"),
        ("doc.pdf", b"%PDF-1.4", "Valid types"),
    ],
)
def test_bad_uploads_get_a_clear_message(name, data, expected):
    result = uploads.parse_upload(name, data)
    assert not result.ok and result.sentences == ()
    assert expected in result.message


def test_too_many_sentences_or_bytes_are_refused():
    many = "\n".join(f"Sentence {i}." for i in range(uploads.MAX_UPLOAD_SENTENCES + 1)).encode()
    result = uploads.parse_upload("many.txt", many)
    assert not result.ok and "10,000" in result.message
    exactly = "\n".join(f"Sentence {i}." for i in range(uploads.MAX_UPLOAD_SENTENCES)).encode()
    assert len(uploads.parse_upload("ok.txt", exactly).sentences) == uploads.MAX_UPLOAD_SENTENCES
    huge = b"x" * (uploads.MAX_UPLOAD_BYTES + 1)
    result = uploads.parse_upload("huge.txt", huge)
    assert not result.ok and "MB" in result.message


def test_csv_upload_picks_and_honours_the_text_column():
    data = b'id,review,stars\n1,"Great food, slow service.",4\n2,Loved the view from the terrace.,5\n'
    guessed = uploads.parse_upload("reviews.csv", data)
    assert guessed.ok and guessed.column == "review"
    assert guessed.columns == ("id", "review", "stars")
    assert guessed.sentences == ("Great food, slow service.", "Loved the view from the terrace.")
    chosen = uploads.parse_upload("reviews.csv", data, "stars")
    assert chosen.sentences == ("4", "5")
    missing = uploads.parse_upload("reviews.csv", data, "comment")
    assert not missing.ok and "Valid columns" in missing.message and missing.columns


def test_csv_semicolons_and_header_only():
    assert uploads.parse_upload("x.csv", b"text;topic\nHello world.;greeting\n", "text").sentences == (
        "Hello world.",
    )
    header_only = uploads.parse_upload("x.csv", b"text,topic\n")
    assert not header_only.ok and "no rows" in header_only.message


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        ("long.txt", b"Short one.\n" + b"word " * 5_000 + b"\nAnother.\n", "the file"),
        (
            "long.csv",
            b"id,text\n1,Short one.\n2," + b"word " * 3_000_000 + b"\n3,Another.\n",
            "column 'text'",
        ),
    ],
)
def test_a_cell_over_the_length_limit_is_cut_and_said(name, data, where):
    """One 15 MB CSV cell (or a 25,000-character line) is read up to the limit, and the message says so."""
    from explorer.inputs import MAX_CHARS_PER_SENTENCE

    result = uploads.parse_upload(name, data)
    assert result.ok and [len(s) for s in result.sentences] == [10, MAX_CHARS_PER_SENTENCE, 8]
    assert result.message.startswith(f"Read 3 sentences from {where}.")
    assert "S2: over 20,000 characters, so only the first ones are read" in result.message
    assert (
        uploads.parse_upload("short.txt", b"Short one.\nAnother.\n").message
        == "Read 2 sentences from the file."
    )


def _wide_csv(n_columns: int, n_rows: int = 3) -> bytes:
    header = ",".join(["id", "review", *(f"extra{i}" for i in range(n_columns - 2))])
    filler = ",".join("x" * (n_columns - 2))
    rows = [f"{r},Review number {r} says the soup was cold.,{filler}" for r in range(n_rows)]
    return (header + "\n" + "\n".join(rows) + "\n").encode()


def test_a_very_wide_csv_is_cut_to_the_column_limit_and_says_so():
    """A 100,000-column CSV (17 CPU-s read whole) offers only the first columns, and the message says the limit."""
    limit = uploads.MAX_CSV_COLUMNS
    result = uploads.parse_upload("wide.csv", _wide_csv(100_000))
    assert result.ok and result.column == "review" and len(result.sentences) == 3
    assert result.columns == ("id", "review", *(f"extra{i}" for i in range(limit - 2)))
    assert f"The CSV has 100,000 columns; only the first {limit} are read and offered" in result.message
    beyond = uploads.parse_upload("wide.csv", _wide_csv(100_000), "extra50000")
    assert not beyond.ok and len(beyond.columns) == limit
    assert f"only the first {limit} are read" in beyond.message and "extra50000" in beyond.message


def test_a_csv_at_the_column_limit_is_read_whole_without_a_notice():
    limit = uploads.MAX_CSV_COLUMNS
    result = uploads.parse_upload("edge.csv", _wide_csv(limit))
    assert result.ok and len(result.columns) == limit
    assert result.message == "Read 3 sentences from column 'review'."
    over = uploads.parse_upload("edge.csv", _wide_csv(limit + 1))
    assert len(over.columns) == limit and f"has {limit + 1} columns" in over.message


# ---------------------------------------------------------------- charts
