"""The web view in a real browser: Debian's headless Chromium, driven over WebDriver.

Selenium talks to the system's chromedriver (``apt-get install chromium chromium-driver``;
``.ci/run`` installs them), which starts the system's Chromium: nothing is downloaded at run
time. The relay is a real one on a free loopback port; messages and files are sent to it over
its HTTP API while the page is open, the way an agent on another machine would.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import WebDriverWait

API = "/api/v1"
TIMEOUT = 10
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "web-view.png"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # the test runs as root here, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,860",
)
HOSTILE = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2"> done?'


@pytest.fixture
def browser(require_tool, tmp_path: Path) -> Iterator[WebDriver]:
    """A fresh headless Chromium (own profile, downloads into ``tmp_path/downloads``)."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    require_tool(
        bool(chromium and driver_path),
        "Chromium is not installed (apt-get install -y chromium chromium-driver)",
    )
    assert chromium is not None
    assert driver_path is not None
    options = Options()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def api(relay, method: str, path: str, client_id: str, **kwargs: Any) -> Any:
    answer = requests.request(
        method, relay.url + path, headers=relay.headers(client_id), timeout=TIMEOUT, **kwargs
    )
    assert answer.status_code < 300, answer.text
    return answer.json()


def wait(driver: WebDriver, timeout: float = TIMEOUT) -> WebDriverWait:
    return WebDriverWait(driver, timeout)


def log_in(driver: WebDriver, token: str, client_id: str) -> None:
    token_field = wait(driver).until(shown.visibility_of_element_located((By.ID, "login-token")))
    token_field.clear()
    token_field.send_keys(token)
    client_field = driver.find_element(By.ID, "login-client")
    client_field.clear()
    client_field.send_keys(client_id)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()


def downloaded(folder: Path, name: str) -> Path:
    """The file Chromium saved as ``name`` in ``folder``, once complete (bounded wait)."""
    deadline = time.monotonic() + TIMEOUT
    target = folder / name
    while not (target.exists() and not list(folder.glob("*.crdownload"))):
        assert time.monotonic() < deadline, list(folder.iterdir())
        time.sleep(0.05)
    return target


def test_a_person_watches_a_session_live_in_chromium(start_relay, browser, tmp_path):
    relay = start_relay(ui_post_as="dana")
    for client in ("beta", "dana"):
        api(relay, "GET", API + "/whoami", client)
    api(
        relay,
        "POST",
        API + "/sessions",
        "alpha",
        json={
            "name": "review",
            "description": "alpha and beta review the parser change",
            "participants": ["beta", "dana"],
        },
    )
    api(relay, "POST", API + "/sessions/review/messages", "alpha", json={"text": "PR is up."})
    browser.get(relay.url + "/")

    # A wrong token is refused, and the page stays at the login form.
    log_in(browser, "wrong-token-0123456789abcdef", "beta")
    error = wait(browser).until(shown.visibility_of_element_located((By.ID, "login-error")))
    wait(browser).until(lambda _: "Refused" in error.text)
    assert not browser.find_element(By.ID, "app").is_displayed()

    log_in(browser, relay.token, "beta")
    wait(browser).until(shown.visibility_of_element_located((By.ID, "app")))
    wait(browser).until(
        shown.element_to_be_clickable((By.CSS_SELECTOR, '#session-list [data-session="review"]'))
    ).click()
    wait(browser).until(shown.text_to_be_present_in_element((By.ID, "messages"), "PR is up."))
    stats = browser.find_element(By.ID, "stats-list").text
    assert "uptime" in stats
    assert "file store" in stats

    # A message sent now shows up within a second, with no reload of the page.
    browser.execute_script("document.body.dataset.loadedOnce = 'yes'")
    sent = api(relay, "POST", API + "/sessions/review/messages", "alpha", json={"text": HOSTILE})
    item = (By.ID, f"message-{sent['id']}")
    wait(browser, timeout=1.0).until(shown.presence_of_element_located(item))
    assert browser.execute_script("return document.body.dataset.loadedOnce") == "yes"

    # The markup an agent sent is text on the page: no element made of it, no script run.
    shown_text = browser.find_element(*item).find_element(By.CSS_SELECTOR, ".text").text
    assert shown_text == HOSTILE
    assert browser.find_elements(By.CSS_SELECTOR, "#messages img, #messages script") == []
    assert browser.execute_script("return window.pwned === undefined")

    # An attachment: its size on the page, and the download is the same bytes.
    data = os.urandom(48 * 1024) + b"the end"
    digest = hashlib.sha256(data).hexdigest()
    requests.put(
        relay.url + f"/blobs/{digest}", data=data, headers=relay.headers("alpha"), timeout=10
    ).raise_for_status()
    attachment = {"sha256": digest, "filename": "parser-diff.bin"}
    api(
        relay,
        "POST",
        API + "/sessions/review/messages",
        "alpha",
        json={"text": "The diff, for the record.", "attachments": [attachment]},
    )
    link = wait(browser).until(shown.element_to_be_clickable((By.LINK_TEXT, "parser-diff.bin")))
    assert "48.0 KiB" in link.find_element(By.XPATH, "..").text
    link.click()
    saved = downloaded(tmp_path / "downloads", "parser-diff.bin")
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == digest

    # The person posts as the operator's named human participant.
    browser.find_element(By.ID, "post-text").send_keys("Looks good; merge after CI.")
    browser.find_element(By.CSS_SELECTOR, "#post-form button").click()
    wait(browser).until(shown.text_to_be_present_in_element((By.ID, "messages"), "merge after CI"))
    page = api(relay, "GET", API + "/sessions/review/messages?after=0", "beta")
    assert page["messages"][-1]["sender"] == "dana"

    picture = tmp_path / "web-view.png"
    assert browser.save_screenshot(str(picture))
    assert picture.read_bytes().startswith(b"\x89PNG")
    # docs/web-view.png is committed once; set RELAY_UPDATE_SCREENSHOT=1 to take it again.
    if not SCREENSHOT.exists() or os.environ.get("RELAY_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(picture, SCREENSHOT)

    # On a phone's width the page fits: nothing wider than the screen.
    browser.set_window_size(390, 844)
    fits = "return document.documentElement.scrollWidth <= window.innerWidth"
    assert wait(browser).until(lambda driver: driver.execute_script(fits))
