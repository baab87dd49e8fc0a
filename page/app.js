// The integration page: the spec's dashboard card for API & Webhooks. Plain DOM, no framework;
// every value from the API is written with textContent, never as HTML.
import { client, ApiError } from "./api.js";
import { session, signOut } from "./auth.js";

const REFRESH_MS = 5000;
// Rows per page of the delivery log (the API's default, 25); `?page_size=N` (1-100) changes it.
const PAGE_SIZE = (() => {
  const n = Number(new URLSearchParams(location.search).get("page_size"));
  return Number.isInteger(n) && n >= 1 && n <= 100 ? n : 25;
})();
const $ = (id) => document.getElementById(id);

const state = {
  api: null,
  integration: null,
  log: { outcome: "", cursors: [null], page: 0, next: null, timer: null, loading: false },
  dnc: { cursors: [null], page: 0, next: null },
  calls: { cursors: [null], page: 0, next: null },
};
const EVENTS = ["call.started", "call.completed", "call.failed"];
const eventBox = (e) => $(`event-${e.replace(".", "-")}`);
// E.164: a +, a country code not starting with 0, at most 15 digits in all.
const E164 = /^\+[1-9]\d{6,14}$/;

function say(text) {
  $("status").textContent = text;
}

function fatal(text) {
  const el = $("fatal");
  el.textContent = text;
  el.hidden = !text;
}

function describe(err) {
  if (err instanceof ApiError) {
    if (err.status === 403 && err.code === "plan_required") return "Your plan does not include API & Webhooks.";
    return `${err.message}${err.code ? ` (${err.code})` : ""}`;
  }
  return String(err?.message || err);
}

function fieldError(input, errorEl, message) {
  errorEl.textContent = message || "";
  errorEl.hidden = !message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function timeEl(iso) {
  const t = document.createElement("time");
  t.dateTime = iso;
  t.textContent = fmtTime(iso);
  return t;
}

async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// ---------------------------------------------------------------- integration state
function render(integ) {
  state.integration = integ;
  const key = integ.api_key;
  $("key-summary").textContent = key
    ? `Active key: ${key.prefix}…${key.last4}, created ${fmtTime(key.created_at)}.`
    : "No API key yet. Generate one to call the API; it also signs your webhooks.";
  $("key-generate").textContent = key ? "Generate a new API key" : "Generate API key";

  const sw = $("api-enabled");
  sw.checked = !!integ.api_enabled;
  sw.disabled = false;
  const badge = $("api-enabled-state");
  badge.textContent = integ.api_enabled ? "Enabled" : "Disabled";
  badge.className = `badge ${integ.api_enabled ? "on" : "off"}`;

  const url = $("webhook-url");
  if (document.activeElement !== url || !url.value) url.value = integ.webhook_url || "";

  const sel = $("default-agent");
  const id = integ.default_agent?.id || "";
  if (id && ![...sel.options].some((o) => o.value === id)) {
    sel.append(new Option(integ.default_agent.name, id));
  }
  sel.value = id;

  const events = new Set(integ.events || ["call.completed"]);
  for (const e of EVENTS) {
    const box = eventBox(e);
    if (!state.eventsDirty) box.checked = events.has(e);
  }

  const secret = integ.signing_secret;
  $("secret-created").replaceChildren(secret ? timeEl(secret.created_at) : "No secret yet: saving a webhook URL creates one.");
  $("secret-previous").replaceChildren(secret?.previous_expires_at ? timeEl(secret.previous_expires_at) : "No previous secret is signing.");
  renderRules(integ);
}

async function loadIntegration() {
  render(await state.api.integration());
}

async function loadAgents() {
  const { agents } = await state.api.agents();
  const sel = $("default-agent");
  const keep = sel.value;
  sel.replaceChildren(new Option("No default agent", ""));
  for (const a of agents) {
    sel.append(new Option(a.phone_number ? `${a.name} (${a.phone_number})` : a.name, a.id));
  }
  sel.value = keep;
}

// ---------------------------------------------------------------- API key
const REPLACE_KEY = {
  title: "Replace the API key?",
  text: "The current key stops working at once: every script and CRM that uses it must be given the new key. Webhooks will be signed with the new key.",
  ok: "Replace key",
};

function confirmReplace(what = REPLACE_KEY) {
  const dlg = $("confirm-dialog");
  $("confirm-h").textContent = what.title;
  $("confirm-text").textContent = what.text;
  $("confirm-ok").textContent = what.ok;
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.returnValue = "";
    dlg.showModal();
  });
}

