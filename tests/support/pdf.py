"""The text of the PDFs the app writes (fpdf2, uncompressed), for assertions on what a reader sees."""

from __future__ import annotations

import re


def _unescape(literal: bytes) -> bytes:
    out, i = bytearray(), 0
    escapes = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}
    while i < len(literal):
        c = literal[i]
        if c != ord("\\"):
            out.append(c)
            i += 1
            continue
        nxt = literal[i + 1]
        if nxt in escapes:
            out += escapes[nxt]
            i += 2
        elif chr(nxt).isdigit():
            digits = re.match(rb"[0-7]{1,3}", literal[i + 1:i + 4]).group(0)
            out.append(int(digits, 8))
            i += 1 + len(digits)
        elif nxt in (ord("\n"), ord("\r")):
            i += 2
        else:
            out.append(nxt)
            i += 2
    return bytes(out)





def pdf_text(data: bytes) -> str:
    """The text of an uncompressed fpdf2 PDF, one shown string per line, lines joined by spaces."""
    objects = {int(m.group(1)): m.group(2) for m in re.finditer(rb"(\d+) 0 obj(.*?)endobj", data, re.S)}
    cmaps: dict[bytes, dict[int, str] | None] = {}
    for body in objects.values():
        fonts = re.search(rb"/Font\s*<<(.*?)>>", body, re.S)
        if not fonts:
            continue
        for name, ref in re.findall(rb"/(F\d+)\s+(\d+) 0 R", fonts.group(1)):
            to_unicode = re.search(rb"/ToUnicode\s+(\d+) 0 R", objects[int(ref)])
            cmap = None
            if to_unicode:
                cmap = {}
                stream = objects[int(to_unicode.group(1))]
                for block in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
                    for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                        cmap[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
            cmaps[name] = cmap
    lines = []
    for ref in re.findall(rb"/Contents\s+(\d+) 0 R", data):
        stream = objects[int(ref)].split(b"stream", 1)[1].rsplit(b"endstream", 1)[0]
        font = None
        for m in re.finditer(rb"/(F\d+)\s+[\d.]+\s+Tf|\(((?:\\.|[^\\)])*)\)\s*Tj|\[(.*?)\]\s*TJ", stream, re.S):
            if m.group(1):
                font = m.group(1)
                continue
            # Tj shows one string; TJ an array of strings and spacing numbers (justified text).
            parts = [m.group(2)] if m.group(2) is not None else re.findall(rb"\(((?:\\.|[^\\)])*)\)", m.group(3))
            shown = []
            for part in parts:
                raw = _unescape(part)
                cmap = cmaps.get(font)
                if cmap is None:
                    shown.append(raw.decode("latin-1"))
                else:
                    shown.append("".join(cmap.get(int.from_bytes(raw[i:i + 2], "big"), "")
                                         for i in range(0, len(raw), 2)))
            lines.append("".join(shown))
    return re.sub(r"\s+", " ", " ".join(lines))

