"""Small documents for file search tests: a few topics that differ in words and meaning, and a
minimal PDF written by hand (pypdf reads it; no PDF writer needed)."""

from __future__ import annotations

DOCUMENTS = {
    "volcanoes.md": (
        "# Volcanoes\n\nA volcano is an opening in the crust of a planet where molten rock, "
        "ash and gases escape. Magma that reaches the surface is called lava. Eruptions of "
        "Mount Vesuvius buried Pompeii in the year 79."),
    "sourdough.txt": (
        "Sourdough bread rises thanks to a starter: wild yeast and lactic acid bacteria kept "
        "alive with flour and water. A long cold fermentation gives the loaf its sour taste "
        "and open crumb. Bake it in a hot Dutch oven."),
    "tides.txt": (
        "Ocean tides are caused by the gravitational pull of the Moon and, to a lesser "
        "degree, the Sun. Most coasts see two high tides and two low tides every lunar day. "
        "Spring tides happen at full and new moon."),
}


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` in Helvetica."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)
