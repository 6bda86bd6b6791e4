"""The pages really satisfy nginx.conf's Content-Security-Policy and Permissions-Policy:
headless Chromium loads every page through Nginx (kiosk screen, sign-in, every admin page
without URL parameters) and records each CSP violation the browser reports. The kiosk
page must also still get the (fake) camera under ``Permissions-Policy: camera=(self)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kiosk_stack import kiosk_cli

pytestmark = [pytest.mark.nginx, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [  # BRIEF section 8
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--ignore-certificate-errors", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]
ADMIN_USER, ADMIN_PASSWORD = "csp-admin", "a long enough passphrase"

# Collected before any page script runs (init scripts are not subject to the page's CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory, playwright_instance):
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    scratch = tmp_path_factory.mktemp("csp-chromium")
    (scratch / "tmp").mkdir()
    old_env = {name: os.environ.get(name) for name in ("HOME", "TMPDIR")}
    os.environ.update(HOME=str(scratch), TMPDIR=str(scratch / "tmp"))  # Chromium writes there
    try:
        browser = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        context = browser.new_context(ignore_https_errors=True)
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()
        browser.close()
    finally:
        for name, value in old_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _visit(page, url: str, console: list[str]) -> list[str]:
    page.goto(url, wait_until="load")
    page.wait_for_timeout(500)  # deferred scripts run and may draw
    reported = page.evaluate("window.__cspViolations || []")
    return reported + [message for message in console if "Content Security Policy" in message]


def _admin_page_paths(proxied) -> list[str]:
    from kiosk import create_app
    from kiosk.config import TestingConfig

    app = create_app(TestingConfig(proxied.data_dir))  # only to list its routes
    return sorted(
        rule.rule for rule in app.url_map.iter_rules()
        # Exports are downloads, not pages (a browser does not render them, so CSP has nothing to say).
        if rule.rule.startswith("/admin") and "GET" in rule.methods and not rule.arguments
        and not rule.rule.endswith("/export")
    )


def test_pages_raise_no_csp_violation(proxied, browser_page):
    created = kiosk_cli(proxied.data_dir, "admin", "create", ADMIN_USER, "--password-stdin",
                        stdin=ADMIN_PASSWORD + "\n", env=proxied.gunicorn.env)
    assert created.returncode == 0 or "already exists" in created.stderr, created.stderr
    page = browser_page
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    violations: dict[str, list[str]] = {}
    for path in ("/", "/auth/login"):
        violations[path] = _visit(page, proxied.url + path, console)
        console.clear()

    page.fill("input[name=username]", ADMIN_USER)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert "/auth/login" not in page.url, "the admin could not sign in through Nginx"

    admin_paths = _admin_page_paths(proxied)
    assert "/admin/" in admin_paths
    for path in admin_paths:
        violations[path] = _visit(page, proxied.url + path, console)
        console.clear()

    assert {path: found for path, found in violations.items() if found} == {}

    # The recorder itself works: an inline script injected now is reported as blocked.
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.x = 1'; "
                  "document.body.append(s); }")
    page.wait_for_timeout(200)
    assert any("script-src" in v for v in page.evaluate("window.__cspViolations"))
    print(f"CSP: {len(violations)} pages checked without violations: {sorted(violations)}")


def test_kiosk_page_may_use_the_camera_under_the_permissions_policy(proxied, browser_page):
    page = browser_page
    page.goto(proxied.url + "/", wait_until="load")
    outcome = page.evaluate(
        """async () => {
             try {
               const stream = await navigator.mediaDevices.getUserMedia({video: true});
               stream.getTracks().forEach((t) => t.stop());
               return 'granted';
             } catch (e) { return e.name; }
           }"""
    )
    assert outcome == "granted"
    assert page.evaluate("document.featurePolicy ? document.featurePolicy.allowsFeature('camera') : true")
    assert not page.evaluate("document.featurePolicy ? document.featurePolicy.allowsFeature('microphone') : false")
