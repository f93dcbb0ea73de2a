"""Text extraction for file_search: detect what an uploaded file is and pull its text out.

`extract_text(data, filename)` decides the kind from the content first (magic bytes: `%PDF`,
a zip container told apart by its entries, known binary signatures) and then from the
extension, decodes text files (UTF-8, a BOM, else charset-normalizer's best guess) and hands
documents to well-kept parsers: pypdf, python-docx, python-pptx, openpyxl and BeautifulSoup
on lxml. Every refusal is an `IngestError` whose `code` is a vector store file's
`last_error.code`:

* `unsupported_file`: images, audio, video, archives, executables, legacy Office binaries and
  any other binary of no supported kind;
* `invalid_file`: a file of a supported kind that cannot be read (corrupt or encrypted PDF,
  broken docx/pptx/xlsx), an empty file, one that yields no text, one too large, and zip
  bombs (refused from the zip's directory, before any parser inflates a byte).

Parsers are imported inside the functions that use them, so importing this module is cheap.
"""
from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["text", "markdown", "code", "html", "json", "csv", "pdf", "docx", "pptx", "xlsx"]
ErrorCode = Literal["unsupported_file", "invalid_file", "server_error"]

# Limits. OpenAI takes uploads of up to 512 MB; the rest bound memory and time per file.
MAX_INPUT_BYTES = 512 * 1024 * 1024
# Extracted text, counted as it is produced; a 200 MB text file fits.
MAX_TEXT_CHARS = 256 * 1024 * 1024
MAX_ZIP_ENTRIES = 10_000
MAX_ZIP_TOTAL_BYTES = 200 * 1024 * 1024  # sum of the entries' uncompressed sizes
MAX_ZIP_RATIO = 100  # uncompressed / compressed, for any entry ...
ZIP_RATIO_FLOOR_BYTES = 1024 * 1024  # ... that inflates to more than this
MAX_SHEET_CELLS = 20_000_000  # xlsx cells walked, empty ones included

_SNIFF_BYTES = 8192


