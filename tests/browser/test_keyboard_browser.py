"""The admin console with the keyboard alone, in a real browser (headless Debian Chromium driven by
Playwright, the real app under gunicorn over HTTPS; fixtures in tests/browser/conftest.py).

Only keys are pressed (Tab, Shift+Tab, Enter, Space, arrow keys, Escape, typed text): no mouse,
no element.click(), no form filled by script. An administrator signs in, reaches every page of the
main navigation, adds a person, opens a timesheet and adds a missed punch with a typed reason,
switches the console's language, opens and closes (Escape) a disclosure, and signs out. On every
page: the skip link takes focus to the main content; Tab visits every control in the order of the
page and leaves the page after the last one (no trap), Shift+Tab walks back the same way; the
focused control always shows a focus indicator (a computed outline or box-shadow) and is on screen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from console_cli import kiosk_cli

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_USER, ADMIN_PASSWORD = "keyboard-admin", "a long enough passphrase"
SITE = {"KIOSK_TIMEZONE": "Europe/Berlin"}
NAV = ["Dashboard", "People", "Attendance", "Hours", "Reports", "Suspected spoofs", "Devices", "Integrations",
       "Audit", "Settings", "Recognition"]

# What a Tab key should visit on the page now, in document order: one stop per radio group (the
# browser's rule), nothing disabled, hidden, inside a closed <details> (but its summary) or taken
# out of the order with tabindex=-1.
TAB_STOPS = """() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]';
  const shown = (el) => {
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') return false;
    const closed = el.parentElement && el.parentElement.closest('details:not([open])');
    return !closed || (el.tagName === 'SUMMARY' && el.parentElement === closed);
  };
  const seenGroups = new Set();
  const stops = [];
  for (const el of document.querySelectorAll(selector)) {
    if (el.disabled || el.tabIndex < 0 || !shown(el)) continue;
    if (el.type === 'radio') {
      const group = 'radio:' + (el.form ? el.form.id || '' : '') + el.name;
      if (seenGroups.has(group)) continue;
      seenGroups.add(group);
    }
    stops.push(el);
  }
  window.__stops = stops;
  return stops.length;
}"""

# The focused element: which stop it is (radios by group), and whether its focus shows.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const stops = window.__stops || [];
  let index = stops.indexOf(el);
  if (index < 0 && el.type === 'radio') index = stops.findIndex((s) => s.type === 'radio' && s.name === el.name);
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow && style.boxShadow !== 'none';
  const rect = el.getBoundingClientRect();
  const onScreen = rect.width > 0 && rect.height > 0 && rect.bottom > 0 && rect.right > 0
    && rect.top < innerHeight && rect.left < innerWidth;
  // A label around its control holds the control's text too (a select's options): left out.
  const label = el.labels && el.labels[0] && el.labels[0].textContent.replace(el.textContent, '');
  const name = (el.getAttribute('aria-label') || label || el.textContent || el.value || el.name || '')
    .trim().replace(/\\s+/g, ' ').slice(0, 60);
  return {index, tag: el.tagName.toLowerCase(), id: el.id, name, visible: outline || shadow, onScreen,
          inMain: !!el.closest('main'), outline: style.outlineStyle + ' ' + style.outlineWidth,
          shadow: style.boxShadow};
}"""


def focused(page) -> dict | None:
    return page.evaluate(FOCUSED)


def press(page, key: str) -> dict | None:
    """Press a key and return the focused element, checked: its focus is shown and on screen."""
    page.keyboard.press(key)
    now = focused(page)
    if now is not None:
        assert now["visible"], f"{page.url}: no focus indicator on {now} after {key}"
        assert now["onScreen"], f"{page.url}: the focused {now} is off screen after {key}"
    return now


def from_the_top(page) -> None:
    """Put the keyboard where a freshly loaded page has it: before the first stop. (A focused
    element that is not a stop, added for the moment, then removed: the page is left as it was.)"""
    page.evaluate("""() => { window.scrollTo(0, 0);
        document.querySelectorAll('#__top').forEach((old) => old.remove()); const mark = document.createElement('span');
        mark.tabIndex = -1; mark.id = '__top'; document.body.prepend(mark); mark.focus(); }""")


