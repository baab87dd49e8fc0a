"""The integration page in a real browser (Debian's chromium, headless, through Selenium).

Run by local/tests/it/page.rs against a `local-stack` it started, with:
  PAGE_URL        the page (the gateway's root, http://127.0.0.1:<port>/)
  API_KEY         the demo account's seeded key (from stack.json)
  RECEIVER_URL    the local webhook receiver (the demo account's webhook URL)
  SCREENSHOT_DIR  where the screenshots go
  CHROMIUM, CHROMEDRIVER  the browser and its driver (default /usr/bin/...)
The stack runs with RECEIVER_FAIL_FIRST=4 and WEBHOOK_RETRY_DELAYS=1s,2s,3s: the first call's
webhook fails 4 times (attempts 1-3 `failed`, attempt 4 `dropped`), later requests succeed.

Prints one line per check and, last, `browser test passed: N checks`. Any failure raises:
the exit status is non-zero and the Rust test fails.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

PAGE = os.environ["PAGE_URL"]
API = PAGE.rstrip("/")
KEY = os.environ["API_KEY"]
RECEIVER = os.environ["RECEIVER_URL"]
SHOTS = os.environ["SCREENSHOT_DIR"]
CHECKS = 0


def check(cond, what):
    global CHECKS
    if not cond:
        raise AssertionError(what)
    CHECKS += 1
    print(f"ok {CHECKS} {what}", flush=True)


def http(method, path, key=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,1100", "--lang=en-US", "--no-first-run"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=opts)


def main():
    d = browser()
    try:
        run(d)
    finally:
        d.quit()
    print(f"browser test passed: {CHECKS} checks", flush=True)


def wait(d, cond, what, timeout=20):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.1).until(cond)
    except TimeoutException:
        raise AssertionError(f"timed out ({timeout}s) waiting for {what}") from None


def text_in(d, el_id, fragment, timeout=20):
    wait(d, lambda d: fragment in d.find_element(By.ID, el_id).text, f"#{el_id} to say {fragment!r}", timeout)
    return d.find_element(By.ID, el_id).text


def load(d, url=PAGE):
    d.get(url)
    wait(d, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") in ("true", "error"), "the page to load")
    check(d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true",
          f"the page loads ({d.find_element(By.ID, 'fatal').text})")


def rows(d):
    """The log's rows, read in one script (the auto-refresh may replace them at any time)."""
    return d.execute_script(
        "return [...document.querySelectorAll('#log-body tr')].map(r => ({"
        "event: r.dataset.eventId, outcome: r.dataset.outcome,"
        "attempt: Number(r.dataset.attempt), text: r.innerText}))")


def shot(d, name, element=None):
    """A screenshot of the whole page (the window grown to its height), or of one element."""
    path = os.path.join(SHOTS, name)
    if element is not None:
        d.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(path)
    else:
        size = d.get_window_size()
        height = d.execute_script("return document.documentElement.scrollHeight")
        d.set_window_size(size["width"], height + 100)
        d.save_screenshot(path)
        d.set_window_size(size["width"], size["height"])
    check(os.path.getsize(path) > 10_000, f"screenshot {name}")


