"""Kernel-side checks of the rich output a worker sends (display data and cell values).

The worker is untrusted, so nothing it sends reaches the frontend unchecked: only whitelisted
MIME types; text decoded as UTF-8 (bad bytes become U+FFFD); application/json parsed here, as
data, and refused when it is too deep; PNG and JPEG bytes checked for their structure and
base64-encoded here (the worker sends raw bytes, never text the frontend would trust as
base64); SVG parsed and refused when active; HTML rebuilt from a whitelist, Markdown's raw
HTML and LaTeX's links made inert (frontends trust a live session's outputs and run their
scripts), with one notice per cell when something was removed; every output and every cell
under a size cap. A refused output is replaced by one line
on stderr saying why, so the user is never left wondering where it went.

Every check is linear in the output's size and bounded in memory, and none costs the kernel
much more than the worker paid to make the output: JSON text is counted (values, without their
strings) before it is parsed, so no flood of tiny values becomes millions of Python objects;
image checks skip fill bytes with one C-level match and cap how many chunks or segments they
walk; slices are memoryviews, never copies.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from typing import Any, NoReturn
from xml.parsers import expat

import nh3

from safekernel.errors import SafeKernelError
from safekernel.limits import CELL_DISPLAY_BYTES, DISPLAY_BYTES, JSON_DEPTH, JSON_VALUES

TEXT_MIME = frozenset({"text/plain", "text/html", "text/markdown", "text/latex", "image/svg+xml"})
IMAGE_MIME = frozenset({"image/png", "image/jpeg"})
JSON_MIME = "application/json"
ALLOWED_MIME = TEXT_MIME | IMAGE_MIME | {JSON_MIME}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: a PNG's dimensions past this are refused (browsers would allocate width x height x 4 bytes)
MAX_IMAGE_SIDE = 20_000
#: chunks a PNG may have: encoders write IDAT in 8-64 KB chunks, so a real 8 MB PNG has about
#: a thousand; each costs the kernel a Python-level step, a 12-byte chunk the worker very little
MAX_PNG_CHUNKS = 10_000
#: segments a JPEG may have before its scan (real ones have a dozen or two)
MAX_JPEG_SEGMENTS = 1_000

#: one JSON string, escapes included; the closing quote is optional so that an unterminated
#: string ends the match at the end of the text instead of being retried from every quote
#: inside it (which would be quadratic). The two branches start with different characters,
#: so the engine never backtracks.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_FILL = re.compile(rb"\xff+")

SVG_NS = "http://www.w3.org/2000/svg"
XHTML_NS = "http://www.w3.org/1999/xhtml"
#: the elements an SVG output may have: SVG's static drawing, text, paint servers and filters.
#: Not script, foreignObject (it embeds HTML), the animation elements (`set` can rewrite an
#: href into a javascript: URL), nor any HTML element (inline in a page, an <img> or <embed>
#: inside <svg> leaves SVG and is HTML again)
_SVG_ELEMENT_NAMES = (
    "svg g defs symbol use switch view a path rect circle ellipse line polyline polygon text "
    "tspan textPath title desc metadata style clipPath mask pattern marker linearGradient "
    "radialGradient stop image filter feBlend feColorMatrix feComponentTransfer feComposite "
    "feConvolveMatrix feDiffuseLighting feDisplacementMap feDistantLight feDropShadow feFlood "
    "feFuncA feFuncB feFuncG feFuncR feGaussianBlur feImage feMerge feMergeNode feMorphology "
    "feOffset fePointLight feSpecularLighting feSpotLight feTile feTurbulence"
)
SVG_ELEMENTS = frozenset(_SVG_ELEMENT_NAMES.split(" "))
#: what an href (or a CSS url()) may point at: a part of the same image, or an embedded image
_LOCAL = r"\s*(#|data:image/(png|jpeg|gif);base64,)"
_LOCAL_REF = re.compile(_LOCAL, re.IGNORECASE)
#: a CSS url() to anything else (one C-level search however many url()s the text has)
_FOREIGN_URL = re.compile(rf"url\(\s*+['\"]?+(?!{_LOCAL})", re.IGNORECASE)
#: elements and attributes an SVG output may have in all (each costs the kernel a Python-level
#: step: 100,000 take it ~0.3 s)
MAX_SVG_ITEMS = 100_000

#: the HTML an output may keep (ammonia, through nh3, parses it as a browser would and rebuilds
#: it from this whitelist): document structure, tables, text formatting, links and images.
#: Not script, style, iframe/object/embed, form controls, base/meta/link, nor inline SVG or
#: MathML (their content is dropped with them)
_HTML_TAG_NAMES = (
    "a abbr b blockquote br caption code col colgroup dd del details div dl dt em h1 h2 h3 "
    "h4 h5 h6 hr i img ins kbd li mark ol p pre q s samp small span strong sub summary sup "
    "table tbody td tfoot th thead tr tt u ul var"
)
HTML_TAGS = frozenset(_HTML_TAG_NAMES.split(" "))
#: elements dropped with everything inside them (the others lose only their tags)
_HTML_DROPPED_NAMES = (
    "script style iframe frame frameset object embed applet noscript noembed template svg "
    "math textarea select button form input base meta link title xmp plaintext"
)
_HTML_DROPPED = frozenset(_HTML_DROPPED_NAMES.split(" "))
_CELL = frozenset({"align", "valign", "colspan", "rowspan", "scope"})
HTML_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"class", "id", "title", "style", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "table": {"border", "align", "cellpadding", "cellspacing", "width"},
    "td": set(_CELL) | {"width"},
    "th": set(_CELL) | {"width"},
    "tr": {"align", "valign"},
    "col": {"span", "width", "align"},
    "colgroup": {"span", "width", "align"},
    "ol": {"start", "type", "reversed"},
    "li": {"value"},
    "details": {"open"},
    "p": {"align"},
    "div": {"align"},
}
#: CSS properties a style attribute may keep: none of them takes a url() or moves the element
#: out of its cell's output (position, margins: a page-sized box could cover the frontend)
_HTML_STYLE_NAMES = (
    "color background-color text-align vertical-align font-weight font-style font-size "
    "font-family text-decoration white-space padding padding-left padding-right padding-top "
    "padding-bottom border border-collapse border-spacing border-color border-style "
    "border-width border-left border-right border-top border-bottom text-transform line-height"
)
HTML_STYLE = frozenset(_HTML_STYLE_NAMES.split(" "))
#: the ids of an output is prefixed so that it cannot clobber the page's own (an element with
#: id "x" is also window.x); in-page links to it are rewritten to match
ID_PREFIX = "user-content-"
#: an embedded image (`data:` is refused for every other use; a data: HTML document is a page)
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif);base64,", re.IGNORECASE)
#: signs that the HTML had active content, for the one notice per cell (the sanitiser removes
#: what it does not know either way; this only decides whether the user is told)
_ACTIVE_HTML = re.compile(
    r"<\s*/?\s*(script|iframe|frame|object|embed|applet|form|base|meta|link|svg|math)\b"
    r"|\bon[a-z]+\s*=|(java|vb)script\s*:",
    re.IGNORECASE,
)
#: the notice for a cell whose HTML, Markdown or LaTeX lost active content
ACTIVE_REMOVED = (
    "removed a script or other active content from this cell's {what} output (outputs cannot "
    "run code in your browser)"
)
#: Markdown: a `<` that would start raw HTML (a tag, comment, declaration or processing
#: instruction), and an `&` that would start a character reference (which could spell a
#: `<` or a `javascript:` in a link); both are made literal text
_MD_RAW = re.compile(r"<(?=[A-Za-z/!?])")
_MD_REFERENCE = re.compile(r"&(?=#|[A-Za-z][A-Za-z0-9]*;)")
#: a script URL's scheme where a link destination could hold it (not followed by a space: a
#: destination cannot hold one, so prose like "JavaScript: ..." is left alone)
_SCRIPT_SCHEME = re.compile(r"(?<![\w+.-])((?:java|vb)script)(\\?:)(?!\s)", re.IGNORECASE)
#: LaTeX (MathJax): the macros that link, style, name elements or load extensions, unless it
#: is an \href/\url to an http(s) or mailto address written out in place
_LATEX_ACTIVE = re.compile(
    r"\\(?:(?:href|url)(?![A-Za-z])(?!\s*\{\s*(?:https?://|mailto:))"
    r"|(?:style|class|cssId|require)(?![A-Za-z]))"
)


class Refused(SafeKernelError):
    """An output the kernel will not pass on; str() is the one line the user sees. `kind`
    groups refusals for the cell's notices (the kernel explains each kind once)."""

    def __init__(self, message: str, kind: str = "refused") -> None:
        super().__init__(message)
        self.kind = kind