def tab_to(page, name: str, tag: str | None = None, limit: int = 120) -> dict:
    """From the top of the page, Tab forward until the control called ``name`` has focus."""
    page.evaluate(TAB_STOPS)
    from_the_top(page)
    for _ in range(limit):
        now = press(page, "Tab")
        if now and now["name"] == name and (tag is None or now["tag"] == tag):
            return now
    raise AssertionError(f"{page.url}: Tab never reached {name!r} in {limit} presses")


def follow(page, key: str = "Enter") -> None:
    """Press a key that opens another page (a link, a form's submit) and wait for it to load."""
    with page.expect_navigation():
        page.keyboard.press(key)


def walk_the_page(page) -> list[dict]:
    """Tab through the whole page from its top, then Shift+Tab back: every stop once, in document
    order, and out of the page after the last (no trap). Returns the stops in order."""
    count = page.evaluate(TAB_STOPS)
    assert count > 0
    from_the_top(page)
    forward = []
    for _ in range(8 * count + 3):  # a date-time field takes a Tab per part (month, day, ..., its calendar)
        now = press(page, "Tab")
        if now is None:
            break  # focus left the document: past the last stop
        assert now["index"] >= 0, f"{page.url}: Tab reached {now}, which is not a visible control of the page"
        if not forward or forward[-1]["index"] != now["index"]:
            forward.append(now)
    indexes = [s["index"] for s in forward]
    assert indexes == list(range(count)), (
        f"{page.url}: Tab visited stops {indexes}, expected 0..{count - 1} in page order: "
        f"{[s['name'] for s in forward]}")
    # Shift+Tab from past the end comes back to the last stop and walks the same way back.
    backward: list[int] = []
    for _ in range(8 * count + 3):
        now = press(page, "Shift+Tab")
        if backward and now is not None and now["index"] == backward[-1]:
            continue  # another part of the same field
        if now is None or (backward and now["index"] > backward[-1]):
            break  # out of the page before the first stop, or round to the end again
        backward.append(now["index"])
    assert backward == list(reversed(range(count))), f"{page.url}: Shift+Tab visited {backward}"
    return forward


def check_skip_link(page) -> None:
    page.evaluate(TAB_STOPS)
    from_the_top(page)
    first = press(page, "Tab")
    skip = page.locator("a.skip-link").text_content().strip()  # "Skip to content" in the page's language
    assert first["name"] == skip and first["index"] == 0 and first["tag"] == "a", first
    page.keyboard.press("Enter")
    target = page.evaluate("document.activeElement.tagName.toLowerCase()")
    assert target == "main", f"{page.url}: the skip link moved focus to {target}, not the main content"
    after = press(page, "Tab")
    assert after is not None and after["inMain"], f"{page.url}: after the skip link Tab went to {after}"


