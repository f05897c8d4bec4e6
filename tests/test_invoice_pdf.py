"""The invoice PDF's own text writer (exports/invoice_pdf.py, _Encoder): the same bytes and subsets as reportlab's
documented way for its TrueType fonts (splitString per string), also past the first 256-character subset."""
from __future__ import annotations

from io import BytesIO

from reportlab.lib.rl_accel import escapePDF
from reportlab.pdfgen.canvas import Canvas

from exports.invoice_pdf import FONT, FONT_BOLD, _Encoder, _register_fonts


def test_encoder_gives_what_splitstring_gives():
    _register_fonts()
    ours, reference = Canvas(BytesIO()), Canvas(BytesIO())
    for name in (FONT, FONT_BOLD):
        encoder = _Encoder(name, ours._doc)
        font = encoder.font
        # Every character of the font: more than one 256-character subset holds.
        many = "".join(chr(c) for c in sorted(font.face.charToGlyph) if 32 < c < 0xFFFF)
        assert len(many) > 256
        texts = ["Total à payer", "€ 1.234,56", "Échéance 03/12/2026", "Total à payer", "(x) \\ y", many[:150],
                 "Période", many, many[::-1], "\u00a0394,58 €", "日本", "Total à payer"]
        for text in texts:
            expected = [(subset, escapePDF(data)) for subset, data in font.splitString(text, reference._doc)]
            assert encoder.encode(text) == expected, text
            assert [encoder.subset_name(s) for s, _ in expected] == [
                font.getSubsetInternalName(s, reference._doc) for s, _ in expected]
        assert len(font.state[ours._doc].subsets) > 1  # the test reached the second subset