class IngestError(Exception):
    """Why a file cannot be searched: `code` and `message` are its `last_error`."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message

    def as_last_error(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Extracted:
    text: str
    kind: Kind


def _unsupported(message: str) -> IngestError:
    return IngestError("unsupported_file", message)


def _invalid(message: str) -> IngestError:
    return IngestError("invalid_file", message)


# --- detection ------------------------------------------------------------------------------


def _names(*groups: str) -> list[str]:
    return " ".join(groups).split()


_EXTENSION_KINDS: dict[str, Kind] = {
    "txt": "text", "text": "text", "log": "text", "rst": "text", "tex": "text",
    "md": "markdown", "markdown": "markdown", "mdx": "markdown",
    "html": "html", "htm": "html", "xhtml": "html",
    "json": "json",
    "csv": "csv", "tsv": "csv",
    "pdf": "pdf",
    "docx": "docx", "docm": "docx", "dotx": "docx",
    "pptx": "pptx", "pptm": "pptx", "potx": "pptx",
    "xlsx": "xlsx", "xlsm": "xlsx", "xltx": "xlsx",
}
_CODE_EXTENSIONS = frozenset(_names(
    "c h cc cpp cxx hpp hh cs java kt kts scala go rs py pyi rb php pl pm lua r jl swift m mm",
    "js mjs cjs jsx ts tsx vue svelte css scss sass less sh bash zsh fish ps1 bat cmd sql",
    "yaml yml toml ini cfg conf xml xsd xsl proto graphql gql dart ex exs erl hs ml fs clj",
    "groovy gradle tf hcl dockerfile makefile cmake nix zig v asm s",
))
# Extensions of kinds that are never text: refused even when the bytes would decode.
_BINARY_EXTENSIONS: dict[str, str] = {
    **dict.fromkeys(_names("png jpg jpeg gif bmp tif tiff webp heic heif ico svgz psd raw"),
                    "an image"),
    **dict.fromkeys(_names("mp3 wav flac ogg oga m4a aac opus wma"), "audio"),
    **dict.fromkeys(_names("mp4 m4v mov avi mkv webm wmv flv mpg mpeg"), "video"),
    **dict.fromkeys(_names("zip gz tgz bz2 xz 7z rar tar zst lz4 jar war apk"), "an archive"),
    **dict.fromkeys(_names("exe dll so dylib bin o a class wasm pyc msi deb rpm dmg iso"),
                    "an executable or binary"),
    **dict.fromkeys(_names("doc xls ppt"), "a legacy Office binary document"),
    **dict.fromkeys(_names("odt ods odp rtf epub"), "a document format that is not supported"),
    **dict.fromkeys(_names("sqlite db"), "a database"),
}
_OOXML_KINDS = frozenset({"docx", "pptx", "xlsx"})

# Signatures of binary files. Each is specific enough (non-text bytes) not to fire on text.
_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"GIF87a", 0, "a GIF image"),
    (b"GIF89a", 0, "a GIF image"),
    (b"II*\x00", 0, "a TIFF image"),
    (b"MM\x00*", 0, "a TIFF image"),
    (b"\x00\x00\x01\x00", 0, "an icon"),
    (b"8BPS", 0, "a Photoshop image"),
    (b"ftyp", 4, "an audio or video file"),
    (b"ID3", 0, "an MP3 file"),
    (b"OggS\x00", 0, "an Ogg file"),
    (b"fLaC", 0, "a FLAC file"),
    (b"\x1a\x45\xdf\xa3", 0, "a Matroska/WebM video"),
    (b"\x7fELF", 0, "an ELF executable"),
    (b"MZ", 0, "a Windows executable"),
    (b"\xfe\xed\xfa\xce", 0, "a Mach-O executable"),
    (b"\xfe\xed\xfa\xcf", 0, "a Mach-O executable"),
    (b"\xce\xfa\xed\xfe", 0, "a Mach-O executable"),
    (b"\xcf\xfa\xed\xfe", 0, "a Mach-O executable"),
    (b"\xca\xfe\xba\xbe", 0, "a Java class or universal binary"),
    (b"\x00asm", 0, "a WebAssembly module"),
    (b"\x1f\x8b", 0, "a gzip archive"),
    (b"BZh", 0, "a bzip2 archive"),
    (b"\xfd7zXZ\x00", 0, "an xz archive"),
    (b"\x28\xb5\x2f\xfd", 0, "a zstd archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "a 7z archive"),
    (b"Rar!\x1a\x07", 0, "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "a legacy Office binary document (.doc/.xls/.ppt)"),
    (b"SQLite format 3\x00", 0, "an SQLite database"),
    (b"{\\rtf", 0, "an RTF document"),
]
_RIFF_KINDS = {b"WEBP": "a WebP image", b"WAVE": "a WAV file", b"AVI ": "an AVI video"}


def _extension(filename: str) -> str:
    base = os.path.basename(filename or "").lower()
    if base in ("dockerfile", "makefile"):
        return base
    return base.rsplit(".", 1)[1] if "." in base.strip(".") else ""


def _binary_signature(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] in _RIFF_KINDS:
        return _RIFF_KINDS[head[8:12]]
    for magic, offset, what in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            if magic.isascii() and magic.isalnum() and not _looks_binary(head):
                continue  # a text that happens to start with these letters
            return what
    return None


def _looks_binary(head: bytes) -> bool:
    if not head:
        return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return False
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / len(head) > 0.05


# --- entry point ----------------------------------------------------------------------------


def extract_text(
    data: bytes | bytearray | memoryview | str | os.PathLike[str],
    filename: str,
    *,
    max_chars: int = MAX_TEXT_CHARS,
) -> Extracted:
    """The text of an uploaded file and the kind it was read as, or IngestError.

    `data` is the file's bytes or a path to it; `filename` is the name it was uploaded under
    (only its extension is used, and content wins where the two disagree on a document kind).
    """
    raw = _read(data)
    kind: Kind
    if not raw:
        raise _invalid("The file is empty.")
    ext = _extension(filename)
    claimed = _EXTENSION_KINDS.get(ext)
    head = raw[:_SNIFF_BYTES]

    if raw.startswith(b"%PDF-") or (
        b"%PDF-" in raw[:1024] and (claimed == "pdf" or _looks_binary(raw[:1024]))
    ):  # readers accept junk before the header; a text that mentions it stays text
        text, kind = _pdf(raw, max_chars), "pdf"
    elif head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        kind = _zip_kind(raw, claimed)
        text = _OOXML_PARSERS[kind](raw, max_chars)
    elif claimed in ("pdf", "docx", "pptx", "xlsx"):
        raise _invalid(f"The file is named .{ext} but is not a valid {claimed.upper()} file.")
    elif (what := _binary_signature(head)) is not None:
        raise _unsupported(f"The file is {what}, which is not a supported file type.")
    elif ext in _BINARY_EXTENSIONS:
        raise _unsupported(
            f"Files of type .{ext} ({_BINARY_EXTENSIONS[ext]}) are not supported."
        )
    else:
        decoded = _decode(raw)
        if len(decoded) > max_chars:
            raise _too_much_text(max_chars)
        kind = _text_kind(ext, claimed, decoded)
        text = _TEXT_PARSERS[kind](decoded)

    text = _tidy(text)
    if len(text) > max_chars:
        raise _too_much_text(max_chars)
    if not text.strip():
        raise _invalid("No text could be extracted from the file.")
    return Extracted(text=text, kind=kind)


def _read(data: bytes | bytearray | memoryview | str | os.PathLike[str]) -> bytes:
    if isinstance(data, bytes):
        raw = data
    elif isinstance(data, bytearray | memoryview):
        raw = bytes(data)
    else:
        size = os.path.getsize(data)
        if size > MAX_INPUT_BYTES:
            raise _invalid(f"The file is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MB.")
        with open(data, "rb") as f:
            raw = f.read(MAX_INPUT_BYTES + 1)
    if len(raw) > MAX_INPUT_BYTES:
        raise _invalid(f"The file is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MB.")
    return raw


def _too_much_text(max_chars: int) -> IngestError:
    return _invalid(f"The file yields more than {max_chars:,} characters of text.")


_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def _tidy(text: str) -> str:
    """One kind of line break, and no control characters but tab and newline."""
    text = _LINE_BREAKS.sub("\n", text)
    return _CONTROL.sub("", text).lstrip("\n").rstrip()


class _TextSink:
    """Collects extracted text and refuses once it passes the cap, before memory runs away."""

    def __init__(self, max_chars: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.max_chars = max_chars

    def add(self, text: str) -> None:
        if not text:
            return
        self.size += len(text) + 1
        if self.size > self.max_chars:
            raise _too_much_text(self.max_chars)
        self.parts.append(text)

    def text(self, separator: str = "\n") -> str:
        return separator.join(self.parts)


def _guarded(what: str) -> Callable[[Callable[[bytes, int], str]], Callable[[bytes, int], str]]:
    """A parser's own exceptions mean the file is broken: turn them into invalid_file."""

    def wrap(parse: Callable[[bytes, int], str]) -> Callable[[bytes, int], str]:
        def guarded(raw: bytes, max_chars: int) -> str:
            try:
                return parse(raw, max_chars)
            except (IngestError, MemoryError):
                raise
            except Exception as exc:
                detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
                raise _invalid(f"The file could not be read as {what} ({reason}).") from exc

        guarded.__name__ = parse.__name__
        return guarded

    return wrap