def test_the_console_works_with_the_keyboard_alone(prepare_data_dir, start_https_app, launch_chromium):
    data_dir = prepare_data_dir("keyboard-console")
    kiosk_cli(data_dir, "admin", "create", ADMIN_USER, "--password-stdin", stdin=ADMIN_PASSWORD + "\n", env=SITE)
    server = start_https_app(data_dir, env=SITE)
    browser = launch_chromium()
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    # Sign in: the page's first stop is the username; Enter in the password field submits.
    page.goto(server.url + "/admin/")
    page.wait_for_url("**/login**")
    walk_the_page(page)
    tab_to(page, "Username")
    page.keyboard.type(ADMIN_USER)
    press(page, "Tab")
    page.keyboard.type(ADMIN_PASSWORD)
    follow(page)
    assert "/login" not in page.url

    # Every page of the main navigation, reached by Tab and Enter from the top of the previous one.
    for name in NAV:
        link = tab_to(page, name, tag="a")
        assert not link["inMain"]
        follow(page)
        current = page.locator("nav[aria-label=Main] a[aria-current=page]").inner_text()
        assert current.startswith(name), f"Enter on {name!r} opened the page of {current!r}"
        check_skip_link(page)
        walk_the_page(page)

    # Add a person: Tab to the name, type it, Enter submits the form.
    tab_to(page, "People", tag="a")
    follow(page)
    tab_to(page, "Full name", tag="input")
    page.keyboard.type("Ada Lovelace")
    follow(page)
    page.wait_for_selector("#rename")
    assert "Ada Lovelace" in page.locator("h1").inner_text()
    walk_the_page(page)
    # The kiosk recorded her in on Monday; she left without checking out.
    kiosk_cli(data_dir, "attendance", "add", "Ada Lovelace", "--at", "2026-03-02T09:00", "--kind", "in",
              "--reason", "kiosk was down", env=SITE)

    # Her timesheet, from Hours: the period typed into the date fields (US order in this locale).
    tab_to(page, "Hours", tag="a")
    follow(page)
    tab_to(page, "From", tag="input")  # on its first part, the month
    page.keyboard.type("03022026")
    tab_to(page, "To", tag="input")
    page.keyboard.type("03022026")
    tab_to(page, "Show", tag="button")
    follow(page)
    assert "from=2026-03-02" in page.url
    tab_to(page, "Ada Lovelace", tag="a")
    follow(page)
    page.wait_for_selector("#timesheet")
    assert page.locator("#total-hours").inner_text() == "0.00"
    walk_the_page(page)

    # The missed out: the time typed, "out" chosen with an arrow key, the reason typed, Enter.
    tab_to(page, "When", tag="input")
    page.keyboard.type("03022026")
    press(page, "Tab")  # from the year (which could have more digits) to the hour
    page.keyboard.type("0530P")
    assert page.locator("#add-punch input[name=at]").input_value() == "2026-03-02T17:30"
    tab_to(page, "Kind", tag="select")  # past the field's calendar button
    page.keyboard.press("ArrowDown")
    assert page.locator("#add-punch select[name=kind]").input_value() == "out"
    press(page, "Tab")
    page.keyboard.type("left without checking out")
    follow(page)
    page.wait_for_selector(".flash-success")
    assert page.locator("#total-hours").inner_text() == "8.50"

    # A disclosure opens with Enter and closes with Escape, focus back on its summary.
    tab_to(page, "Recognition", tag="a")
    follow(page)
    tab_to(page, "Advanced", tag="summary")
    page.keyboard.press("Enter")
    assert page.locator("#faces-advanced").evaluate("d => d.open")
    walk_the_page(page)  # its contents join the order while it is open
    tab_to(page, "Advanced", tag="summary")
    page.keyboard.press("Escape")
    assert not page.locator("#faces-advanced").evaluate("d => d.open"), "Escape did not close the disclosure"
    assert focused(page)["tag"] == "summary"

    # The console's language: the switch's select, an arrow key, its button.
    tab_to(page, "Language", tag="select")
    choices = page.locator("#console-language option").evaluate_all("os => os.map(o => o.value)")
    steps = choices.index("de") - choices.index(page.locator("#console-language").input_value())
    for _ in range(abs(steps)):
        page.keyboard.press("ArrowDown" if steps > 0 else "ArrowUp")
    assert page.locator("#console-language").input_value() == "de"
    press(page, "Tab")
    follow(page, "Space")
    page.wait_for_function("document.documentElement.lang === 'de'")
    assert page.locator("nav[aria-label]").count() == 1
    check_skip_link(page)
    walk_the_page(page)

    # Sign out (in German now): Tab to the button, Enter.
    sign_out = page.locator(".signout button").inner_text()
    tab_to(page, sign_out, tag="button")
    follow(page)
    page.wait_for_url("**/login**")
    page.goto(server.url + "/admin/people")
    page.wait_for_url("**/login**")
    assert errors == []
