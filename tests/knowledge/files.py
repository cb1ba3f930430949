"""Documents for the knowledge-base tests, made here: PDFs (plain, encrypted, damaged), DOCX, a mixed folder."""

from __future__ import annotations

import io
import json
from pathlib import Path


def make_pdf(pages: list[str], *, title: str = "") -> bytes:
    """A small valid PDF with one text line per paragraph on each page (Helvetica)."""
    objects: list[bytes] = []
    kids = []
    font_id = 3
    next_id = 4
    page_objs: list[tuple[int, int, bytes]] = []
    for text in pages:
        lines = [line for para in text.split("\n\n") for line in (para, "")]
        ops = ["BT", "/F1 11 Tf", "14 TL", "50 780 Td"]
        for line in lines:
            safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({safe}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        page_id, content_id = next_id, next_id + 1
        next_id += 2
        kids.append(page_id)
        page_objs.append((page_id, content_id, stream))
    info_id = next_id
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(
        f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    )
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for _page_id, content_id, stream in page_objs:
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Resources << /Font << /F1 {font_id} 0 R >> >> "
            f"/Contents {content_id} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(f"<< /Title ({title}) >>".encode())
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, info_id, xref)
    )
    return out.getvalue()


def encrypt_pdf(data: bytes, password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(title: str, sections: list[tuple[str, str]]) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=1)
    for heading, text in sections:
        document.add_heading(heading, level=2)
        document.add_paragraph(text)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Support hours"
    table.cell(1, 0).text, table.cell(1, 1).text = "Europe", "08:00-18:00 CET"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def mixed_folder(root: Path) -> Path:
    """A folder of every supported format, each answering a different question."""
    docs = root / "docs"
    (docs / "policies").mkdir(parents=True)
    (docs / "policies" / "travel.md").write_text(
        "---\nowner: finance\n---\n# Travel policy\n\n## Booking\n\nBook flights through the travel desk at least "
        "fourteen days ahead.\n\n## Expenses\n\nHotel costs are reimbursed up to 180 euros per night in "
        "capital cities. Keep every receipt.\n",
        encoding="utf-8",
    )
    (docs / "policies" / "security.txt").write_text(
        "Laptops must use full-disk encryption.\n\nPasswords are rotated every ninety days and must have "
        "at least sixteen characters.\n",
        encoding="utf-8",
    )
    (docs / "onboarding.html").write_text(
        "<html><head><title>Onboarding</title><script>var x = 'ignored';</script></head><body>"
        "<nav>Home | About</nav><h1>Onboarding</h1><h2>First day</h2><p>New employees collect their badge "
        "at the reception desk on the ground floor at nine o'clock.</p><h2>Equipment</h2><ul><li>A laptop is "
        "issued by the IT service desk.</li></ul></body></html>",
        encoding="utf-8",
    )
    (docs / "benefits.pdf").write_bytes(
        make_pdf(
            [
                "Benefits overview\n\nEvery employee receives thirty days of paid vacation per year.",
                "Parental leave\n\nParents receive sixteen weeks of fully paid parental leave.",
            ],
            title="Benefits overview",
        )
    )
    (docs / "support.docx").write_bytes(
        make_docx(
            "Customer support handbook",
            [
                (
                    "Escalation",
                    "Critical tickets are escalated to the on-call engineer within fifteen minutes.",
                )
            ],
        )
    )
    (docs / "faq.jsonl").write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "id": "wifi",
                    "title": "Office wifi",
                    "text": "The office wifi network is called Podium-Guest; the password is on the kitchen board.",
                    "topic": "it",
                },
                {
                    "id": "parking",
                    "title": "Parking",
                    "text": "Parking spaces in the basement are assigned by facilities.",
                    "topic": "facilities",
                },
            ]
        ),
        encoding="utf-8",
    )
    (docs / "glossary.json").write_text(
        json.dumps(
            {
                "title": "Glossary",
                "text": "A quarterly business review (QBR) is held with each key account every three months.",
            }
        ),
        encoding="utf-8",
    )
    (docs / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # not a text format: skipped
    return docs