# --- text files -----------------------------------------------------------------------------


def _decode(raw: bytes) -> str:
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if raw.startswith(bom):
            return raw.decode(codec, errors="replace")
    if _looks_binary(raw[:_SNIFF_BYTES]):
        raise _unsupported("The file is binary data of no supported type.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3 and exc.reason == "unexpected end of data":
            return raw.decode("utf-8", errors="replace")  # cut inside its last character
    from charset_normalizer import from_bytes

    matches = from_bytes(raw)
    best = matches.best()
    if best is None or best.encoding is None:
        raise _unsupported("The file is binary data of no supported type.")
    encoding = best.encoding
    # On Western European text charset-normalizer often ranks a Baltic or Central European
    # code page above Windows-1252 by a little (French comes out as cp1257); prefer the most
    # common legacy encoding when it reads about as cleanly.
    for match in matches:
        if match.encoding == "cp1252" and match.chaos <= best.chaos + 0.15:
            encoding = "cp1252"
            break
    text = raw.decode(encoding, errors="replace")
    if _looks_binary(text[:_SNIFF_BYTES].encode("utf-8", errors="replace")):
        raise _unsupported("The file is binary data of no supported type.")
    return text


def _text_kind(ext: str, claimed: Kind | None, text: str) -> Kind:
    if claimed in ("text", "markdown", "html", "json", "csv"):
        return claimed
    if ext in _CODE_EXTENSIONS:
        return "code"
    start = text.lstrip("\ufeff \t\r\n")[:512].lower()
    if start.startswith(("<!doctype html", "<html")):
        return "html"
    if start[:1] in ("{", "["):
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            return "text"
        return "json"
    return "text"


def _plain(text: str) -> str:
    return text


_BLOCK_TAGS = frozenset(_names(
    "address article aside blockquote body dd details dialog div dl dt fieldset figcaption",
    "figure footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary",
    "table tbody thead tfoot tr ul title caption",
))
_CELL_TAGS = frozenset({"td", "th"})
_DROPPED_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "canvas", "iframe", "object"}
)


