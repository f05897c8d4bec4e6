"""The invoice PDF (reportlab), from a store.issuer.invoicing.InvoiceDocument.

A4, drawn straight on a reportlab canvas, in the customer's language (en, nl, fr): the issuer's and the
customer's blocks, invoice number, issue and due date, period and customer number; the lines grouped by card/OBU with a subtotal per card; the VAT
summary per rate; the totals in EUR. The text font is Bitstream Vera Sans, which ships inside reportlab
itself (so no system font is needed) and has the euro sign and the accented letters of Dutch and French.
The PDF is unsigned here: exports.invoicing signs it.
"""
from __future__ import annotations

from decimal import Decimal
from io import BytesIO
from pathlib import Path

from reportlab.lib.rl_accel import escapePDF, fp_str

from store.i18n import LANGUAGES, N_, _, use_language
from store.issuer.invoicing import CardGroup, InvoiceDocument

__all__ = ["FONT", "FONT_BOLD", "LABELS", "money", "render_invoice_pdf"]

FONT = "CardsOnlineSans"
FONT_BOLD = "CardsOnlineSans-Bold"
NNBSP = "\u00a0"  # no-break space: the French thousands separator (Vera has no U+202F)

# The PDF's words in English (the source); `render_invoice_pdf` translates them into the customer's language.
LABELS = dict(invoice=N_("INVOICE"), number=N_("Invoice number"), date=N_("Invoice date"), due=N_("Due date"),
              period=N_("Period"), customer_number=N_("Customer number"), vat_number=N_("VAT number"),
              card=N_("Card"), obu=N_("OBU"), description=N_("Description"), quantity=N_("Quantity"),
              excl=N_("Excl. VAT"), rate=N_("VAT %"), vat=N_("VAT"), incl=N_("Incl. VAT"), subtotal=N_("Subtotal"),
              vat_summary=N_("VAT summary"), base=N_("Taxable amount"), total_excl=N_("Total excl. VAT"),
              total_vat=N_("Total VAT"), total_incl=N_("Total to pay"), late=N_("Late transactions"),
              page=N_("Page {page}"),
              period_range=N_("{start} to {end}"),
              note=N_("This invoice is signed electronically. Keep the PDF together with its signature file "
                      "(.p7s)."),
              pay=N_("Please pay {total} by {due}, mentioning invoice number {number}."))

_registered = False


def _register_fonts() -> None:
    global _registered
    if _registered:
        return
    import reportlab
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folder = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(folder / "VeraBd.ttf")))
    addMapping(FONT, 0, 0, FONT)
    addMapping(FONT, 1, 0, FONT_BOLD)
    addMapping(FONT, 0, 1, FONT)
    addMapping(FONT, 1, 1, FONT_BOLD)
    _registered = True


def _grouped(value: Decimal, places: int, thousands: str, decimal: str) -> str:
    text = f"{value:,.{places}f}"
    return text.replace(",", "\x00").replace(".", decimal).replace("\x00", thousands)


def money(value: Decimal, language: str) -> str:
    """An amount in euro as the language writes it: € 1.234,56 (nl), 1 234,56 € (fr), €1,234.56 (en)."""
    if language == "nl":
        return f"€ {_grouped(value, 2, '.', ',')}"
    if language == "fr":
        return f"{_grouped(value, 2, NNBSP, ',')} €"
    return f"€{_grouped(value, 2, ',', '.')}"


def _number(value: Decimal | None, places: int, language: str) -> str:
    if value is None:
        return ""
    if language == "en":
        return _grouped(value, places, ",", ".")
    return _grouped(value, places, "." if language == "nl" else NNBSP, ",")


def _date(day, language: str) -> str:
    return f"{day:%d/%m/%Y}"


def _card_title(group: CardGroup, labels: dict) -> str:
    kind = labels["obu"] if group.product_type is not None and group.product_type.is_obu else labels["card"]
    number = group.card_number or "—"
    return f"{kind} {number}" + (f" — {group.card_label}" if group.card_label else "")


def _quantity(line, language: str) -> str:
    if line.quantity is None:
        return ""
    text = _number(line.quantity, 3 if line.unit in ("l", "kg", "kWh") else 0, language)
    return f"{text} {line.unit}" if line.unit else text


