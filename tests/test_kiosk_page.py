"""The kiosk page as the server sends it (Flask test client, no browser).

What a browser test cannot cheaply prove on every run: the page and its assets reference
nothing outside this server (the kiosk runs offline, and a CDN would leak who checks in),
nothing inline that a strict Content-Security-Policy (script-src 'self'; style-src 'self')
would block, the video element Safari and iOS need, and the accessible landmarks.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
KIOSK_JS = REPO_ROOT / "static" / "js" / "kiosk.js"
KIOSK_CSS = REPO_ROOT / "static" / "css" / "kiosk.css"

# Any scheme-qualified or protocol-relative URL. SVG/XML namespace URIs are identifiers,
# not fetches, so they are allowed.
EXTERNAL_URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)
NAMESPACE_URI = re.compile(r"http://www\.w3\.org/[0-9]{4}/(?:svg|xlink|XML/[0-9]{4}/namespace)")


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts: list[str] = []
        self.inline_styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "script" and data.strip():
            self.inline_scripts.append(data)
        elif self._in == "style" and data.strip():
            self.inline_styles.append(data)

    def find(self, tag: str | None = None, **attrs) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.elements
            if (tag is None or t == tag) and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


@pytest.fixture
def page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    parser = PageParser()
    parser.feed(response.get_data(as_text=True))
    parser.html = response.get_data(as_text=True)
    return parser


def external_urls(text: str) -> list[str]:
    return [m.group(0) for m in EXTERNAL_URL.finditer(NAMESPACE_URI.sub("", text))]


def test_video_element_plays_inline_muted_and_automatically(page):
    (video,) = page.find("video")
    # playsinline: iOS Safari otherwise opens the stream full screen; muted + autoplay:
    # every browser allows a muted video to start without a tap.
    for attribute in ("autoplay", "muted", "playsinline"):
        assert attribute in video, f"<video> lacks {attribute}"
    assert video["id"] == "camera"


def test_page_loads_only_its_own_script_and_stylesheet(page):
    scripts = page.find("script")
    assert [s.get("src") for s in scripts] == ["/static/js/kiosk.js"]
    assert page.inline_scripts == []
    stylesheets = [a["href"] for a in page.find("link") if a.get("rel") == "stylesheet"]
    assert stylesheets == ["/static/css/kiosk.css"]
    assert page.inline_styles == []


def test_no_inline_event_handlers_or_style_attributes(page):
    # A strict CSP (script-src 'self'; style-src 'self') blocks both.
    for tag, attrs in page.elements:
        handlers = [name for name in attrs if name.startswith("on")]
        assert not handlers, f"<{tag}> has inline handlers {handlers}"
        assert "style" not in attrs, f"<{tag}> has a style attribute"
    assert "javascript:" not in page.html.lower()


def test_no_external_urls_in_the_page_or_its_assets(client, page):
    assert external_urls(page.html) == []
    for asset in ("/static/js/kiosk.js", "/static/css/kiosk.css", "/static/img/kiosk-icon.svg"):
        response = client.get(asset)
        assert response.status_code == 200, asset
        text = response.get_data(as_text=True)
        assert external_urls(text) == [], asset
        assert "@import" not in text and "fonts.googleapis" not in text


def test_the_detector_for_external_urls_can_fail():
    assert external_urls('<script src="https://cdn.jsdelivr.net/npm/x.js"></script>') != []
    assert external_urls("url(//fonts.gstatic.com/a.woff2)") != []
    assert external_urls('<svg xmlns="http://www.w3.org/2000/svg"></svg>') == []


def test_prompt_is_a_polite_live_region_and_state_is_written_out(page):
    (prompt,) = page.find(id="prompt")
    assert prompt.get("aria-live") == "polite"
    assert page.find(id="state-label"), "the state must be shown as text, not only colour"
    steps = [a.get("data-step") for a in page.find("li") if a.get("data-step")]
    assert steps == ["look", "confirm", "smile", "done"]
    # One word each: readable from 2 m in one row (the gestures are taught by the pictograms).
    for label in ("Look</li>", "Confirm</li>", "Smile</li>", "Done</li>"):
        assert label in page.html
    (alert,) = page.find(id="camera-error")
    assert alert.get("role") == "alert"


def test_the_gestures_are_taught_with_a_pictogram_and_a_sentence_each(page):
    items = [li for li in page.find("li") if li.get("data-gesture")]
    assert [li["data-gesture"] for li in items] == ["O", "X", "capture"]
    for word in ("Join your hands above your head.", "Cross your forearms on your chest.",
                 "Both arms up and apart, like a V."):
        assert word in page.html
    assert page.html.count('<svg class="pictogram"') == 3


def test_the_touch_answer_is_on_the_page_only_where_the_site_turned_it_on(app, client, monkeypatch):
    assert 'data-answer="yes"' not in client.get("/").get_data(as_text=True)
    monkeypatch.setitem(app.config, "KIOSK_TOUCH_CONFIRM", True)
    html = client.get("/").get_data(as_text=True)
    assert 'data-answer="yes"' in html and 'data-answer="no"' in html


def test_api_urls_and_kiosk_id_are_handed_to_the_script(app, page):
    (body,) = page.find("body")
    assert body["data-frames-url"] == "/api/v1/kiosk/frames"
    assert body["data-reset-url"] == "/api/v1/kiosk/reset"
    assert body["data-state-url"] == "/api/v1/kiosk/state"
    assert body["data-kiosk-id"] == app.config["KIOSK_ID"]


def test_kiosk_id_is_escaped(app, client):
    app.config["KIOSK_ID"] = '"><script>alert(1)</script>'
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html


def test_script_keeps_the_frame_loop_rules():
    """Static checks on kiosk.js for rules a regression would silently break (the browser
    test proves the behaviour; these name the rule that broke)."""
    source = KIOSK_JS.read_text()
    assert "requestAnimationFrame" in source
    assert "clearRect" in source, "the overlay must be cleared before every redraw"
    assert "loop.inFlight" in source, "at most one frame request in flight"
    assert '"image/jpeg"' in source
    assert "toBlob" in source and "toDataURL" in source, "toBlob with a fallback"
    assert "isSecureContext" in source
    for error in ("NotAllowedError", "NotFoundError", "NotReadableError"):
        assert error in source
    assert "X-Kiosk-Token" not in source, "device tokens ride in the HttpOnly cookie, never in page scripts"
    # Engines the kiosk must run on lack these, or a CSP forbids them.
    for forbidden in ("new OffscreenCanvas", "eval(", "new Function", "innerHTML", "document.write"):
        assert forbidden not in source, forbidden


def test_stylesheet_handles_portrait_and_landscape():
    css = KIOSK_CSS.read_text()
    assert "orientation: portrait" in css
    assert "object-fit: cover" in css
    assert "[hidden]" in css