async function generateKey() {
  const btn = $("key-generate");
  if (state.integration?.api_key && !(await confirmReplace())) {
    btn.focus();
    return;
  }
  await busy(btn, async () => {
    try {
      const res = await state.api.generateKey();
      $("key-value").value = res.api_key;
      $("key-copy-status").textContent = "";
      const box = $("key-reveal");
      box.hidden = false;
      box.focus();
      say("New API key generated. Copy it now: it is shown only once.");
      await loadIntegration();
    } catch (e) {
      say(`Could not generate a key: ${describe(e)}`);
    }
  });
}

async function copyKey(inputId = "key-value", statusId = "key-copy-status", what = "key") {
  const input = $(inputId);
  let ok = false;
  try {
    await navigator.clipboard.writeText(input.value);
    ok = true;
  } catch {
    input.select();
    ok = document.execCommand && document.execCommand("copy");
  }
  $(statusId).textContent = ok ? "Copied to the clipboard." : `Select the ${what} and copy it yourself (Ctrl+C).`;
}

function hideKey() {
  $("key-value").value = "";
  $("key-reveal").hidden = true;
  $("key-generate").focus();
  say("The key is hidden now; only its last 4 characters are shown from here on.");
}

// ---------------------------------------------------------------- settings
async function toggleAccess() {
  const sw = $("api-enabled");
  const wanted = sw.checked;
  sw.disabled = true;
  try {
    render(await state.api.patch({ api_enabled: wanted }));
    say(wanted ? "API access enabled." : "API access disabled: API requests now get 403.");
  } catch (e) {
    sw.checked = !wanted;
    say(`Could not change API access: ${describe(e)}`);
  } finally {
    sw.disabled = false;
  }
}

async function saveWebhook(ev) {
  ev.preventDefault();
  const input = $("webhook-url");
  const err = $("webhook-url-error");
  const value = input.value.trim();
  await busy($("webhook-save"), async () => {
    try {
      render(await state.api.patch({ webhook_url: value === "" ? null : value }));
      input.value = state.integration.webhook_url || ""; // as stored: normalised
      fieldError(input, err, "");
      say(value === "" ? "Webhook URL removed: no webhooks will be sent." : "Webhook URL saved.");
    } catch (e) {
      if (e instanceof ApiError && (e.field === "webhook_url" || e.code === "invalid_webhook_url")) {
        fieldError(input, err, e.message);
        input.focus();
        say("The webhook URL was not saved.");
      } else {
        say(`Could not save the webhook URL: ${describe(e)}`);
      }
    }
  });
}

async function saveAgent(ev) {
  ev.preventDefault();
  const sel = $("default-agent");
  const err = $("default-agent-error");
  await busy($("agent-save"), async () => {
    try {
      render(await state.api.patch({ default_agent_id: sel.value || null }));
      fieldError(sel, err, "");
      say(sel.value ? "Default agent saved." : "Default agent removed.");
    } catch (e) {
      if (e instanceof ApiError && e.field === "default_agent_id") {
        fieldError(sel, err, e.message);
        sel.focus();
      }
      say(`Could not save the default agent: ${describe(e)}`);
    }
  });
}

async function testSend() {
  const out = $("test-result");
  out.className = "result";
  out.textContent = "Sending…";
  $("test-answer").hidden = true;
  await busy($("test-send"), async () => {
    try {
      const r = await state.api.testSend();
      // The answer's details first, then the summary line (which says the send is done).
      await showTestAnswer(r);
      const parts = [];
      if (r.status_code != null) parts.push(`HTTP ${r.status_code}`);
      if (r.duration_ms != null) parts.push(`${r.duration_ms} ms`);
      if (r.delivered) {
        out.className = "result ok";
        out.textContent = `Test webhook delivered (${parts.join(", ")}).`;
      } else {
        out.className = "result bad";
        const why = r.error ? `${r.error.class}: ${r.error.message}` : "not delivered";
        out.textContent = `Test webhook failed (${[...parts, why].join(", ")}).`;
      }
      await loadLog();
    } catch (e) {
      out.className = "result bad";
      out.textContent = `Test webhook not sent: ${describe(e)}`;
      $("test-answer").hidden = true;
    }
  });
}

