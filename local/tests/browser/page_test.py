"""The integration page in a real browser (Debian's chromium, headless, through Selenium).

Run by local/tests/it/page.rs against a `local-stack` it started, with:
  PAGE_URL        the page (the gateway's root, http://127.0.0.1:<port>/)
  API_KEY         the demo account's seeded key (from stack.json)
  RECEIVER_URL    the local webhook receiver (the demo account's webhook URL)
  RECEIVER_LOG    the receiver's webhooks.jsonl (every request it got, with headers and body)
  SCREENSHOT_DIR  where the screenshots go
  AXE_JS          axe-core's axe.min.js (default: node_modules/ next to this file, `make browser`)
  CHROMIUM, CHROMEDRIVER  the browser and its driver (default /usr/bin/...)
The stack runs with RECEIVER_FAIL_FIRST=4 and WEBHOOK_RETRY_DELAYS=1s,2s,3s: the first call's
webhook fails 4 times (attempts 1-3 `failed`, attempt 4 `dropped`), later requests succeed.

Prints one line per check and, last, `browser test passed: N checks`. Any failure raises:
the exit status is non-zero and the Rust test fails.
"""

import base64
import calendar
import hashlib
import hmac
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
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

PAGE = os.environ["PAGE_URL"]
API = PAGE.rstrip("/")
KEY = os.environ["API_KEY"]
RECEIVER = os.environ["RECEIVER_URL"]
RECEIVER_LOG = os.environ["RECEIVER_LOG"]
AXE = os.environ.get("AXE_JS") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_modules/axe-core/axe.min.js")
INTEG = "/api/integrations/api-webhooks"
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
    shot(d, "page-failing-delivery.png", d.find_element(By.ID, "log-card"))

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
    # The endpoint's answer under the button: status, time taken, the first bytes of its body.
    wait(d, lambda d: d.find_element(By.ID, "test-answer").is_displayed(), "the test send's answer")
    check(d.find_element(By.ID, "test-status").text == "HTTP 200", "the answer's status")
    check(d.find_element(By.ID, "test-duration").text.endswith(" ms"), "the time taken")
    body = text_in(d, "test-body", "received")
    check(json.loads(body) == {"received": True}, f"the start of the receiver's body: {body!r}")
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

    # --- every other setting's card (before the new key: the receiver verifies X-Signature
    # with the seeded key).
    settings_cards(d, KEY)

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


