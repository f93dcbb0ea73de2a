"""Real sample documents, built in memory, for the ingest tests.

Each builder returns the bytes of a file that the matching application would open: docx,
pptx and xlsx through python-docx, python-pptx and openpyxl; a PDF written by hand (pypdf
cannot write text, and a minimal valid PDF with a Helvetica text object is short); html, json
and csv as text. Hostile samples: a zip-bomb docx, a truncated PDF, a PNG, a zip, an ELF
header, an empty file.
"""
from __future__ import annotations

import io
import json
import random
import struct
import zipfile
import zlib
from collections.abc import Sequence

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Treadle keeps every vector store file in its own project.",
    "Chunks overlap so that no sentence is lost at a boundary.",
]


def docx_bytes(
    paragraphs: Sequence[str] = SENTENCES,
    table: Sequence[Sequence[str]] | None = (("Name", "Role"), ("Ada", "Engineer")),
    heading: str | None = "Quarterly report",
) -> bytes:
    import docx

    document = docx.Document()
    if heading:
        document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_bytes(
    slides: Sequence[tuple[str, str]] = (
        ("Roadmap", SENTENCES[0]),
        ("Storage", SENTENCES[1]),
    ),
    notes: str | None = "Speaker notes mention the retrieval budget.",
) -> bytes:
    from pptx import Presentation

    presentation = Presentation()
    layout = presentation.slide_layouts[1]  # title and content
    for title, body in slides:
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def xlsx_bytes(
    sheets: dict[str, Sequence[Sequence[object]]] | None = None,
) -> bytes:
    import openpyxl

    if sheets is None:
        sheets = {
            "Budget": [("Item", "Cost"), ("Embeddings", 120), ("Storage", 35.5)],
            "Notes": [(SENTENCES[2],)],
        }
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def pdf_bytes(pages: Sequence[Sequence[str]] = (SENTENCES[:2], SENTENCES[2:])) -> bytes:
    """A minimal valid PDF: one Helvetica text object per page, one line per string."""
    page_count = len(pages)
    # Objects: 1 catalog, 2 pages, 3 font, then a page and its content stream per page.
    page_ids = [4 + 2 * i for i in range(page_count)]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % i for i in page_ids)
        + b"] /Count %d >>" % page_count,
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica"
        b" /Encoding /WinAnsiEncoding >>",
    }
    for page_id, lines in zip(page_ids, pages, strict=True):
        ops = [b"BT", b"/F1 12 Tf", b"14 TL", b"72 720 Td"]
        for line in lines:
            ops += [_pdf_string(line) + b" Tj", b"T*"]
        ops.append(b"ET")
        stream = b"\n".join(ops)
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects[page_id + 1] = (
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref_at = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref_at)
    return bytes(out)


def pdf_without_text() -> bytes:
    """A valid PDF whose only page draws a rectangle: nothing to extract (like a scan)."""
    stream = b"0 0 1 rg 72 72 200 100 re f"
    body = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(body, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n"
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def corrupt_pdf() -> bytes:
    """A PDF cut off after its header and first object: no pages, no xref, no trailer."""
    whole = pdf_bytes()
    return whole[: whole.index(b"2 0 obj")]


def html_bytes() -> bytes:
    return (
        "<!DOCTYPE html><html><head><title>Release notes</title>"
        "<style>body { color: red; } .secret { display: none }</style>"
        "<script>var leaked = 'script text must not appear';</script></head><body>"
        f"<h1>What changed</h1><p>{SENTENCES[0]}</p>"
        f"<div><p>{SENTENCES[1]} <b>Bold</b> words stay inline.</p></div>"
        "<table><tr><th>Limit</th><th>Value</th></tr><tr><td>Chunk</td><td>800</td></tr></table>"
        f"<ul><li>{SENTENCES[2]}</li><li>Second item</li></ul>"
        "<!-- a comment that must not appear --></body></html>"
    ).encode()


def json_bytes() -> bytes:
    doc = {
        "title": SENTENCES[0],
        "owner": {"name": "Ada", "teams": ["search", "ingest"]},
        "limits": {"max_chunk_size_tokens": 800, "strict": True, "note": None},
        "odd key": SENTENCES[1],
    }
    return json.dumps(doc, indent=2).encode()


def csv_bytes() -> bytes:
    return (
        "id,name,comment\r\n"
        f'1,Ada,"{SENTENCES[0]}"\r\n'
        f'2,Grace,"{SENTENCES[1]}"\r\n'
    ).encode()


def markdown_bytes() -> bytes:
    text = f"# Guide\n\n{SENTENCES[0]}\n\n- {SENTENCES[1]}\n\n```python\nprint('hi')\n```\n"
    return text.encode()


def python_bytes() -> bytes:
    return f'def greet():\n    """{SENTENCES[2]}"""\n    return "hello"\n'.encode()


def png_bytes() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def elf_bytes() -> bytes:
    """The start of a 64-bit ELF executable (header plus zero padding)."""
    return b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 2, 62, 1) + bytes(200)


def zip_bytes(entries: dict[str, bytes] | None = None) -> bytes:
    """A plain zip archive (not an Office document)."""
    entries = entries or {"readme.txt": b"hello from a zip\n", "data.bin": bytes(range(256))}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def zip_bomb_docx(inflated_bytes: int = 256 * 1024 * 1024) -> bytes:
    """A valid docx with one extra entry of zeros that deflates about 230-fold.

    Word would open it; inflating it would take `inflated_bytes` of memory.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx_bytes())) as source, zipfile.ZipFile(
        out, "w", zipfile.ZIP_DEFLATED, compresslevel=1
    ) as bomb:
        for info in source.infolist():
            bomb.writestr(info, source.read(info))
        with bomb.open("word/media/padding.bin", "w", force_zip64=True) as entry:
            block = bytes(1024 * 1024)
            written = 0
            while written < inflated_bytes:
                entry.write(block[: min(len(block), inflated_bytes - written)])
                written += len(block)
    return out.getvalue()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def text_of_size(size: int, seed: int = 7) -> str:
    """Readable-looking prose of about `size` characters, in lines of varied length."""
    rng = random.Random(seed)
    words = " ".join([
        "the a of and to in is for on with as by vector store file chunk token search",
        "assistant thread run message retrieval overlap boundary Treadle document page",
        "über naïve café 東京 данные 😀 λ",
    ]).split()
    lines: list[str] = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 18)))
        line = line[0].upper() + line[1:] + "."
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)[:size]