/** The endpoint's answer to a test send: status, time, and the start of its body as the
 *  delivery log stored it (the test send's own row, found by its event id). */
async function showTestAnswer(r) {
  $("test-status").textContent = r.status_code == null ? `no answer (${r.error?.class || "error"})` : `HTTP ${r.status_code}`;
  $("test-duration").textContent = r.duration_ms == null ? "—" : `${r.duration_ms} ms`;
  let body = r.error?.message || "";
  try {
    const page = await state.api.deliveries({ limit: 10 });
    const row = page.deliveries.find((d) => d.event_id === r.event_id);
    if (row && row.response_excerpt != null) body = row.response_excerpt;
  } catch {
    // the answer's own message stays
  }
  $("test-body").textContent = body === "" ? "(empty body)" : body;
  $("test-answer").hidden = false;
}

// ---------------------------------------------------------------- events
async function saveEvents(ev) {
  ev.preventDefault();
  const chosen = EVENTS.filter((e) => eventBox(e).checked);
  const err = $("events-error");
  await busy($("events-save"), async () => {
    try {
      state.eventsDirty = false;
      render(await state.api.patch({ events: chosen }));
      err.hidden = true;
      say(chosen.length ? `Events saved: ${state.integration.events.join(", ")}.` : "Events saved: none.");
    } catch (e) {
      err.textContent = describe(e);
      err.hidden = false;
      say(`Could not save the events: ${describe(e)}`);
    }
  });
}

// ---------------------------------------------------------------- signing secret
const ROTATE_SECRET = {
  title: "Rotate the signing secret?",
  text: "A new secret signs every webhook from now on. The current one keeps signing too, as a second signature, for 24 hours: update your receiver within that time.",
  ok: "Rotate secret",
};

async function rotateSecret() {
  const btn = $("secret-rotate");
  if (!(await confirmReplace(ROTATE_SECRET))) {
    btn.focus();
    return;
  }
  await busy(btn, async () => {
    try {
      const res = await state.api.rotateSigningSecret();
      $("secret-value").value = res.signing_secret;
      $("secret-copy-status").textContent = "";
      $("secret-reveal-until").replaceChildren(res.previous_expires_at ? timeEl(res.previous_expires_at) : "now");
      const box = $("secret-reveal");
      box.hidden = false;
      box.focus();
      say("Signing secret rotated. Copy the new one now: this page shows it once.");
      await loadIntegration();
    } catch (e) {
      say(`Could not rotate the signing secret: ${describe(e)}`);
    }
  });
}

function hideSecret() {
  $("secret-value").value = "";
  $("secret-reveal").hidden = true;
  $("secret-rotate").focus();
  say("The signing secret is hidden now.");
}

// ---------------------------------------------------------------- do-not-call list
function checkPhone(input, errorEl, { required = false } = {}) {
  const v = input.value.trim();
  let msg = "";
  if (v === "") msg = required ? "Type a number in E.164 form, e.g. +14155550123." : "";
  else if (!E164.test(v)) msg = "Not E.164: a +, the country code, then the number, digits only (e.g. +14155550123).";
  fieldError(input, errorEl, msg);
  return msg === "";
}

function dncRow(item) {
  const tr = document.createElement("tr");
  tr.dataset.phone = item.phone;
  cell(tr, "Number", item.phone, "mono");
  cell(tr, "Added", timeEl(item.created_at));
  const actions = cell(tr, "Actions", "");
  const b = document.createElement("button");
  b.type = "button";
  b.className = "small dnc-remove";
  b.textContent = "Remove";
  b.setAttribute("aria-label", `Remove ${item.phone} from the do-not-call list`);
  b.addEventListener("click", () => unsuppress(b, item.phone));
  actions.append(b);
  return tr;
}

