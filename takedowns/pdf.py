"""Plain, readable PDFs (evidence reports, notices) with fpdf2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fpdf import FPDF

# DejaVu covers every character we print; without it, the core fonts know Latin-1 only.
_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_LATIN1_FALLBACKS = str.maketrans(
    {
        "\u2014": "-",  # em dash
        "\u2013": "-",  # en dash
        "\u2019": "'",
        "\u2018": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u0153": "oe",
        "\u0152": "OE",
    }
)


def new_pdf(size: int = 10) -> tuple[FPDF, Callable[[str], str]]:
    """A PDF with one page and a font set, and the function that makes text printable in it."""
    pdf = FPDF()
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    if _FONT.exists():
        pdf.add_font("DejaVu", "", str(_FONT))
        pdf.set_font("DejaVu", size=size)

        def text(s: str) -> str:
            return s

        return pdf, text
    pdf.set_font("Helvetica", size=size)

    def latin1(s: str) -> str:
        return s.translate(_LATIN1_FALLBACKS).encode("latin-1", "replace").decode("latin-1")

    return pdf, latin1


def text_pdf(title: str, body: str) -> bytes:
    """A document of a title and plain text, paragraphs and line breaks kept."""
    pdf, text = new_pdf()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font_size(13)
    pdf.multi_cell(width, 7, text(title))
    pdf.ln(3)
    pdf.set_font_size(10)
    for line in body.splitlines():
        if line.strip():
            pdf.multi_cell(width, 5, text(line))
        else:
            pdf.ln(3)
    return bytes(pdf.output())