def _html(text: str) -> str:
    """Visible text, a line per block element, table cells joined by " | ".

    One pass over the tree, without changing it (inserting into a long list of siblings costs
    a scan of them each time, which is quadratic on big pages) and without recursion (pages
    can nest deeper than Python's stack).
    """
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString, PreformattedString, Tag

    soup = BeautifulSoup(text, "lxml")
    out: list[str] = []
    stack: list[Any] = [soup]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if isinstance(node, NavigableString):
                if not isinstance(node, PreformattedString):  # comments, doctype, CDATA
                    out.append(str(node))
            else:
                out.append(node)  # a separator pushed below
        elif isinstance(node, Tag):
            name = node.name
            if name in _DROPPED_TAGS:
                continue
            if name == "br":
                out.append("\n")
                continue
            if name in _BLOCK_TAGS:
                out.append("\n")
                stack.append("\n")
            elif name in _CELL_TAGS:
                stack.append(" | ")
            stack.extend(reversed(node.contents))
    lines = (" ".join(line.split()) for line in "".join(out).splitlines())
    return _squeeze_blank_lines(line.removesuffix(" |") for line in lines)


def _squeeze_blank_lines(lines: Iterable[str]) -> str:
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")


def _json(text: str) -> str:
    """One `path: value` line per leaf, so every chunk keeps the keys it came from. A file
    that is not one JSON document (JSON Lines, a broken file) is kept as it is."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return "\n".join(_flatten(doc))


def _flatten(doc: Any) -> Iterator[str]:
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict) and value:
            items = [(_key_path(path, str(k)), v) for k, v in value.items()]
            stack.extend(reversed(items))
        elif isinstance(value, list) and value:
            stack.extend(reversed([(f"{path}[{i}]", v) for i, v in enumerate(value)]))
        else:
            if isinstance(value, str):
                rendered = value
            elif isinstance(value, dict | list):
                rendered = "{}" if isinstance(value, dict) else "[]"
            else:
                rendered = json.dumps(value)
            yield f"{path}: {rendered}" if path else rendered


def _key_path(path: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


_TEXT_PARSERS: dict[Kind, Callable[[str], str]] = {
    "text": _plain,
    "markdown": _plain,
    "code": _plain,
    "csv": _plain,
    "json": _json,
    "html": _html,
}


# --- zip containers (docx, pptx, xlsx) ------------------------------------------------------


def _zip_kind(raw: bytes, claimed: Kind | None) -> Kind:
    """Which OOXML document a zip is, after checking it is no zip bomb."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            infos = archive.infolist()
    except MemoryError:
        raise
    except Exception as exc:  # BadZipFile, an unsupported compression method, struct.error
        if claimed in _OOXML_KINDS:
            raise _invalid(
                f"The file is not a valid {claimed.upper()} file (broken zip container: {exc})."
            ) from exc
        raise _unsupported("The file is a damaged zip archive.") from exc
    names = {info.filename for info in infos}
    kind: Kind | None = None
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            kind = "docx"
        elif "ppt/presentation.xml" in names:
            kind = "pptx"
        elif "xl/workbook.xml" in names:
            kind = "xlsx"
    if kind is None:
        if claimed in _OOXML_KINDS:
            raise _invalid(
                f"The file is a zip archive but not a valid {claimed.upper()} document."
            )
        raise _unsupported("The file is a zip archive, which is not a supported file type.")
    _check_zip_bomb(infos)
    return kind


