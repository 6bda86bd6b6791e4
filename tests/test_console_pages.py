"""The console's small things (issue 24, part 4): a favicon served locally and linked from every
page (no 404 in the browser's console), and error pages a person can leave: a 404 or a 500 page
with the way back to the console; JSON errors under /api/ unchanged."""

from __future__ import annotations

import re


def test_every_page_links_a_local_favicon_that_is_served(client):
    page = client.get("/auth/login").text
    icon = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', page).group(1)
    response = client.get(icon)
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert b"<svg" in response.data and b"http://www.w3.org/2000/svg" in response.data  # nothing fetched from elsewhere
    assert b"href=" not in response.data


def test_a_missing_page_says_so_and_leads_back_to_the_console(client):
    response = client.get("/admin/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.mimetype == "text/html"
    html = response.text
    assert "<h1>Page not found</h1>" in html and "Error 404" in html
    assert '<nav aria-label="Main">' in html
    for link in ('href="/admin/"', 'href="/admin/people"', 'href="/admin/attendance"', 'href="/"'):
        assert link in html
    assert "Back to the console" in html


def test_a_server_error_page_has_the_navigation_and_no_details(app, client):
    def broken():
        raise RuntimeError("secret detail /srv/kiosk/data")

    app.add_url_rule("/admin/broken-for-the-test", "broken_for_the_test", broken)
    response = client.get("/admin/broken-for-the-test")
    assert response.status_code == 500 and response.mimetype == "text/html"
    html = response.text
    assert "<h1>Something went wrong</h1>" in html and 'href="/admin/"' in html
    assert "secret detail" not in html and "Traceback" not in html


def test_api_errors_stay_json(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    assert "<nav" not in response.text
