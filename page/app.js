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
};

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
function confirmReplace() {
  const dlg = $("confirm-dialog");
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

async function copyKey() {
  const input = $("key-value");
  let ok = false;
  try {
    await navigator.clipboard.writeText(input.value);
    ok = true;
  } catch {
    input.select();
    ok = document.execCommand && document.execCommand("copy");
  }
  $("key-copy-status").textContent = ok ? "Copied to the clipboard." : "Select the key and copy it yourself (Ctrl+C).";
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
  await busy($("test-send"), async () => {
    try {
      const r = await state.api.testSend();
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
    }
  });
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
  $("key-copy").addEventListener("click", copyKey);
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
    await Promise.all([loadAgents(), loadLog()]);
    await loadIntegration();
    document.body.dataset.ready = "true";
  } catch (e) {
    fatal(`The integration could not be loaded: ${describe(e)}`);
    document.body.dataset.ready = "error";
  }
}

start();
