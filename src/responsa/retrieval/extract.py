"""Text out of an uploaded file: PDFs through pypdf, anything else that decodes as UTF-8 text
(plain text, Markdown, JSON, HTML, source code). Everything else is `unsupported_file`."""

from __future__ import annotations

import io


class ExtractionError(ValueError):
    """The file cannot be searched; `code` is the vector store file's `last_error.code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def extract_text(data: bytes, filename: str) -> str:
    if data.startswith(b"%PDF-") or filename.lower().endswith(".pdf"):
        return _pdf_text(data)
    if b"\x00" in data[:8192]:
        raise ExtractionError("unsupported_file",
                              f"{filename}: binary files cannot be searched.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExtractionError("unsupported_file",
                              f"{filename}: the file is not UTF-8 text.") from None


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PyPdfError, ValueError, KeyError) as exc:
        raise ExtractionError("invalid_file", f"The PDF could not be read: {exc}") from None