class OutputCheck:
    """Checks one cell's rich outputs and keeps its running total against the per-cell cap."""

    def __init__(self, max_output: int = DISPLAY_BYTES, max_cell: int = CELL_DISPLAY_BYTES) -> None:
        self.max_output = max_output
        self.max_cell = max_cell
        self.used = 0
        #: the kinds of output that lost active content in this cell, each told once
        self._sanitised: set[str] = set()
        self._notes: list[tuple[str, str]] = []

    def notes(self) -> list[tuple[str, str]]:
        """(kind, text) of the notices owed since the last call: the first time each kind of
        output of this cell had something removed (the output itself is still shown)."""
        notes, self._notes = self._notes, []
        return notes

    def bundle(self, data: dict[str, Any]) -> dict[str, Any]:
        """A frontend-ready MIME bundle from a worker's data, or Refused with the reason."""
        size = sum(len(v) if isinstance(v, str | bytes) else 0 for v in data.values())
        if size > self.max_output:
            raise Refused(
                f"an output of {_mb(size)} was refused: one output may be at most "
                f"{_mb(self.max_output)}",
                "too-large",
            )
        if self.used + size > self.max_cell:
            raise Refused(
                f"an output was refused: this cell's rich output passed {_mb(self.max_cell)}; "
                "split the work over several cells",
                "cell-total",
            )
        bundle: dict[str, Any] = {}
        for mime, value in data.items():
            if mime not in ALLOWED_MIME:
                raise Refused(
                    f"an output of type {mime[:100]!r} was refused (not an allowed type)", "type"
                )
            if not isinstance(value, str | bytes):
                raise Refused(f"a {mime} output was refused: it is not text or bytes", mime)
            try:
                bundle[mime], removed = _checked(mime, value)
            except Refused as refused:
                raise Refused(str(refused), mime) from None
            if removed and mime not in self._sanitised:
                self._sanitised.add(mime)
                what = {"text/html": "HTML", "text/markdown": "Markdown"}.get(mime, "LaTeX")
                self._notes.append(("sanitised " + mime, ACTIVE_REMOVED.format(what=what)))
        self.used += size
        return bundle


