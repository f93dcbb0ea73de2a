"""Text extraction for file_search: each supported kind yields its text, hostile input fails
with the right last_error code, and nothing else escapes."""
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import documents as docs
from workers.ingest import extract
from workers.ingest.extract import Extracted, IngestError, extract_text

S0, S1, S2 = docs.SENTENCES

FORMATS: list[tuple[str, Callable[[], bytes], str, list[str], list[str]]] = [
    ("report.docx", docs.docx_bytes, "docx",
     [S0, S1, S2, "Quarterly report", "Ada | Engineer"], []),
    ("deck.pptx", docs.pptx_bytes, "pptx",
     [S0, S1, "Roadmap", "Slide 2", "Notes: Speaker notes mention the retrieval budget."], []),
    ("budget.xlsx", docs.xlsx_bytes, "xlsx",
     ["Sheet: Budget", "Item | Cost", "Embeddings | 120", "Storage | 35.5", S2], []),
    ("paper.pdf", docs.pdf_bytes, "pdf", [S0, S1, S2], []),
    ("notes.html", docs.html_bytes, "html",
     [S0, S2, "Release notes", f"{S1} Bold words stay inline.", "Limit | Value", "Chunk | 800"],
     ["leaked", "script text", "color: red", "a comment", "<p>"]),
    ("data.json", docs.json_bytes, "json",
     [f"title: {S0}", "owner.name: Ada", "owner.teams[1]: ingest", "limits.strict: true",
      "limits.note: null", f'["odd key"]: {S1}'], []),
    ("table.csv", docs.csv_bytes, "csv", ["id,name,comment", f'1,Ada,"{S0}"'], ["\r"]),
    ("guide.md", docs.markdown_bytes, "markdown", ["# Guide", S0, f"- {S1}"], []),
    ("greet.py", docs.python_bytes, "code", ["def greet():", S2], []),
]


@pytest.mark.parametrize(
    ("filename", "build", "kind", "present", "absent"), FORMATS, ids=[f[0] for f in FORMATS]
)
def test_each_format_yields_its_text(
    filename: str, build: Callable[[], bytes], kind: str, present: list[str], absent: list[str]
) -> None:
    result = extract_text(build(), filename)
    assert isinstance(result, Extracted)
    assert result.kind == kind
    for text in present:
        assert text in result.text, (text, result.text)
    for text in absent:
        assert text not in result.text, (text, result.text)


def test_reads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "paper.pdf"
    path.write_bytes(docs.pdf_bytes())
    assert S1 in extract_text(path, "paper.pdf").text
    assert S1 in extract_text(str(path), "paper.pdf").text


def test_content_decides_over_the_extension() -> None:
    assert extract_text(docs.pdf_bytes(), "paper.txt").kind == "pdf"
    assert extract_text(docs.docx_bytes(), "upload.bin").kind == "docx"
    assert extract_text(docs.xlsx_bytes(), "sheet").kind == "xlsx"
    assert extract_text(docs.pptx_bytes(), "slides.docx").kind == "pptx"


def test_sniffs_kind_of_text_without_an_extension() -> None:
    assert extract_text(docs.json_bytes(), "data").kind == "json"
    assert extract_text(docs.html_bytes(), "page").kind == "html"
    assert extract_text(b"just some words\n", "README").kind == "text"
    assert extract_text(b"FROM python:3.11\n", "Dockerfile").kind == "code"


def test_text_mentioning_a_pdf_header_stays_text() -> None:
    result = extract_text(b"A PDF starts with %PDF-1.7 and ends with %%EOF.\n", "notes.txt")
    assert result.kind == "text"


def test_text_encodings() -> None:
    latin = (
        "Le café est très naïf, déjà vu à Noël. Ça coûte vingt-cinq euros.\n"
        "Où est la bibliothèque ? L'hôpital ferme à vingt heures.\n"
        "Les élèves étudient les leçons de géographie et d'économie.\n"
    ) * 20
    assert extract_text(latin.encode("cp1252"), "fr.txt").text == latin.strip()
    assert extract_text(latin.encode("utf-16"), "fr.txt").text == latin.strip()
    polish = "Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig.\n" * 20
    assert extract_text(polish.encode("cp1250"), "pl.txt").text == polish.strip()
    russian = "Съешь же ещё этих мягких французских булок, да выпей чаю.\n" * 20
    assert extract_text(russian.encode("cp1251"), "ru.txt").text == russian.strip()
    assert extract_text(b"\xef\xbb\xbf" + latin.encode(), "fr.txt").text == latin.strip()
    # Cut inside the last character: kept, the broken character replaced.
    cut = "naïve café 東京".encode()[:-1]
    assert extract_text(cut, "t.txt").text.startswith("naïve café 東")


def test_line_endings_and_control_characters_are_normalised() -> None:
    result = extract_text(b"one\r\ntwo\rthree\x0cfour\x07\x1bfive\n\n", "t.txt")
    assert result.text == "one\ntwo\nthree\nfourfive"


def test_big_and_deeply_nested_html() -> None:
    # Linear in the page: 20,000 sibling blocks, and nesting deeper than Python's stack.
    wide = "<html><body>" + "<p>para <b>bold</b></p>" * 20_000 + "</body></html>"
    assert extract_text(wide.encode(), "wide.html").text.count("para bold") == 20_000
    deep = "<div>" * 50_000 + "deep text" + "</div>" * 50_000
    assert "deep text" in extract_text(deep.encode(), "deep.html").text


def test_invalid_json_is_kept_as_text() -> None:
    lines = b'{"a": 1}\n{"a": 2}\n'
    assert extract_text(lines, "events.json").text == lines.decode().strip()
    deep = b"[" * 100_000 + b"]" * 100_000
    assert extract_text(deep, "deep.json").kind == "json"


