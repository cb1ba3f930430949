"""Why a document was refused. Each is a caller's mistake about that one document, with a stable code:

    DocumentRejected (RequestError, 422)
        empty_document       no text at all (an empty file, a PDF of scanned images)
        unknown_encoding     the bytes are no text in any encoding that can be told apart
        corrupt_document     a PDF or DOCX that cannot be read
        password_protected   an encrypted PDF that needs a password
        unsupported_format   a format Podium does not read (a ZIP, an image, a binary file)
        invalid_document     a JSON/JSONL file or API document of the wrong shape
        document_too_large   more bytes than ``knowledge.max_document_bytes`` (status 413)

In a batch each refused document becomes a :class:`~podium.storage.knowledge_records.DocumentError`
and the others go on; a single document sent to the API is answered with the error itself.
"""

from __future__ import annotations

from podium.errors import RequestError

__all__ = ["DocumentRejected"]


class DocumentRejected(RequestError):
    status = 422

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        super().__init__(message, code=code)
        if status is not None:
            self.status = status