async function loadDnc() {
  const dnc = state.dnc;
  try {
    const res = await state.api.suppressions({ cursor: dnc.cursors[dnc.page], limit: 20 });
    dnc.next = res.next_cursor;
    $("dnc-body").replaceChildren(...res.suppressions.map(dncRow));
    $("dnc-empty").hidden = res.suppressions.length > 0;
    $("dnc-table").hidden = res.suppressions.length === 0;
    $("dnc-prev").disabled = dnc.page === 0;
    $("dnc-next").disabled = !dnc.next;
    $("dnc-page").textContent = `Page ${dnc.page + 1}`;
  } catch (e) {
    say(`Could not load the do-not-call list: ${describe(e)}`);
  }
}

function dncPage(step) {
  const dnc = state.dnc;
  if (step > 0) {
    if (!dnc.next) return;
    dnc.cursors[dnc.page + 1] = dnc.next;
  } else if (dnc.page === 0) return;
  dnc.page += step;
  loadDnc();
}

async function suppress(ev) {
  ev.preventDefault();
  const input = $("dnc-phone");
  const err = $("dnc-phone-error");
  if (!checkPhone(input, err, { required: true })) {
    input.focus();
    return;
  }
  await busy($("dnc-add"), async () => {
    try {
      const r = await state.api.suppress(input.value.trim());
      say(r.added ? `${r.phone} added to the do-not-call list.` : `${r.phone} was already on the do-not-call list.`);
      input.value = "";
      await loadDnc();
    } catch (e) {
      fieldError(input, err, describe(e));
      input.focus();
    }
  });
}

async function unsuppress(button, phone) {
  await busy(button, async () => {
    try {
      await state.api.unsuppress(phone);
      say(`${phone} removed from the do-not-call list.`);
    } catch (e) {
      say(`Could not remove ${phone}: ${describe(e)}`);
    }
  });
  await loadDnc();
  $("dnc-phone").focus();
}