def test_five_megabyte_text_completes() -> None:
    text = docs.text_of_size(5 * 1024 * 1024)
    result = extract_text(text.encode(), "big.txt")
    assert result.kind == "text"
    assert result.text == text.strip()


# --- hostile input ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    return docs.zip_bomb_docx()  # 256 MB of zeros in a 1.2 MB docx


def _fails(data: bytes, filename: str, code: str) -> str:
    with pytest.raises(IngestError) as caught:
        extract_text(data, filename)
    assert caught.value.code == code, caught.value
    assert caught.value.message
    return caught.value.message


HOSTILE: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("corrupt.pdf", docs.corrupt_pdf, "invalid_file", "PDF"),
    ("half.pdf", lambda: docs.truncated(docs.pdf_bytes()), "invalid_file", "PDF"),
    ("scan.pdf", docs.pdf_without_text, "invalid_file", "No text"),
    ("empty.txt", lambda: b"", "invalid_file", "empty"),
    ("empty", lambda: b"", "invalid_file", "empty"),
    ("blank.md", lambda: b" \n\t\r\n  ", "invalid_file", "No text"),
    ("photo.png", docs.png_bytes, "unsupported_file", "PNG"),
    ("photo", docs.png_bytes, "unsupported_file", "PNG"),
    ("photo.jpg", lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100),
     "unsupported_file", "JPEG"),
    ("archive.zip", docs.zip_bytes, "unsupported_file", "zip"),
    ("program", docs.elf_bytes, "unsupported_file", "ELF"),
    ("setup.exe", lambda: b"MZ\x90\x00\x03" + bytes(200), "unsupported_file", "Windows"),
    ("noise", lambda: random.Random(1).randbytes(4096), "unsupported_file", "binary"),
    ("legacy.doc", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "unsupported_file",
     "legacy Office"),
    ("clip.mp3", lambda: b"plain words", "unsupported_file", ".mp3"),
    ("broken.docx", lambda: docs.truncated(docs.docx_bytes()), "invalid_file", "DOCX"),
    ("broken.xlsx", lambda: docs.truncated(docs.xlsx_bytes(), 0.8), "invalid_file", "XLSX"),
    ("broken.pptx", lambda: docs.truncated(docs.pptx_bytes(), 0.9), "invalid_file", "PPTX"),
    ("other.docx", docs.zip_bytes, "invalid_file", "not a valid DOCX"),
    ("fake.docx", lambda: b"this is not a word document", "invalid_file", "not a valid DOCX"),
    ("fake.pdf", lambda: b"this is not a pdf", "invalid_file", "not a valid PDF"),
]


@pytest.mark.parametrize(
    ("filename", "build", "code", "says"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
def test_hostile_input_fails_with_a_clear_error(
    filename: str, build: Callable[[], bytes], code: str, says: str
) -> None:
    assert says.lower() in _fails(build(), filename, code).lower()


def test_zip_bomb_docx_is_refused_before_inflating(zip_bomb: bytes) -> None:
    assert len(zip_bomb) < 2 * 1024 * 1024
    message = _fails(zip_bomb, "bomb.docx", "invalid_file")
    assert "zip bomb" in message
    # Named as something else, it is still looked into and refused.
    _fails(zip_bomb, "upload", "invalid_file")


def test_zip_bomb_caught_by_compression_ratio_under_the_size_cap() -> None:
    bomb = docs.zip_bomb_docx(16 * 1024 * 1024)
    message = _fails(bomb, "bomb.docx", "invalid_file")
    assert "inflates" in message and "times" in message


def test_too_many_zip_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "MAX_ZIP_ENTRIES", 5)
    assert "entries" in _fails(docs.docx_bytes(), "report.docx", "invalid_file")


def test_extracted_text_is_capped() -> None:
    with pytest.raises(IngestError) as caught:
        extract_text(b"word " * 1000, "t.txt", max_chars=1000)
    assert caught.value.code == "invalid_file"
    assert "1,000 characters" in caught.value.message
    with pytest.raises(IngestError, match="characters"):
        extract_text(docs.docx_bytes(), "report.docx", max_chars=50)
    with pytest.raises(IngestError, match="characters"):
        extract_text(docs.pdf_bytes(), "paper.pdf", max_chars=50)


def test_sheet_cell_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "MAX_SHEET_CELLS", 4)
    assert "cells" in _fails(docs.xlsx_bytes(), "budget.xlsx", "invalid_file")


@pytest.mark.parametrize("filename", ["paper.pdf", "report.docx", "deck.pptx", "budget.xlsx"])
def test_damaged_documents_never_raise_anything_but_ingest_error(filename: str) -> None:
    builders: dict[str, Callable[[], bytes]] = {
        "paper.pdf": docs.pdf_bytes,
        "report.docx": docs.docx_bytes,
        "deck.pptx": docs.pptx_bytes,
        "budget.xlsx": docs.xlsx_bytes,
    }
    build = builders[filename]
    original = build()
    rng = random.Random(filename)
    for attempt in range(25):
        data = bytearray(original)
        if attempt % 2:
            data = data[: rng.randrange(1, len(data))]
        else:
            for _ in range(rng.randint(1, 40)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            extract_text(bytes(data), filename)
        except IngestError as exc:
            assert exc.code in ("invalid_file", "unsupported_file")


def test_importing_is_cheap() -> None:
    heavy = ["pypdf", "docx", "pptx", "openpyxl", "bs4", "lxml", "charset_normalizer", "bpe_openai"]
    code = (
        "import sys, workers.ingest.extract, workers.ingest.chunking;"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[4],
    )
    assert out.stdout.strip() == "[]"