class _Encoder:
    """A string in one TrueType font of one document, as the escaped operands of Tj: reportlab's documented way
    for its subsetted fonts (`font.splitString`, `font.getSubsetInternalName`), with the bytes of every
    character already placed in the first subset remembered, so a string of known characters is one
    `str.translate` instead of a Python loop over its characters."""

    def __init__(self, name: str, doc) -> None:
        from reportlab.pdfbase.pdfmetrics import getFont

        self.font = getFont(name)
        self.doc = doc
        self.known: set[str] = set()
        self.table: dict[int, str] = {}  # code point -> its escaped byte in subset 0

    def encode(self, value: str) -> list[tuple[int, str]]:
        if self.known.issuperset(value):
            return [(0, value.translate(self.table))]
        chunks = self.font.splitString(value, self.doc)
        if len(chunks) == 1 and chunks[0][0] == 0 and len(chunks[0][1]) == len(value):
            for char, code in zip(value, chunks[0][1]):
                self.table[ord(char)] = escapePDF(bytes((code,)))
                self.known.add(char)
            return [(0, value.translate(self.table))]
        return [(subset, escapePDF(data)) for subset, data in chunks]

    def subset_name(self, subset: int) -> str:
        return self.font.getSubsetInternalName(subset, self.doc)


class _Page:
    """Draws the invoice on a reportlab canvas: fixed-height rows, a new page (with the column headings again)
    when a row would not fit. Drawing directly is about ten times faster than platypus tables for invoices
    of a thousand lines."""

    def __init__(self, canvas, document: InvoiceDocument, labels: dict, language: str):
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm

        self.c, self.doc, self.labels, self.language = canvas, document, labels, language
        self.mm = mm
        self.width, self.height = A4
        self.left, self.right = 18 * mm, A4[0] - 18 * mm
        self.bottom = 20 * mm
        self.page = 1
        self.y = self.height - 16 * mm
        self.ops: list[str] = []  # the page's text operators, drawn by flush_text
        self.regular = _Encoder(FONT, canvas._doc)
        self.bold = _Encoder(FONT_BOLD, canvas._doc)
        self.font: tuple[_Encoder, float] | None = None  # the font and size the operators last set
        self.set_size = ""
        self.subset: int | None = None
        # Columns: description (left), then right edges of quantity, excl., VAT %, VAT, incl.
        self.edges = [self.left, self.right - 74 * mm, self.right - 52 * mm, self.right - 38 * mm,
                      self.right - 20 * mm, self.right]
        self.description_width = self.edges[1] - 22 * mm - self.left

    def text(self, x: float, y: float, value: str, size: float = 8, bold: bool = False, right: bool = False) -> None:
        """Text goes into one text block per page (drawn over the page's rules and shading when the page is
        done), written as PDF operators here: a reportlab text object measures and re-encodes every string
        (textOut), about half of the time of a whole invoice PDF."""
        encoder = self.bold if bold else self.regular
        if right:
            x -= encoder.font.stringWidth(value, size)
        if (encoder, size) != self.font:
            self.font = (encoder, size)
            self.set_size = f"{fp_str(size)} Tf"
            self.subset = None
        ops = self.ops
        ops.append(f"1 0 0 1 {fp_str(x)} {fp_str(y)} Tm")
        for subset, escaped in encoder.encode(value):
            if subset != self.subset:
                ops.append(f"{encoder.subset_name(subset)} {self.set_size}")
                self.subset = subset
            ops.append(f"({escaped}) Tj")

    def flush_text(self) -> None:
        if self.ops:
            self.c.addLiteral("BT " + "\n".join(self.ops) + " ET")
            self.ops = []
            self.font = None

    def fit(self, value: str, width: float, size: float, bold: bool = False) -> str:
        font = (self.bold if bold else self.regular).font
        if font.stringWidth(value, size) <= width:
            return value
        while value and font.stringWidth(value + "…", size) > width:
            value = value[:-1]
        return value + "…"

    def footer(self) -> None:
        mm = self.mm
        self.text(self.left, 10 * mm, f"{self.doc.issuer.name} — {self.labels['invoice'].title()} {self.doc.number}",
                  size=7)
        self.text(self.right, 10 * mm, self.labels["page"].format(page=self.page), size=7, right=True)

    def new_page(self) -> None:
        self.footer()
        self.flush_text()
        self.c.showPage()
        self.page += 1
        self.y = self.height - 16 * self.mm
        self.text(self.left, self.y, f"{self.labels['invoice'].title()} {self.doc.number} — {self.doc.customer.name}",
                  size=8, bold=True)
        self.y -= 8 * self.mm

    def need(self, height: float) -> bool:
        if self.y - height < self.bottom:
            self.new_page()
            return True
        return False

    def party(self, x: float, y: float, party, width: float) -> float:
        self.text(x, y, self.fit(party.name, width, 9, True), size=9, bold=True)
        y -= 11
        for line in party.lines:
            self.text(x, y, self.fit(line, width, 8.5), size=8.5)
            y -= 10.5
        if party.vat_number:
            self.text(x, y, f"{self.labels['vat_number']}: {party.vat_number}", size=8.5)
            y -= 10.5
        return y

    def head(self) -> None:
        mm, labels, doc, language = self.mm, self.labels, self.doc, self.language
        top = self.y
        after_issuer = self.party(self.left, top, doc.issuer, 80 * mm)
        middle = self.left + (self.right - self.left) / 2 + 4 * mm
        self.text(self.right, top - 6, labels["invoice"], size=16, bold=True, right=True)
        facts = [(labels["number"], doc.number), (labels["date"], _date(doc.issue_date, language)),
                 (labels["due"], _date(doc.due_date, language)),
                 (labels["period"], labels["period_range"].format(start=_date(doc.period_start, language),
                                                                  end=_date(doc.period_end, language))),
                 (labels["customer_number"], f"{doc.customer_number} ({doc.customer_number_name})")]
        if doc.late_from is not None:  # transactions of earlier months that arrived after those were invoiced
            facts.insert(4, (labels["late"], labels["period_range"].format(start=_date(doc.late_from, language),
                                                                            end=_date(doc.late_to, language))))
        y = top - 24
        for key, value in facts:
            self.text(middle, y, key, size=8)
            self.text(middle + 30 * mm, y, self.fit(value, self.right - middle - 30 * mm, 8, True), size=8, bold=True)
            y -= 10.5
        box_top = min(y, after_issuer) - 6 * mm
        lines = 1 + len(doc.customer.lines) + (1 if doc.customer.vat_number else 0)
        box_height = lines * 10.5 + 6 * mm
        self.c.setStrokeColorRGB(0.5, 0.5, 0.5)
        self.c.setLineWidth(0.5)
        self.c.rect(middle - 3 * mm, box_top - box_height + 4 * mm, self.right - middle + 3 * mm, box_height)
        self.party(middle, box_top - 2 * mm, doc.customer, self.right - middle - 2 * mm)
        self.y = box_top - box_height - 6 * mm

    def column_heads(self) -> None:
        labels = self.labels
        self.need(14)
        y = self.y
        self.text(self.left, y, labels["description"], size=7.5, bold=True)
        for edge, key in zip(self.edges[1:], ("quantity", "excl", "rate", "vat", "incl")):
            self.text(edge, y, labels[key], size=7.5, bold=True, right=True)
        self.c.setStrokeColorRGB(0, 0, 0)
        self.c.setLineWidth(0.75)
        self.c.line(self.left, y - 3, self.right, y - 3)
        self.y -= 13

    def row(self, cells: list[str], bold: bool = False, rule: bool = False) -> None:
        if self.need(10):
            self.column_heads()
        y = self.y
        if rule:
            self.c.setStrokeColorRGB(0.5, 0.5, 0.5)
            self.c.setLineWidth(0.5)
            self.c.line(self.edges[1] - 20 * self.mm, y + 8, self.right, y + 8)
        self.text(self.left, y, self.fit(cells[0], self.description_width, 7.5, bold),
                  size=7.5, bold=bold)
        for edge, value in zip(self.edges[1:], cells[1:]):
            if value:
                self.text(edge, y, value, size=7.5, bold=bold, right=True)
        self.y -= 10

    def group_title(self, title: str) -> None:
        if self.need(34):  # the title, a line and a subtotal at least
            self.column_heads()
        y = self.y
        self.c.setFillColorRGB(0.92, 0.92, 0.92)
        self.c.rect(self.left, y - 3, self.right - self.left, 11, stroke=0, fill=1)
        self.c.setFillColorRGB(0, 0, 0)
        self.text(self.left + 1, y, self.fit(title, self.right - self.left - 2, 7.5, True), size=7.5, bold=True)
        self.y -= 12

    def summary(self) -> None:
        mm, labels, doc, language = self.mm, self.labels, self.doc, self.language
        rows = len(doc.vat)
        height = (rows + 2) * 13 + 3 * 13 + 30 * mm
        self.need(height)
        self.y -= 6 * mm
        start = self.right - 120 * mm
        columns = [self.right - 64 * mm, self.right - 32 * mm, self.right]
        y = self.y
        self.text(start, y, labels["vat_summary"], size=9, bold=True)
        y -= 13
        self.text(start, y, labels["rate"], size=8, bold=True)
        for edge, key in zip(columns, ("base", "vat", "incl")):
            self.text(edge, y, labels[key], size=8, bold=True, right=True)
        self.c.setStrokeColorRGB(0, 0, 0)
        self.c.setLineWidth(0.75)
        self.c.line(start, y - 3, self.right, y - 3)
        y -= 13
        for row in doc.vat:
            self.text(start, y, f"{_number(row.rate, 2, language)} %", size=8)
            for edge, value in zip(columns, (row.base, row.vat, row.total)):
                self.text(edge, y, money(value, language), size=8, right=True)
            y -= 11
        y -= 4 * mm
        totals = [(labels["total_excl"], doc.total_excl_vat), (labels["total_vat"], doc.total_vat)]
        for key, value in totals:
            self.text(self.right - 72 * mm, y, key, size=9)
            self.text(self.right, y, money(value, language), size=9, right=True)
            y -= 13
        self.c.setLineWidth(1)
        self.c.line(self.right - 72 * mm, y + 10, self.right, y + 10)
        self.text(self.right - 72 * mm, y - 2, labels["total_incl"], size=11, bold=True)
        self.text(self.right, y - 2, money(doc.total_incl_vat, language), size=11, bold=True, right=True)
        y -= 12 * mm
        pay = labels["pay"].format(total=money(doc.total_incl_vat, language), due=_date(doc.due_date, language),
                                   number=doc.number)
        self.text(self.left, y, self.fit(pay, self.right - self.left, 8.5), size=8.5)
        y -= 12
        self.text(self.left, y, self.fit(labels["note"], self.right - self.left, 7.5), size=7.5)
        self.y = y