def _check_zip_bomb(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_ZIP_ENTRIES:
        raise _invalid(
            f"The document's zip container has {len(infos):,} entries (at most"
            f" {MAX_ZIP_ENTRIES:,} are accepted)."
        )
    total = 0
    for info in infos:
        total += info.file_size
        if total > MAX_ZIP_TOTAL_BYTES:
            raise _invalid(
                "The document's zip container inflates to more than"
                f" {MAX_ZIP_TOTAL_BYTES // (1024 * 1024)} MB (a zip bomb?)."
            )
        if (
            info.file_size > ZIP_RATIO_FLOOR_BYTES
            and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1)
        ):
            ratio = info.file_size // max(info.compress_size, 1)
            raise _invalid(
                f"The document's zip entry {info.filename!r} inflates {ratio:,} times (at most"
                f" {MAX_ZIP_RATIO} is accepted; a zip bomb?)."
            )


@_guarded("a Word document")
def _docx(raw: bytes, max_chars: int) -> str:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(raw))
    sink = _TextSink(max_chars)

    def table_rows(table: Table) -> None:
        for row in table.rows:
            cells: list[str] = []
            for cell in row.cells:
                value = " ".join(cell.text.split())
                if value and (not cells or cells[-1] != value):  # merged cells repeat
                    cells.append(value)
            if cells:
                sink.add(" | ".join(cells))

    sections = list(document.sections)
    for section in sections:
        if not section.header.is_linked_to_previous:
            for paragraph in section.header.paragraphs:
                sink.add(paragraph.text)
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            table_rows(block)
        else:
            sink.add(block.text)
    for section in sections:
        if not section.footer.is_linked_to_previous:
            for paragraph in section.footer.paragraphs:
                sink.add(paragraph.text)
    return sink.text()


@_guarded("a PowerPoint presentation")
def _pptx(raw: bytes, max_chars: int) -> str:
    from pptx import Presentation
    from pptx.shapes.group import GroupShape

    presentation = Presentation(io.BytesIO(raw))
    sink = _TextSink(max_chars)

    def shape_text(shape: Any) -> None:
        if isinstance(shape, GroupShape):
            for inner in shape.shapes:
                shape_text(inner)
            return
        if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            sink.add(shape.text_frame.text)
        if getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                if any(cells):
                    sink.add(" | ".join(c for c in cells if c))

    for number, slide in enumerate(presentation.slides, start=1):
        sink.add(f"Slide {number}")
        for shape in slide.shapes:
            shape_text(shape)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text
            if notes.strip():
                sink.add(f"Notes: {notes}")
    return sink.text()


@_guarded("an Excel workbook")
def _xlsx(raw: bytes, max_chars: int) -> str:
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    sink = _TextSink(max_chars)
    cells = 0
    try:
        for sheet in workbook.worksheets:
            sink.add(f"Sheet: {sheet.title}")
            # Ignore the declared dimension: rows hold only the cells they have, up to their
            # last one, so a sheet claiming A1:XFD1048576 does not pad every row.
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()
            for row in sheet.iter_rows(values_only=True):
                cells += len(row) + 1
                if cells > MAX_SHEET_CELLS:
                    raise _invalid(
                        f"The workbook has more than {MAX_SHEET_CELLS:,} cells to read."
                    )
                values = [_cell_text(v) for v in row if v is not None]
                values = [v for v in values if v]
                if values:
                    sink.add(" | ".join(values))
    finally:
        workbook.close()
    return sink.text()


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


_OOXML_PARSERS: dict[Kind, Callable[[bytes, int], str]] = {
    "docx": _docx,
    "pptx": _pptx,
    "xlsx": _xlsx,
}


# --- pdf ------------------------------------------------------------------------------------


@_guarded("a PDF")
def _pdf(raw: bytes, max_chars: int) -> str:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    reader = PdfReader(io.BytesIO(raw), strict=False)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except Exception as exc:
            raise _invalid("The PDF is encrypted and cannot be read.") from exc
        if not opened:
            raise _invalid("The PDF is encrypted with a password and cannot be read.")
    sink = _TextSink(max_chars)
    try:
        pages = reader.pages
        for page in pages:
            sink.add(page.extract_text() or "")
    except FileNotDecryptedError as exc:
        raise _invalid("The PDF is encrypted and cannot be read.") from exc
    return sink.text("\n\n")
