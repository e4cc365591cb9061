"""Classroom checks in a real browser (issue 11): the app asks nothing of any host but the
one serving it, and the Explorer fits a projector and a phone. Same server and Chromium
set-up as tests/test_browser.py."""
from urllib.parse import urlparse

import pytest

from tests.test_browser import ARTIFACTS, PAGES, browser, pytestmark, server, settle  # noqa: F401


def test_no_request_leaves_the_machine(server, browser):  # noqa: F811
    """Every request the browser makes while visiting every page goes to the server's own
    host and port (data: and blob: URLs stay in the page): a classroom without internet
    loses nothing, and nothing hangs waiting for a font."""
    own = urlparse(server).netloc
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    requests = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.set_default_timeout(90_000)
    try:
        for path in PAGES.values():
            page.goto(f"{server}/{path}")
            settle(page)
            page.wait_for_timeout(500)  # late requests: favicon, fonts, icons
    finally:
        context.close()
    elsewhere = sorted({url for url in requests
                        if urlparse(url).scheme not in ("data", "blob") and urlparse(url).netloc != own})
    assert len(requests) > len(PAGES)  # the recorder did see the page's own traffic
    assert elsewhere == []