def receiver_requests():
    with open(RECEIVER_LOG, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def webhook(req):
    return json.loads(base64.b64decode(req["body_base64"]))


def signed_by(req, secret):
    """Whether one of the Standard Webhooks signatures of `req` is keyed with `secret`."""
    h = req["headers"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    body = base64.b64decode(req["body_base64"])
    msg = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + body
    want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    return any(sig.split(",", 1)[1] == want for sig in h["webhook-signature"].split(" "))


def confirm(d, button_id, ok):
    d.find_element(By.ID, button_id).click()
    wait(d, lambda d: d.find_element(By.ID, "confirm-dialog").is_displayed(), "the confirm dialog")
    d.find_element(By.ID, "confirm-ok" if ok else "confirm-cancel").click()


def refresh_health(d):
    """Refresh the health card and wait for its new data."""
    stamp = d.find_element(By.ID, "health-card").get_attribute("data-loaded")
    d.find_element(By.ID, "health-refresh").click()
    wait(d, lambda d: d.find_element(By.ID, "health-card").get_attribute("data-loaded") != stamp, "the health card to refresh")


def settings_cards(d, key):
    """The cards for every other setting (issue 30): events, signing secret, do-not-call list,
    calling rules, calls; then keyboard focus and axe-core on every card."""
    load(d)
    check(len(receiver_requests()) == 6, "the receiver has the 6 webhooks above (4 failures, redelivery, test)")

    # --- signing secret: cancel keeps it, rotate shows the new one once, with a copy button.
    before = http("GET", INTEG + "/signing-secret")[1]
    check(d.find_element(By.ID, "secret-created").text != "—", "the secret's creation time is shown")
    check("No previous secret" in d.find_element(By.ID, "secret-previous").text, "no rotation running")
    confirm(d, "secret-rotate", ok=False)
    check(http("GET", INTEG + "/signing-secret")[1]["signing_secret"] == before["signing_secret"], "cancel keeps the secret")
    check(d.switch_to.active_element == d.find_element(By.ID, "secret-rotate"), "focus returns to Rotate")
    confirm(d, "secret-rotate", ok=True)
    wait(d, lambda d: d.find_element(By.ID, "secret-reveal").is_displayed(), "the new secret")
    secret = d.find_element(By.ID, "secret-value").get_attribute("value")
    check(secret.startswith("whsec_") and secret != before["signing_secret"], "a new signing secret is shown")
    check(http("GET", INTEG + "/signing-secret")[1]["signing_secret"] == secret, "the API has the new secret")
    d.find_element(By.ID, "secret-copy").click()
    text_in(d, "secret-copy-status", "Copied")
    clip = d.execute_async_script("navigator.clipboard.readText().then(arguments[0], () => arguments[0](null))")
    check(clip == secret, "the copy button copied the secret")
    text_in(d, "secret-previous", str(time.gmtime().tm_year))  # the overlap's end is shown
    d.find_element(By.ID, "secret-done").click()
    check(secret not in d.page_source, "the secret is gone from the page")

    # --- events, by keyboard: add call.started, saved with the PATCH.
    started = d.find_element(By.ID, "event-call-started")
    check(not started.is_selected() and d.find_element(By.ID, "event-call-completed").is_selected(),
          "the default events: call.completed only")
    started.send_keys(Keys.SPACE)
    d.find_element(By.ID, "events-save").click()
    text_in(d, "status", "Events saved")
    check(http("GET", INTEG)[1]["events"] == ["call.started", "call.completed"], "the API has both events")
    load(d)
    check(d.find_element(By.ID, "event-call-started").is_selected(), "a reload shows call.started chosen")
    doc = d.find_element(By.ID, "events-doc")
    with urllib.request.urlopen(doc.get_attribute("href"), timeout=10) as res:
        text = res.read().decode()
        check(res.status == 200 and "call.completed" in text and "call.failed" in text,
              f"the events card links docs/webhooks.md ({doc.get_attribute('href')})")
    shot(d, "page-events-secret.png", d.find_element(By.ID, "events-card"))

    # A call now brings a call.started to the receiver, signed with the new secret.
    status, body = http("POST", "/api/trigger-call", key, {"phone": "+15551234567", "name": "Started"})
    check(status == 200, f"a call for call.started ({status} {body})")
    call_id = body["call_id"]
    def started_hook(_d):
        for r in receiver_requests():
            w = webhook(r)
            if w.get("event") == "call.started" and w.get("call_id") == call_id:
                return r
        return False
    hook = wait(d, started_hook, "call.started at the receiver", timeout=60)
    check(signed_by(hook, secret), "the call.started webhook verifies with the new secret")
    check(signed_by(hook, before["signing_secret"]), "and with the old one during the overlap")

    # --- do-not-call list: E.164 checked as you type, the API's error otherwise, added, refused.
    phone = d.find_element(By.ID, "dnc-phone")
    phone.send_keys("+1415")
    text_in(d, "dnc-phone-error", "Not E.164")
    check(phone.get_attribute("aria-invalid") == "true", "a short number is marked invalid as you type")
    phone.send_keys("5550199" + Keys.ENTER)
    wait(d, lambda d: not d.find_element(By.ID, "dnc-phone-error").is_displayed(), "the error to go")
    wait(d, lambda d: d.execute_script("return [...document.querySelectorAll('#dnc-body tr')].map(r => r.dataset.phone)") == ["+14155550199"],
         "the number in the list")
    check(http("GET", INTEG + "/suppressions")[1]["suppressions"][0]["phone"] == "+14155550199", "the API lists it")
    status, body = http("POST", "/api/trigger-call", key, {"phone": "+14155550199", "name": "Nope"})
    check(status == 422 and body["error"]["code"] == "number_suppressed", f"trigger-call refuses it ({status})")
    phone.send_keys("+999123456789" + Keys.ENTER)  # E.164 in form, no such country: the API says so
    err = text_in(d, "dnc-phone-error", "invalid_phone")
    check(phone.get_attribute("aria-invalid") == "true", f"the API's error is shown: {err!r}")
    d.get_log("browser")  # that 400 is expected
    phone.clear()
    shot(d, "page-dnc.png", d.find_element(By.ID, "dnc-card"))
    d.find_element(By.CSS_SELECTOR, "#dnc-body button.dnc-remove").click()
    text_in(d, "status", "removed from the do-not-call list")
    wait(d, lambda d: d.find_element(By.ID, "dnc-empty").is_displayed(), "the empty list")
    check(http("GET", INTEG + "/suppressions")[1]["suppressions"] == [], "the API list is empty")

    # --- calling rules (read-only), and when a typed number could be called.
    integ = http("GET", INTEG)[1]
    rules = d.find_element(By.ID, "rules-card").text
    check(("Any time" in rules) == (integ["calling_window"] is None), f"the calling window: {rules!r}")
    check("Not enforced" in rules if integ["recipient_hours"]["applies_to"] == "off" else "recipient" in rules,
          "the recipient hours")
    check(not d.find_elements(By.CSS_SELECTOR, "#rules-card input:not(#rules-phone), #rules-card select"),
          "the rules have no setting control (read-only)")
    # The card asks the server (only it knows the zones a number may be in) and shows its answer.
    status, before = http("POST", INTEG + "/calling-rules/check", body={"phone": "+14155550123"})
    check(status == 200 and "next_allowed_at" in before, f"the check route answers ({status} {before})")
    d.find_element(By.ID, "rules-phone").send_keys("+14155550123" + Keys.ENTER)
    answer = text_in(d, "rules-answer", "Recipient hours")
    out = d.find_element(By.ID, "rules-answer")
    shown = out.get_attribute("data-next-allowed-at")
    allowed = out.get_attribute("data-allowed-now") == "true"
    _, after = http("POST", INTEG + "/calling-rules/check", body={"phone": "+14155550123"})

    def agrees(server):
        """The page's answer is this server answer's: the same verdict and next allowed time
        (while allowed, "now" moves on between the asks)."""
        expected = server["next_allowed_at"] or ""
        if server["allowed_now"] != allowed:
            return False
        if not allowed:
            return shown == expected
        gap = abs(calendar.timegm(time.strptime(shown, "%Y-%m-%dT%H:%M:%SZ"))
                  - calendar.timegm(time.strptime(expected, "%Y-%m-%dT%H:%M:%SZ")))
        return gap <= 120

    # A window that opens or closes between the asks changes the answer: the page's must be
    # the server's just before or just after it.
    server = before if agrees(before) else after
    check(agrees(server), f"the page shows the server's verdict and next allowed time "
                          f"({allowed}, {shown!r} vs {before} / {after})")
    check(("allow a call now" in answer) == allowed, f"the answer: {answer!r}")
    zones = server["recipient_zones"]
    check(all(z in answer for z in zones) if zones else "do not apply" in answer, f"the zones: {answer!r}")
    shot(d, "page-rules.png", d.find_element(By.ID, "rules-card"))
    d.find_element(By.ID, "rules-phone").clear()
    d.find_element(By.ID, "rules-phone").send_keys("+999123456789" + Keys.ENTER)
    text_in(d, "rules-answer", "invalid_phone")
    check(d.find_element(By.ID, "rules-phone").get_attribute("aria-invalid") == "true", "the API's error is shown")
    d.get_log("browser")  # that 400 is expected
    d.find_element(By.ID, "rules-phone").clear()

    # --- calls: two scheduled ones listed; one cancelled from its row, the other in bulk.
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    status, body = http("POST", "/api/trigger-call", key, {"phone": "+15551234569", "name": "One", "not_before": later})
    check(status == 202 and body["status"] == "scheduled", f"a scheduled call ({status} {body})")
    single = body["call_id"]
    status, body = http("POST", "/api/trigger-call", key, {"phone": "+15551234568", "name": "Later", "not_before": later})
    check(status == 202 and body["status"] == "scheduled", f"another scheduled call ({status} {body})")
    scheduled = body["call_id"]
    calls = lambda d: d.execute_script(
        "return [...document.querySelectorAll('#calls-body tr')].map(r => [r.dataset.callId, r.dataset.status])")
    Select(d.find_element(By.ID, "calls-status")).select_by_value("scheduled")
    wait(d, lambda d: calls(d) == [[scheduled, "scheduled"], [single, "scheduled"]], "the scheduled calls in the list")
    d.find_element(By.CSS_SELECTOR, f"#calls-body tr[data-call-id='{single}'] button.call-cancel").click()
    check(text_in(d, "calls-result", "canceled") == f"Call {single[:8]} canceled.", "one call canceled from its row")
    wait(d, lambda d: calls(d) == [[scheduled, "scheduled"]], "only the other one left scheduled")
    check(http("GET", f"/api/calls/{single}", key)[1]["status"] == "canceled", "the API has that one canceled")
    Select(d.find_element(By.ID, "calls-status")).select_by_value("")
    wait(d, lambda d: [c[0] for c in calls(d)][:3] == [scheduled, single, call_id], "every call, newest first")
    shot(d, "page-calls.png", d.find_element(By.ID, "calls-card"))
    confirm(d, "calls-cancel-all", ok=False)
    check(http("GET", f"/api/calls/{scheduled}", key)[1]["status"] == "scheduled", "cancel in the dialog cancels nothing")
    confirm(d, "calls-cancel-all", ok=True)
    check(text_in(d, "calls-result", "scheduled call") == "1 scheduled call canceled.", "one call canceled in bulk")
    wait(d, lambda d: calls(d)[0] == [scheduled, "canceled"], "the list shows it canceled")
    check(http("GET", f"/api/calls/{scheduled}", key)[1]["status"] == "canceled", "the API has it canceled")

    # --- endpoint health: the summary, 24 hourly bars; a test send failed on purpose makes the
    # failed bar of this hour rise.
    bar = lambda d: d.execute_script(
        "const g = [...document.querySelectorAll('#health-chart g.bar')].pop();"
        "return g && {start: g.dataset.start, delivered: +g.dataset.delivered, failed: +g.dataset.failed, dropped: +g.dataset.dropped}")
    totals = d.execute_script(
        "return [...document.querySelectorAll('#health-chart g.bar')].reduce((t, g) =>"
        " [t[0] + +g.dataset.delivered, t[1] + +g.dataset.failed, t[2] + +g.dataset.dropped, t[3] + 1], [0, 0, 0, 0])")
    check(totals[3] == 24, f"24 hourly bars ({totals[3]})")
    check(totals[0] >= 2 and totals[1] >= 3 and totals[2] >= 1,
          f"the bars hold the deliveries above: delivered, failed, dropped = {totals[:3]}")
    check(d.find_element(By.ID, "health-last").text != "—", "the last success is shown")
    check("% of" in d.find_element(By.ID, "health-rate").text, "the 24-hour success rate is shown")
    svg_label = d.execute_script("return document.querySelector('#health-chart svg').getAttribute('role')")
    check(svg_label == "img", "the chart is an image with a title and a description")
    # Nothing else in flight: the call.started call's call.completed has arrived too.
    wait(d, lambda d: any(webhook(r).get("event") == "call.completed" and webhook(r).get("call_id") == call_id
                          for r in receiver_requests()), "that call's call.completed at the receiver", timeout=60)
    refresh_health(d)
    before = bar(d)
    url = d.find_element(By.ID, "webhook-url")
    url.clear()
    url.send_keys("http://127.0.0.1:9/down" + Keys.ENTER)  # nothing listens on port 9
    text_in(d, "status", "Webhook URL saved")
    d.find_element(By.ID, "test-send").click()
    text_in(d, "test-result", "Test webhook failed")
    check("no answer" in d.find_element(By.ID, "test-status").text, "a failed test send shows that no answer came")
    refresh_health(d)
    want = (before["failed"] if bar(d)["start"] == before["start"] else 0) + 1
    check(bar(d)["failed"] == want, f"this hour's failed bar rose by one ({before} -> {bar(d)})")
    check(int(d.find_element(By.ID, "health-failures").text) >= 1, "consecutive failures counted")
    shot(d, "page-health.png", d.find_element(By.ID, "health-card"))
    Select(d.find_element(By.ID, "health-range")).select_by_value("7d")
    wait(d, lambda d: d.execute_script("return document.querySelectorAll('#health-chart g.bar').length") == 168,
         "168 hourly bars for 7 days")
    url.clear()
    url.send_keys(RECEIVER + Keys.ENTER)
    text_in(d, "status", "Webhook URL saved")
    check(http("GET", INTEG)[1]["webhook_url"] == RECEIVER, "the receiver is the webhook URL again")

    # --- keyboard: Tab reaches every control in order, each with a visible focus ring (a
    # date input's own fields keep the focus on the input: counted once).
    d.execute_script("document.querySelector('.skip').focus()")
    seen, order, unringed = {"skip"}, ["skip"], []
    for _ in range(300):
        ActionChains(d).send_keys(Keys.TAB).perform()
        ident, outline, width = d.execute_script(
            "const e = document.activeElement, s = getComputedStyle(e);"
            "return [e.id || e.className || e.tagName, s.outlineStyle, parseFloat(s.outlineWidth) || 0]")
        if order and ident == order[-1]:
            continue
        if ident in seen or ident == "BODY":
            break
        seen.add(ident)
        order.append(ident)
        if outline == "none" or width < 2:
            unringed.append(ident)
    for control in ("event-call-started", "secret-rotate", "dnc-phone", "rules-phone", "calls-status", "calls-cancel-all",
                    "health-range"):
        check(control in seen, f"Tab reaches #{control}")
    check(unringed == [], f"every focused control shows a focus ring ({unringed}; order {order})")

    # --- axe-core on every card: no serious or critical violation.
    with open(AXE, encoding="utf-8") as f:
        d.execute_script(f.read())
    cards = d.execute_script("return [...document.querySelectorAll('section.card')].map(c => c.id || c.getAttribute('aria-labelledby'))")
    check(len(cards) == 11, f"every card is checked ({cards})")
    found = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "(async () => { const out = {};"
        "  for (const c of document.querySelectorAll('section.card')) {"
        "    const r = await axe.run(c, {resultTypes: ['violations']});"
        "    out[c.id || c.getAttribute('aria-labelledby')] = r.violations"
        "      .filter(v => v.impact === 'serious' || v.impact === 'critical')"
        "      .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);"
        "  }"
        "  const all = await axe.run(document, {resultTypes: ['violations']});"
        "  out.document = all.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id);"
        "  return out; })().then(done, (e) => done({error: String(e)}));")
    check("error" not in found, f"axe ran ({found.get('error')})")
    for card in cards + ["document"]:
        check(found.get(card) == [], f"axe: no serious or critical violation in {card} ({found.get(card)})")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - any failure fails the test, loudly
        print(f"browser test FAILED after {CHECKS} checks: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