def _checked(mime: str, value: str | bytes) -> tuple[Any, bool]:
    """The frontend-ready value, and whether active content was removed from it."""
    if mime in IMAGE_MIME:
        if not isinstance(value, bytes):
            raise Refused(f"a {mime} output was refused: the worker must send the image's bytes")
        if mime == "image/png":
            check_png(value)
        else:
            check_jpeg(value)
        return base64.b64encode(value).decode("ascii"), False
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    if mime == JSON_MIME:
        return parse_json(text), False
    if mime == "image/svg+xml":
        check_svg(text)
    elif mime == "text/html":
        # frontends typeset `$...$` in HTML and Markdown outputs too (JupyterLab does), so
        # LaTeX's rule applies to all three
        html, latex_removed = inert_latex(sanitise_html(text))
        return html, latex_removed or bool(_ACTIVE_HTML.search(text))
    elif mime == "text/markdown":
        markdown, html_removed = inert_markdown(text)
        markdown, latex_removed = inert_latex(markdown)
        return markdown, html_removed or latex_removed
    elif mime == "text/latex":
        return inert_latex(text)
    return text, False


def sanitise_html(text: str) -> str:
    """The HTML rebuilt from the whitelist (HTML_TAGS, HTML_ATTRIBUTES, HTML_STYLE): no script,
    event handler, frame, form, style sheet, inline SVG or MathML, and links and images only
    to http(s) (links also mailto:, images also embedded PNG/JPEG/GIF). Frontends trust a live
    session's outputs and run what is in them (JupyterLab does), so nothing active may reach
    them. Comments are dropped; links get rel="noopener noreferrer"; ids get ID_PREFIX."""
    return _CLEANER.clean(text)