def render_invoice_pdf(document: InvoiceDocument) -> bytes:
    """The invoice as PDF bytes (unsigned)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    _register_fonts()
    language = document.language if document.language in LANGUAGES else "en"
    with use_language(language):  # the customer's
        labels = {key: _(text) for key, text in LABELS.items()}
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1, initialFontName=FONT, initialFontSize=8)
    canvas.setTitle(f"{labels['invoice'].title()} {document.number}")
    canvas.setAuthor(document.issuer.name)
    canvas.setSubject(f"{document.customer.name} {document.customer_number}")
    canvas.setCreator("Cards Online")
    page = _Page(canvas, document, labels, language)
    page.head()
    page.column_heads()
    for group in document.groups:
        page.group_title(_card_title(group, labels))
        for line in group.lines:
            page.row([line.description, _quantity(line, language), _number(line.amount_excl_vat, 2, language),
                      _number(line.vat_rate, 2, language), _number(line.vat_amount, 2, language),
                      _number(line.amount_incl_vat, 2, language)])
        page.row([labels["subtotal"], "", _number(group.total_excl_vat, 2, language), "",
                  _number(group.total_vat, 2, language), _number(group.total_incl_vat, 2, language)],
                 bold=True, rule=True)
    page.summary()
    page.footer()
    page.flush_text()
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