// ---------------------------------------------------------------- calling rules (read-only)
const DAY_NAMES = { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" };

function windowText(w) {
  if (!w) return "Any time (no window set).";
  const days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((d) => {
    const v = w.days?.[d];
    return `${DAY_NAMES[d]} ${v && v !== "off" ? `${v.start}–${v.end}` : "off"}`;
  });
  return `${days.join(", ")} (${w.time_zone})`;
}

function hoursText(h) {
  if (!h || h.applies_to === "off") return "Not enforced.";
  const where = h.applies_to === "north_america" ? "for +1 numbers" : "for every number";
  return `${h.start}–${h.end} in the recipient's local time, ${where}.`;
}

function renderRules(integ) {
  $("rules-window").textContent = windowText(integ.calling_window);
  $("rules-hours").textContent = hoursText(integ.recipient_hours);
  $("rules-countries").textContent = integ.allowed_countries == null ? "Every country." : integ.allowed_countries.join(", ") || "None.";
  $("rules-types").textContent = (integ.allowed_number_types || []).length
    ? `Besides ordinary numbers: ${integ.allowed_number_types.join(", ")}.`
    : "Ordinary numbers only (premium-rate, shared-cost, personal, UAN and pager numbers are refused).";
}

/** What the server answers for a typed number (`POST .../calling-rules/check`): the same
 * rules trigger-call applies, in the zones only the server knows the number may be in. */
function rulesAnswer(a) {
  if (a.refused) return `trigger-call would refuse it: ${a.refused.message} (${a.refused.code}).`;
  const zones = a.recipient_zones.length
    ? `Recipient hours are checked in ${a.recipient_zones.join(", ")}.`
    : "Recipient hours do not apply to this number.";
  if (a.allowed_now) return `The calling rules allow a call now. ${zones}`;
  const rule = a.closed_by === "calling_window" ? "The calling window is closed now" : "It is outside the recipient's hours now";
  const when = a.next_allowed_at
    ? `the call would be allowed at ${fmtTime(a.next_allowed_at)} (send "when_closed": "hold" to have it placed then).`
    : "no time in the coming year satisfies every rule.";
  return `${rule}; ${when} ${zones}`;
}

async function checkRules(ev) {
  ev.preventDefault();
  const input = $("rules-phone");
  const out = $("rules-answer");
  const v = input.value.trim();
  delete out.dataset.nextAllowedAt;
  delete out.dataset.allowedNow;
  if (!E164.test(v)) {
    out.className = "result bad";
    out.textContent = "Type a number in E.164 form, e.g. +14155550123.";
    input.setAttribute("aria-invalid", "true");
    return;
  }
  $("rules-check").disabled = true;
  try {
    const a = await state.api.checkCallingRules(v);
    input.removeAttribute("aria-invalid");
    out.className = "result";
    out.dataset.nextAllowedAt = a.next_allowed_at || "";
    out.dataset.allowedNow = String(a.allowed_now);
    out.textContent = rulesAnswer(a);
  } catch (e) {
    // Only the API's verdict on the number marks the field invalid, not a 429 or an outage.
    if (e.field === "phone") input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    out.className = "result bad";
    out.textContent = `${e.message} (${e.code})`;
  } finally {
    $("rules-check").disabled = false;
  }
}

// ---------------------------------------------------------------- calls
function callRow(c) {
  const tr = document.createElement("tr");
  tr.dataset.callId = c.call_id;
  tr.dataset.status = c.status;
  cell(tr, "Created", timeEl(c.created_at));
  const id = cell(tr, "Call", c.call_id.slice(0, 8), "mono");
  id.title = c.call_id;
  cell(tr, "Number", c.phone_number, "mono");
  const st = document.createElement("span");
  st.className = `outcome ${c.status}`;
  st.textContent = c.status + (c.failure_reason ? ` (${c.failure_reason})` : "");
  cell(tr, "Status", st);
  cell(tr, "Scheduled for", c.scheduled_for ? timeEl(c.scheduled_for) : "—");
  const actions = cell(tr, "Actions", "");
  if (c.status === "scheduled") {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small call-cancel";
    b.textContent = "Cancel";
    b.setAttribute("aria-label", `Cancel the call to ${c.phone_number} (${c.call_id.slice(0, 8)})`);
    b.addEventListener("click", () => cancelCall(b, c.call_id));
    actions.append(b);
  }
  return tr;
}

async function cancelCall(button, callId) {
  const out = $("calls-result");
  await busy(button, async () => {
    try {
      await state.api.cancelCall(callId);
      out.className = "result ok";
      out.textContent = `Call ${callId.slice(0, 8)} canceled.`;
    } catch (e) {
      out.className = "result bad";
      out.textContent = `Could not cancel call ${callId.slice(0, 8)}: ${describe(e)}`;
    }
  });
  await loadCalls();
  $("calls-status").focus();
}

async function loadCalls() {
  const calls = state.calls;
  try {
    const res = await state.api.calls({
      status: $("calls-status").value,
      created_after: localToIso($("calls-after").value),
      cursor: calls.cursors[calls.page],
      limit: 25,
    });
    calls.next = res.next_cursor;
    $("calls-body").replaceChildren(...res.calls.map(callRow));
    $("calls-empty").hidden = res.calls.length > 0;
    $("calls-table").hidden = res.calls.length === 0;
    $("calls-newer").disabled = calls.page === 0;
    $("calls-older").disabled = !calls.next;
    $("calls-page").textContent = `Page ${calls.page + 1}`;
  } catch (e) {
    say(`Could not load the calls: ${describe(e)}`);
  }
}

function callsPage(step) {
  const calls = state.calls;
  if (step > 0) {
    if (!calls.next) return;
    calls.cursors[calls.page + 1] = calls.next;
  } else if (calls.page === 0) return;
  calls.page += step;
  loadCalls();
}

function callsFilter() {
  state.calls.cursors = [null];
  state.calls.page = 0;
  loadCalls();
}

const CANCEL_ALL = {
  title: "Cancel every scheduled call?",
  text: "Every call of this account that is still scheduled becomes canceled and is never placed. Calls already being placed are not affected.",
  ok: "Cancel scheduled calls",
};

async function cancelAll() {
  const btn = $("calls-cancel-all");
  if (!(await confirmReplace(CANCEL_ALL))) {
    btn.focus();
    return;
  }
  const out = $("calls-result");
  await busy(btn, async () => {
    try {
      let total = 0;
      for (let i = 0; i < 20; i += 1) {
        const r = await state.api.cancelScheduled();
        total += r.canceled;
        if (r.complete) break;
      }
      out.className = "result ok";
      out.textContent = total === 1 ? "1 scheduled call canceled." : `${total} scheduled calls canceled.`;
      callsFilter();
    } catch (e) {
      out.className = "result bad";
      out.textContent = `Could not cancel: ${describe(e)}`;
    }
  });
  btn.focus();
}

// ---------------------------------------------------------------- endpoint health
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = { delivered: "#116b2e", failed: "#b35900", dropped: "#a4161a" };

function svg(name, attrs, ...children) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** Stacked bars, one per hour (delivered at the bottom, then failed, then dropped), drawn as
 *  SVG with attributes only (the CSP allows no inline style). */
function drawChart(h) {
  const W = 840, H = 220, left = 36, right = 28, bottom = 24, top = 8;
  const n = h.buckets.length;
  const max = Math.max(1, ...h.buckets.map((b) => b.delivered + b.failed + b.dropped));
  const step = (W - left - right) / n;
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const total = { delivered: 0, failed: 0, dropped: 0 };
  const title = svg("title", { id: "health-svg-title" });
  const desc = svg("desc", { id: "health-svg-desc" });
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-labelledby": "health-svg-title health-svg-desc",
    class: "chart-svg",
  }, title, desc);
  root.append(svg("line", { x1: left, y1: y(0), x2: W - right, y2: y(0), stroke: "#4a5058" }));
  root.append(svg("text", { x: left - 6, y: y(max) + 10, "text-anchor": "end", "font-size": 11, fill: "#4a5058" }, String(max)));
  root.append(svg("text", { x: left - 6, y: y(0), "text-anchor": "end", "font-size": 11, fill: "#4a5058" }, "0"));
  h.buckets.forEach((b, i) => {
    const g = svg("g", { class: "bar", "data-start": b.start, "data-delivered": b.delivered, "data-failed": b.failed, "data-dropped": b.dropped });
    let base = 0;
    for (const k of ["delivered", "failed", "dropped"]) {
      total[k] += b[k];
      if (b[k] > 0) {
        g.append(svg("rect", {
          x: left + i * step + step * 0.12, width: Math.max(1, step * 0.76), y: y(base + b[k]), height: y(base) - y(base + b[k]), fill: COLOURS[k],
        }));
      }
      base += b[k];
    }
    const when = new Date(b.start);
    g.append(svg("title", {}, `${when.toLocaleString()}: ${b.delivered} delivered, ${b.failed} failed, ${b.dropped} dropped`));
    root.append(g);
    const every = n > 24 ? 24 : 6;
    if ((n - 1 - i) % every === 0) {
      const label = n > 24 ? when.toLocaleDateString(undefined, { month: "short", day: "numeric" }) : when.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
      root.append(svg("text", { x: left + (i + 0.5) * step, y: H - 6, "text-anchor": "middle", "font-size": 11, fill: "#4a5058" }, label));
    }
  });
  const span = h.range === "7d" ? "the last 7 days" : "the last 24 hours";
  title.textContent = `Delivery outcomes per hour over ${span}`;
  desc.textContent = `${total.delivered} delivered, ${total.failed} failed, ${total.dropped} dropped in ${span}; the busiest hour had ${Math.max(0, ...h.buckets.map((b) => b.delivered + b.failed + b.dropped))} attempts.`;
  $("health-chart").replaceChildren(root);
}