def _attribute(element: str, attribute: str, value: str) -> str | None:
    """nh3's filter of every attribute the whitelist keeps (the URL schemes are checked by
    ammonia before): data: only for an image's embedded PNG/JPEG/GIF; in-page links follow
    the ids' prefix; style only without url(), escapes or expressions."""
    if attribute in ("href", "src"):
        stripped = value.lstrip()
        if stripped[:5].lower() == "data:":
            return value if element == "img" and _DATA_IMAGE.match(stripped) else None
        if stripped.startswith("#") and not stripped.startswith("#" + ID_PREFIX):
            return "#" + ID_PREFIX + stripped[1:]
    elif attribute == "style":
        lowered = value.lower()
        if "url(" in lowered or "\\" in value or "expression" in lowered or "@" in value:
            return None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(HTML_TAGS),
    clean_content_tags=set(_HTML_DROPPED),
    attributes={key: set(value) for key, value in HTML_ATTRIBUTES.items()},
    attribute_filter=_attribute,
    strip_comments=True,
    link_rel="noopener noreferrer",
    url_schemes={"http", "https", "mailto", "data"},
    filter_style_properties=set(HTML_STYLE),
    id_prefix=ID_PREFIX,
)


def inert_markdown(text: str) -> tuple[str, bool]:
    """Markdown whose raw HTML is literal text (frontends render it, scripts and all: a
    `<img onerror>` in a live JupyterLab output runs) and whose links cannot be javascript:.
    Markdown's own syntax (`>` quotes, `a < b`, code, links to http(s)) is untouched; a `<`
    that starts a tag shows as `&lt;` inside a code span (the cost of not parsing Markdown
    here). Returns the text and whether anything was changed."""
    inert = _MD_RAW.sub("&lt;", _MD_REFERENCE.sub("&amp;", text))
    inert = _SCRIPT_SCHEME.sub(r"\1-blocked\2", inert)
    return inert, inert != text and bool(_ACTIVE_HTML.search(text))


def inert_latex(text: str) -> tuple[str, bool]:
    """LaTeX whose MathJax macros cannot link anywhere but http(s)/mailto, nor style, name or
    load anything: each such macro becomes \\text (its argument is shown as text)."""
    inert = _LATEX_ACTIVE.sub(r"\\text", text)
    return inert, inert != text


def metadata(raw: dict[str, Any], bundle: dict[str, Any]) -> dict[str, Any]:
    """Only what frontends use from us: an image's width and height, as positive integers."""
    clean: dict[str, Any] = {}
    for mime, fields in raw.items():
        if mime not in bundle or mime not in IMAGE_MIME or not isinstance(fields, dict):
            continue
        size = {
            key: value
            for key, value in fields.items()
            if key in ("width", "height")
            and isinstance(value, int)
            and not isinstance(value, bool)
            and 0 < value <= MAX_IMAGE_SIDE
        }
        if size:
            clean[mime] = size
    return clean


def parse_json(text: str) -> Any:
    """Parse JSON text as data; refuse NaN/Infinity, bad syntax, more than JSON_VALUES values
    and nesting past JSON_DEPTH."""
    _check_json_size(text)
    try:
        # the C parser stops at the interpreter's recursion limit, so a flood of "[" is cheap
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        value, deep = None, True
    except ValueError as exc:
        raise Refused(
            f"an application/json output was refused: it is not valid JSON ({str(exc)[:200]})"
        ) from None
    else:
        deep = _deeper_than(value, JSON_DEPTH)
    if deep:
        raise _too_deep()
    return value


def _without_strings(text: str) -> str:
    return _JSON_STRING.sub('""', text)


def _structural(text: str) -> int:
    return 1 + text.count(",") + text.count(":") + text.count("[") + text.count("{")