def run(d):
    origin = f"{urlparse(PAGE).scheme}://{urlparse(PAGE).netloc}"
    d.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    load(d)

    # --- the seeded state: a key (only its last 4), access on, the receiver, the demo agent.
    summary = d.find_element(By.ID, "key-summary").text
    check(f"…{KEY[-4:]}" in summary, f"the key summary shows the last 4 only: {summary!r}")
    check(KEY not in d.page_source, "the seeded key itself is nowhere in the page")
    check(d.find_element(By.ID, "api-enabled").is_selected(), "API access is on")
    check(d.find_element(By.ID, "webhook-url").get_attribute("value") == RECEIVER, "the webhook URL is the receiver")
    agent = Select(d.find_element(By.ID, "default-agent"))
    check([o.text for o in agent.options][1:] == ["Demo Agent (+14155550100)"], "the agent dropdown lists the account's agent")
    check(agent.first_selected_option.text.startswith("Demo Agent"), "the default agent is selected")

    # --- accessibility basics: every control has a label, no external resource was loaded.
    unlabeled = d.execute_script(
        "return [...document.querySelectorAll('input,select')].filter(e => e.labels.length === 0).map(e => e.id)")
    check(unlabeled == [], f"every input and select has a label ({unlabeled})")
    external = d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin))")
    check(external == [], f"no external assets ({external})")

    # --- webhook URL: a bad one shows the API's error next to the field, a good one saves.
    url = d.find_element(By.ID, "webhook-url")
    url.clear()
    url.send_keys("ftp://hooks.example.com/x")
    d.find_element(By.ID, "webhook-save").click()
    err = text_in(d, "webhook-url-error", "https")
    check(url.get_attribute("aria-invalid") == "true", f"the bad URL is marked invalid: {err!r}")
    check(d.switch_to.active_element == url, "focus goes back to the URL field")
    check(http("GET", "/api/integrations/api-webhooks")[1]["webhook_url"] == RECEIVER, "the bad URL was not saved")
    logged = [e["message"] for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    check(len(logged) == 1 and "status of 400" in logged[0], f"the console has the 400 only ({logged})")
    url.clear()
    url.send_keys(RECEIVER + Keys.ENTER)  # Enter submits the form
    text_in(d, "status", "Webhook URL saved")
    check(not d.find_element(By.ID, "webhook-url-error").is_displayed(), "the error is gone after a good save")

    # --- default agent: remove it, reload, pick it again.
    Select(d.find_element(By.ID, "default-agent")).select_by_value("")
    d.find_element(By.ID, "agent-save").click()
    text_in(d, "status", "Default agent removed")
    check(http("GET", "/api/integrations/api-webhooks")[1]["default_agent"] is None, "the API has no default agent")
    load(d)
    Select(d.find_element(By.ID, "default-agent")).select_by_visible_text("Demo Agent (+14155550100)")
    d.find_element(By.ID, "agent-save").click()
    text_in(d, "status", "Default agent saved")
    check(http("GET", "/api/integrations/api-webhooks")[1]["default_agent"]["name"] == "Demo Agent", "the API has the default agent")

    # --- the toggle, by keyboard: off means 403 for the API key, on again works.
    sw = d.find_element(By.ID, "api-enabled")
    sw.send_keys(Keys.SPACE)
    text_in(d, "status", "API access disabled")
    check(d.find_element(By.ID, "api-enabled-state").text == "Disabled", "the badge says Disabled")
    status, body = http("POST", "/api/trigger-call", KEY, {"phone": "+15551234567", "name": "Jane"})
    check(status == 403 and body["error"]["code"] == "api_access_disabled", f"trigger-call gets 403 while disabled ({status})")
    sw.send_keys(Keys.SPACE)
    text_in(d, "status", "API access enabled")
    status, body = http("POST", "/api/trigger-call", KEY, {"phone": "+15551234567", "name": "Jane", "metadata": {"source": "browser-test"}})
    check(status == 200, f"trigger-call works again ({status} {body})")

    # --- that call's webhook fails (receiver answers 500 four times): the log shows the
    # attempts appear one by one (auto-refresh), then the drop.
    def failed_attempts(d):
        rs = [r for r in rows(d) if r["outcome"] in ("failed", "dropped")]
        return rs if len(rs) >= 4 else False
    attempts = wait(d, failed_attempts, "four failed attempts in the log (auto-refresh)", timeout=60)
    check([r["attempt"] for r in attempts] == [4, 3, 2, 1], f"newest first: {[r['attempt'] for r in attempts]}")
    check([r["outcome"] for r in attempts] == ["dropped", "failed", "failed", "failed"], "attempts 1-3 failed, 4 dropped")
    check(len({r["event"] for r in attempts}) == 1, "one event")
    check("500" in attempts[0]["text"] and "http_status" in attempts[0]["text"], "status and error class are shown")
    event = attempts[0]["event"]
    shot(d, "page-failing-delivery.png", d.find_element(By.CSS_SELECTOR, "section.card.wide"))

    # --- filter to dropped, redeliver it.
    Select(d.find_element(By.ID, "log-outcome")).select_by_value("dropped")
    wait(d, lambda d: [r["outcome"] for r in rows(d)] == ["dropped"], "the dropped filter")
    d.find_element(By.CSS_SELECTOR, "#log-body button.redeliver").click()
    text_in(d, "status", "queued for redelivery")
    Select(d.find_element(By.ID, "log-outcome")).select_by_value("delivered")
    wait(d, lambda d: any(r["event"] == event and r["attempt"] == 1 for r in rows(d)), "the redelivery delivered", 30)
    check(len(rows(d)) == 1, "one delivered row")

    # --- test send: delivered, and in the log.
    Select(d.find_element(By.ID, "log-outcome")).select_by_value("")
    d.find_element(By.ID, "test-send").click()
    result = text_in(d, "test-result", "Test webhook delivered")
    check("HTTP 200" in result, f"the test result: {result!r}")
    wait(d, lambda d: len(rows(d)) == 6, "six rows (4 failed, the redelivery, the test)")
    check(rows(d)[0]["outcome"] == "delivered" and rows(d)[0]["event"] != event, "the test send is the newest row")

    # --- recover: the dropped event was redelivered since, so nothing is queued.
    since = d.find_element(By.ID, "recover-since")
    d.execute_script(
        "const d = new Date(Date.now() - 3600e3); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());"
        "arguments[0].value = d.toISOString().slice(0, 19);", since)
    d.find_element(By.ID, "recover-submit").click()
    check("0 events queued again" in text_in(d, "recover-result", "queued again"), "recover queues nothing twice")

    # --- paging with the cursor: 6 rows, 4 a page.
    load(d, PAGE + "?page_size=4")
    wait(d, lambda d: len(rows(d)) == 4, "a first page of 4")
    first = [r["event"] + r["text"] for r in rows(d)]
    d.find_element(By.ID, "log-older").click()
    wait(d, lambda d: len(rows(d)) == 2, "a second page of 2")
    second = [r["event"] + r["text"] for r in rows(d)]
    check(not set(first) & set(second), "pages do not overlap")
    check(not d.find_element(By.ID, "log-older").is_enabled(), "no page after the last")
    d.find_element(By.ID, "log-newer").click()
    wait(d, lambda d: [r["event"] + r["text"] for r in rows(d)] == first, "back to the first page")

    # --- a new key: confirm first (cancel keeps the key), shown once, copied, then gone.
    load(d)
    shot(d, "page-overview.png")
    d.find_element(By.ID, "key-generate").click()
    wait(d, lambda d: d.find_element(By.ID, "confirm-dialog").is_displayed(), "the confirm dialog")
    d.find_element(By.ID, "confirm-cancel").click()
    check(f"…{KEY[-4:]}" in d.find_element(By.ID, "key-summary").text, "cancel keeps the key")
    check(d.switch_to.active_element == d.find_element(By.ID, "key-generate"), "focus returns to Generate")
    d.find_element(By.ID, "key-generate").click()
    wait(d, lambda d: d.find_element(By.ID, "confirm-dialog").is_displayed(), "the confirm dialog")
    d.find_element(By.ID, "confirm-ok").click()
    wait(d, lambda d: d.find_element(By.ID, "key-reveal").is_displayed(), "the new key")
    new_key = d.find_element(By.ID, "key-value").get_attribute("value")
    check(new_key.startswith("bvai_live_") and new_key != KEY, "a new key is shown")
    reveal = d.find_element(By.ID, "key-reveal").text
    check("you will not see it again" in reveal, "with the warning")
    # Where the key is kept, said truly (issue 26): the plaintext in Secrets Manager (it signs
    # X-Signature), only its hash in the database.
    check("Secrets Manager" in reveal and "X-Signature" in reveal and "keeps only a hash" in reveal,
          f"where the key is kept: {reveal!r}")
    check("We store only a hash" not in reveal, "not the old claim")
    text_in(d, "key-summary", f"…{new_key[-4:]}")
    d.find_element(By.ID, "key-copy").click()
    text_in(d, "key-copy-status", "Copied")
    clip = d.execute_async_script("navigator.clipboard.readText().then(arguments[0], () => arguments[0](null))")
    check(clip == new_key, "the copy button copied the key")
    shot(d, "page-new-key.png")
    check(http("GET", "/api/calls/00000000-0000-4000-8000-000000000000", KEY)[0] == 403, "the old key stopped working")
    check(http("GET", "/api/calls/00000000-0000-4000-8000-000000000000", new_key)[0] == 404, "the new key works")
    d.find_element(By.ID, "key-done").click()
    check(not d.find_element(By.ID, "key-reveal").is_displayed() and new_key not in d.page_source, "the key is gone")
    load(d)
    check(new_key not in d.page_source, "a reload never shows the key again")

    # --- phone width: no horizontal scrolling, the log as cards.
    d.set_window_size(390, 1600)
    load(d)
    wide = d.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    check(wide <= 0, f"no horizontal scroll at phone width ({wide}px)")
    shot(d, "page-phone.png")

    severe = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    check(severe == [], f"no console errors ({severe})")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - any failure fails the test, loudly
        print(f"browser test FAILED after {CHECKS} checks: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