function renderSummary(e) {
  $("health-last").replaceChildren(e.last_success_at ? timeEl(e.last_success_at) : "Never (in the last 30 days).");
  $("health-failures").textContent = String(e.consecutive_failures);
  $("health-rate").textContent = e.success_rate_24h == null
    ? "No attempts in the last 24 hours."
    : `${Math.round(e.success_rate_24h * 1000) / 10}% of ${e.attempts_24h} attempts`;
}

async function loadHealth() {
  try {
    const h = await state.api.health($("health-range").value);
    renderSummary(h.endpoint);
    drawChart(h);
    state.healthLoads = (state.healthLoads || 0) + 1;
    $("health-card").dataset.loaded = String(state.healthLoads);
  } catch (e) {
    say(`Could not load the endpoint health: ${describe(e)}`);
  }
}

// ---------------------------------------------------------------- delivery log
function cell(row, label, content, cls) {
  const td = document.createElement("td");
  td.dataset.label = label;
  if (cls) td.className = cls;
  if (content instanceof Node) td.append(content);
  else td.textContent = content ?? "";
  row.append(td);
  return td;
}

function logRow(d) {
  const tr = document.createElement("tr");
  tr.dataset.eventId = d.event_id;
  tr.dataset.outcome = d.outcome;
  tr.dataset.attempt = String(d.attempt);
  cell(tr, "Time", timeEl(d.attempted_at));
  const ev = cell(tr, "Event", d.event_id.slice(0, 8), "mono");
  ev.title = d.event_id;
  cell(tr, "Attempt", String(d.attempt));
  const o = document.createElement("span");
  o.className = `outcome ${d.outcome}`;
  o.textContent = d.outcome;
  cell(tr, "Outcome", o);
  cell(tr, "HTTP status", d.http_status == null ? "—" : String(d.http_status));
  // The response's start is shown with the error class; a delivered attempt has no error.
  const error = d.error_class ? [d.error_class, d.response_excerpt].filter(Boolean).join(": ") : "";
  cell(tr, "Error", error || "—", "err");
  cell(tr, "Next attempt", d.next_attempt_at ? timeEl(d.next_attempt_at) : "—");
  const actions = cell(tr, "Actions", "");
  if (d.outcome === "dropped" || d.outcome === "skipped") {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small redeliver";
    b.textContent = "Redeliver";
    b.setAttribute("aria-label", `Redeliver event ${d.event_id.slice(0, 8)}, attempt ${d.attempt}`);
    b.addEventListener("click", () => redeliver(b, d.event_id));
    actions.append(b);
  }
  return tr;
}