def _check_json_size(text: str) -> None:
    # json.loads builds one Python object per value: 7.8 MB of "[]," is 2.6 million lists
    # (~370 MB and seconds of the kernel's CPU), for a few Lua string operations in the worker
    if _structural(text) <= JSON_VALUES:
        return
    bare = _without_strings(text)
    if _structural(bare) <= JSON_VALUES:
        return
    if "[" * (JSON_DEPTH + 1) in bare or "{" * (JSON_DEPTH + 1) in bare:
        raise _too_deep()
    raise Refused(
        f"an application/json output was refused: it holds more than {JSON_VALUES:,} "
        "values; show a summary, or a table"
    )


def _too_deep() -> Refused:
    return Refused(
        f"an application/json output was refused: it is nested deeper than {JSON_DEPTH} "
        "levels; show a flatter summary"
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether parsed JSON nests lists/objects more than `limit` deep (iterative walk; the
    value has at most JSON_VALUES values, see _check_json_size)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def check_svg(text: str) -> None:
    """A well-formed SVG image of SVG_ELEMENTS only (metadata may hold other XML, never HTML),
    with no event handler, no processing instruction, CDATA section or internal DTD subset
    (which an HTML parser reads differently from an XML one, so a checker could be shown one
    document and the page another), no link or CSS url() outside the image, no CSS escapes or
    @import. Frontends that put an SVG inline in their page would otherwise run its scripts
    and fetch what it references."""
    check = _SvgCheck()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.namespace_prefixes = True
    parser.StartElementHandler = check.start
    parser.EndElementHandler = check.end
    parser.CharacterDataHandler = check.characters
    parser.StartDoctypeDeclHandler = check.doctype
    parser.StartNamespaceDeclHandler = check.namespace
    parser.ProcessingInstructionHandler = check.never
    parser.StartCdataSectionHandler = check.never
    parser.EntityDeclHandler = check.never
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        _refuse_svg(f"it is not well-formed XML ({str(exc)[:100]})")
    if check.items == 0:
        _refuse_svg("it has no <svg> element")


def _refuse_svg(why: str) -> NoReturn:
    raise Refused("an image/svg+xml output was refused: " + why)


def _check_css(value: str) -> None:
    lowered = value.lower()
    if "\\" in value or "@import" in lowered or "expression(" in lowered:
        _refuse_svg("its CSS has escapes or imports")
    if _FOREIGN_URL.search(value):
        _refuse_svg("it refers to something outside the image")


class _SvgCheck:
    """expat's callbacks for check_svg; each refuses by raising Refused."""

    def __init__(self) -> None:
        self.items = 0
        #: depth inside <metadata> (0: outside), and inside <style>
        self.metadata = 0
        self.style = 0
        #: the text of the <style> being read: expat may hand it over in pieces (and a url(
        #: split by a child element is one url( to the page), so it is checked whole
        self.css: list[str] = []

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.items += 1 + len(attributes)
        if self.items > MAX_SVG_ITEMS:
            _refuse_svg(f"it has more than {MAX_SVG_ITEMS:,} elements and attributes")
        space, local, prefix = _split(name)
        if self.metadata:
            # RDF and the like: fine under a prefix, in any namespace but SVG's and HTML's
            if not prefix or space in (SVG_NS, XHTML_NS):
                _refuse_svg(f"its metadata has a <{local[:50]}> element")
            self.metadata += 1
        elif space not in ("", SVG_NS) or local not in SVG_ELEMENTS:
            _refuse_svg(f"it has a <{local[:50]}> element")
        elif local == "metadata":
            self.metadata = 1
        elif local == "style":
            self.style += 1
        for key, value in attributes.items():
            attribute = _split(key)[1]
            if attribute.lower().startswith("on"):
                _refuse_svg("it has an event handler")
            if attribute == "href" and not _LOCAL_REF.match(value):
                _refuse_svg("it links outside the image")
            if attribute == "style" or "url(" in value.lower():
                _check_css(value)

    def end(self, name: str) -> None:
        if self.metadata:
            self.metadata -= 1
        elif _split(name)[1] == "style":
            self.style -= 1
            _check_css("".join(self.css))
            self.css.clear()

    def characters(self, data: str) -> None:
        if self.style:
            self.css.append(data)

    def doctype(self, name: str, system: str | None, public: str | None, internal: int) -> None:
        if internal:
            _refuse_svg("it has an internal DTD subset")

    def namespace(self, prefix: str | None, uri: str | None) -> None:
        # a namespace with a space in it would shift the parts of expat's names (_split)
        if uri is not None and (" " in uri or not uri.isprintable()):
            _refuse_svg("it declares a malformed namespace")

    def never(self, *args: Any) -> None:
        _refuse_svg("it has processing instructions, CDATA sections or entity declarations")


def _split(name: str) -> tuple[str, str, str]:
    """expat's "namespace local prefix" name (parts absent when not written) as three parts."""
    parts = name.split(" ")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return parts[0], parts[1], parts[2]


def check_png(data: bytes) -> None:
    """The PNG signature, an IHDR first, every chunk's length and CRC, and an IEND last."""
    if not data.startswith(PNG_SIGNATURE):
        raise Refused("an image/png output was refused: the bytes are not a PNG (no signature)")
    view = memoryview(data)
    pos, chunks, ended = len(PNG_SIGNATURE), 0, False
    while pos < len(data) and not ended:
        if pos + 12 > len(data):
            raise Refused("an image/png output was refused: the PNG is cut short")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if end + 4 > len(data):
            raise Refused("an image/png output was refused: the PNG is cut short")
        (crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(view[pos + 4 : end]) != crc:
            raise Refused(f"an image/png output was refused: bad checksum in its {_name(kind)}")
        if chunks == 0:
            _check_ihdr(kind, bytes(view[pos + 8 : end]))
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise Refused(
                f"an image/png output was refused: it has more than {MAX_PNG_CHUNKS:,} chunks"
            )
        ended = kind == b"IEND"
        pos = end + 4
    if not ended:
        raise Refused("an image/png output was refused: the PNG has no IEND chunk")


def _check_ihdr(kind: bytes, body: bytes) -> None:
    if kind != b"IHDR" or len(body) != 13:
        raise Refused("an image/png output was refused: the PNG does not start with IHDR")
    width, height = struct.unpack_from(">II", body)
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
        raise Refused(
            f"an image/png output was refused: {width} x {height} pixels is outside 1.."
            f"{MAX_IMAGE_SIDE} per side"
        )


def check_jpeg(data: bytes) -> None:
    """SOI, well-formed segments up to the scan, a frame header before it, and EOI at the end."""
    bad = "an image/jpeg output was refused: "
    if not data.startswith(b"\xff\xd8\xff"):
        raise Refused(bad + "the bytes are not a JPEG (no SOI marker)")
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise Refused(bad + "the JPEG does not end with an EOI marker")
    pos, frame, segments = 2, False, 0
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise Refused(bad + "its segments are malformed")
        # any number of 0xFF fill bytes may precede a marker: skip the run in one C-level
        # match (one Python step per fill byte cost the kernel ~1 s per 8 MB)
        fill = _FILL.match(data, pos)
        assert fill is not None  # data[pos] is 0xFF
        pos = fill.end() - 1
        if pos + 4 > len(data):
            raise Refused(bad + "its segments are malformed")
        marker = data[pos + 1]
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise Refused(bad + f"it has more than {MAX_JPEG_SEGMENTS:,} segments before its scan")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > len(data):
            raise Refused(bad + "its segments are malformed")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            frame = _check_sof(data[pos + 4 : pos + 2 + length], bad)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos += 2 + length
    if not frame:
        raise Refused(bad + "it has no frame header")


def _check_sof(body: bytes, bad: str) -> bool:
    if len(body) < 6:
        raise Refused(bad + "its frame header is cut short")
    height, width = struct.unpack_from(">HH", body, 1)
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
        raise Refused(bad + f"{width} x {height} pixels is outside 1..{MAX_IMAGE_SIDE} per side")
    return True


def _name(kind: bytes) -> str:
    return kind.decode("ascii", errors="replace") + " chunk"


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