async function loadLog({ quiet = false } = {}) {
  const log = state.log;
  if (log.loading) return;
  log.loading = true;
  try {
    const res = await state.api.deliveries({ outcome: log.outcome, cursor: log.cursors[log.page], limit: PAGE_SIZE });
    log.next = res.next_cursor;
    $("log-body").replaceChildren(...res.deliveries.map(logRow));
    $("log-empty").hidden = res.deliveries.length > 0;
    $("log-table").hidden = res.deliveries.length === 0;
    $("log-newer").disabled = log.page === 0;
    $("log-older").disabled = !log.next;
    $("log-page").textContent = `Page ${log.page + 1}`;
  } catch (e) {
    if (!quiet) say(`Could not load the delivery log: ${describe(e)}`);
  } finally {
    log.loading = false;
  }
}

function older() {
  const log = state.log;
  if (!log.next) return;
  log.cursors[log.page + 1] = log.next;
  log.page += 1;
  loadLog();
}

function newer() {
  const log = state.log;
  if (log.page === 0) return;
  log.page -= 1;
  loadLog();
}

function filter() {
  state.log.outcome = $("log-outcome").value;
  state.log.cursors = [null];
  state.log.page = 0;
  loadLog();
}

async function redeliver(button, eventId) {
  await busy(button, async () => {
    try {
      await state.api.redeliver(eventId);
      say(`Event ${eventId.slice(0, 8)} queued for redelivery; its attempts appear in the log.`);
    } catch (e) {
      say(`Could not redeliver: ${describe(e)}`);
    }
  });
  await loadLog();
}

function localToIso(value) {
  if (!value) return null;
  const d = new Date(value); // datetime-local values are local time
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

async function recover(ev) {
  ev.preventDefault();
  const since = $("recover-since");
  const until = $("recover-until");
  fieldError(since, $("recover-since-error"), "");
  fieldError(until, $("recover-until-error"), "");
  const out = $("recover-result");
  const body = { since: localToIso(since.value) };
  if (!body.since) {
    fieldError(since, $("recover-since-error"), "Choose the start of the period.");
    since.focus();
    return;
  }
  const u = localToIso(until.value);
  if (u) body.until = u;
  await busy($("recover-submit"), async () => {
    try {
      const r = await state.api.recover(body);
      out.className = "result ok";
      out.textContent = r.recovered === 1 ? "1 event queued again." : `${r.recovered} events queued again.`;
      await loadLog();
    } catch (e) {
      if (e instanceof ApiError && (e.field === "since" || e.field === "until")) {
        const [input, err] = e.field === "since" ? [since, "recover-since-error"] : [until, "recover-until-error"];
        fieldError(input, $(err), e.message);
        input.focus();
      }
      out.className = "result bad";
      out.textContent = `Nothing recovered: ${describe(e)}`;
    }
  });
}

/** Auto-refresh: the first page only, while the page is visible and nobody is working in the log. */
function tick() {
  const log = state.log;
  if (!state.api) return;
  const inLog = document.activeElement && $("log-body").contains(document.activeElement);
  if ($("log-auto").checked && log.page === 0 && document.visibilityState === "visible" && !inLog) {
    loadLog({ quiet: true });
  }
}

// ---------------------------------------------------------------- start
function wire() {
  $("key-generate").addEventListener("click", generateKey);
  $("key-copy").addEventListener("click", () => copyKey());
  $("events-form").addEventListener("submit", saveEvents);
  for (const e of EVENTS) eventBox(e).addEventListener("change", () => { state.eventsDirty = true; });
  $("secret-rotate").addEventListener("click", rotateSecret);
  $("secret-copy").addEventListener("click", () => copyKey("secret-value", "secret-copy-status", "secret"));
  $("secret-done").addEventListener("click", hideSecret);
  $("dnc-form").addEventListener("submit", suppress);
  $("dnc-phone").addEventListener("input", () => checkPhone($("dnc-phone"), $("dnc-phone-error")));
  $("dnc-prev").addEventListener("click", () => dncPage(-1));
  $("dnc-next").addEventListener("click", () => dncPage(1));
  $("rules-form").addEventListener("submit", checkRules);
  $("calls-status").addEventListener("change", callsFilter);
  $("calls-after").addEventListener("change", callsFilter);
  $("calls-refresh").addEventListener("click", () => loadCalls());
  $("calls-older").addEventListener("click", () => callsPage(1));
  $("calls-newer").addEventListener("click", () => callsPage(-1));
  $("calls-cancel-all").addEventListener("click", cancelAll);
  $("health-range").addEventListener("change", () => loadHealth());
  $("health-refresh").addEventListener("click", () => loadHealth());
  $("key-done").addEventListener("click", hideKey);
  $("api-enabled").addEventListener("change", toggleAccess);
  $("webhook-form").addEventListener("submit", saveWebhook);
  $("webhook-url").addEventListener("input", () => fieldError($("webhook-url"), $("webhook-url-error"), ""));
  $("agent-form").addEventListener("submit", saveAgent);
  $("test-send").addEventListener("click", testSend);
  $("log-outcome").addEventListener("change", filter);
  $("log-refresh").addEventListener("click", () => loadLog());
  $("log-older").addEventListener("click", older);
  $("log-newer").addEventListener("click", newer);
  $("recover-form").addEventListener("submit", recover);
  state.log.timer = setInterval(tick, REFRESH_MS);
}

async function start() {
  wire();
  try {
    const res = await fetch("config.json", { cache: "no-store" });
    const config = res.ok ? await res.json() : {};
    const sess = await session(config);
    if (sess) {
      const s = $("session");
      s.hidden = false;
      s.textContent = `Signed in${sess.email ? ` as ${sess.email}` : ""}. `;
      const out = document.createElement("button");
      out.type = "button";
      out.className = "small";
      out.textContent = "Sign out";
      out.addEventListener("click", () => signOut(config));
      s.append(out);
    }
    state.api = client(config, sess);
    await Promise.all([loadAgents(), loadLog(), loadDnc(), loadCalls(), loadHealth()]);
    await loadIntegration();
    document.body.dataset.ready = "true";
  } catch (e) {
    fatal(`The integration could not be loaded: ${describe(e)}`);
    document.body.dataset.ready = "error";
  }
}

start();
