#!/usr/bin/env python3
"""The capacity model (issue 28; docs/benchmarks.md, "Capacity model"; `make bench-scale`).

Multiplies the captured request profiles (bench/scale/profiles.json, written by
`make bench-scale-profiles` from the real functions on the emulator) by a traffic mix, and
prints, for the sustained target and the peak:

- WCU/s and RCU/s per partition key value on the table and on each index (DynamoDB's rules);
- Lambda concurrency per function by Little's law, from the latency table;
- SQS, Secrets Manager and API Gateway request rates;
- cost per million webhooks and per million calls, from the dated price table;
- the ten hottest keys, the first limit each load would hit, and the issue's goals as
  PASS/MISS lines.

Its inputs, all read at run time so that a change in the code or the template flows in:
the profiles; template.yaml (reserved concurrency, memory, event source mappings, route
throttles: `--param Name=Value` overrides a template parameter, e.g. `Scale=large`); and the
latency and price tables in docs/benchmarks.md (between `capacity-model:latencies` and
`capacity-model:prices` markers). `--write-docs` replaces the "before/after" table between the
`capacity-model:table` markers of docs/benchmarks.md.

Only the standard library and PyYAML (tools/requirements-model.txt).
"""

import argparse
import json
import math
import re
import sys
from collections import defaultdict

import yaml

KB = 1024
# Placeholders of a key one account owns: its load is the account's share of the traffic.
PER_ACCOUNT = {"account", "apikey", "agent", "provider_agent"}
READ_UNIT = 4096


# ---------------------------------------------------------------- inputs

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profiles", default="bench/scale/profiles.json")
    p.add_argument("--template", default="template.yaml")
    p.add_argument("--docs", default="docs/benchmarks.md", help="the latency and price tables")
    p.add_argument("--param", action="append", default=[], help="template parameter override, Name=Value")
    p.add_argument("--webhooks", type=float, default=1000.0, help="sustained webhook deliveries/s")
    p.add_argument("--peak-webhooks", type=float, default=5000.0, help="peak webhook deliveries/s (10 minutes)")
    p.add_argument("--calls", type=float, default=200.0, help="trigger-calls/s (the rest of the webhooks are inbound calls)")
    p.add_argument("--accounts", type=int, default=10000)
    p.add_argument("--busiest-share", type=float, default=0.20, help="share of traffic of the busiest account (Zipf)")
    p.add_argument("--hanging", type=float, default=0.02, help="share of webhooks whose endpoint hangs on every attempt")
    p.add_argument("--fail-once", type=float, default=0.02, help="share of webhooks whose first attempt fails, second succeeds")
    p.add_argument("--retries", type=int, default=3, help="retries after a failed first attempt (30s,5m,30m)")
    p.add_argument("--held", type=float, default=0.05, help="share of trigger-calls held for later (not_before, calling window)")
    p.add_argument("--repair-event", type=float, default=0.001, help="share of events the reconciler queues")
    p.add_argument("--repair-lease", type=float, default=0.001, help="share of trigger-calls dying before the provider answered")
    p.add_argument("--repair-dial-unknown", type=float, default=0.005, help="share of trigger-calls with an unclear provider answer")
    p.add_argument("--repair-stale", type=float, default=0.001, help="share of placed calls never reported")
    p.add_argument("--repair-grace", type=float, default=0.01, help="share of calls whose analysis never comes")
    p.add_argument("--secret-miss", type=float, default=0.10, help="share of deliveries whose execution environment has not cached the account's secrets")
    p.add_argument("--shards", type=int, default=None,
                   help="values of every <n> shard placeholder in a partition key (default: each key's own count, from the profiles' \"shards\")")
    p.add_argument("--hanging-lane", default="retries", choices=["first", "retries"],
                   help="where a hanging endpoint's first attempt goes: the retries queue (the endpoint health record moves it there, the default) or the first-attempts queue (the design before issue 28)")
    p.add_argument("--account-concurrency", type=int, default=1000, help="the AWS account's Lambda concurrency quota")
    p.add_argument("--write-docs", action="store_true", help="replace the table between the capacity-model:table markers in --docs")
    p.add_argument("--label", default="", help="a line saying what was measured (date, commit, machine), written above the table")
    p.add_argument("--json", action="store_true", help="print the figures as JSON instead of text")
    return p.parse_args(argv)


def marked_table(text, name):
    """Rows of the Markdown table between `<!-- capacity-model:NAME` and `<!-- /capacity-model:NAME -->`."""
    m = re.search(r"<!-- capacity-model:%s\b.*?-->(.*?)<!-- /capacity-model:%s -->" % (name, name), text, re.S)
    if not m:
        raise SystemExit(f"docs: no capacity-model:{name} table between markers")
    rows = []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        rows.append(cells)
    return rows[1:]  # without the header


def load_tables(path):
    text = open(path, encoding="utf-8").read()
    lat = {}
    for row in marked_table(text, "latencies"):
        lat[row[0]] = float(row[1]) / 1000.0  # ms -> s
    prices = {}
    for row in marked_table(text, "prices"):
        prices[row[0]] = float(row[1].replace(",", "").replace("$", "")) / float(row[2].replace(",", ""))
    m = re.search(r"<!-- capacity-model:prices[^>]*as of (\S+)", text)
    return lat, prices, (m.group(1) if m else "?")


class Tagged:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        v = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        v = loader.construct_sequence(node, deep=True)
    else:
        v = loader.construct_mapping(node, deep=True)
    return Tagged(suffix, v)


class CfnLoader(yaml.SafeLoader):
    pass


CfnLoader.add_multi_constructor("!", _tagged)


class Template:
    """template.yaml with `!Ref`, `!FindInMap`, `!If`, `!Equals` resolved against the parameters' defaults (or overrides)."""

    def __init__(self, path, overrides):
        self.doc = yaml.load(open(path, encoding="utf-8"), Loader=CfnLoader)
        self.params = {k: str(v.get("Default", "")) for k, v in (self.doc.get("Parameters") or {}).items()}
        for o in overrides:
            k, _, v = o.partition("=")
            if k not in self.params:
                raise SystemExit(f"--param {k}: no such template parameter")
            self.params[k] = v
        self.conditions = self.doc.get("Conditions") or {}

    def value(self, v):
        if isinstance(v, Tagged):
            t, a = v.tag, v.value
            if t == "Ref":
                return None if a == "AWS::NoValue" else self.params.get(a, a)
            if t == "FindInMap":
                m, k1, k2 = (self.value(x) for x in a)
                return self.value(self.doc["Mappings"][m][k1][k2])
            if t == "If":
                return self.value(a[1] if self.condition(a[0]) else a[2])
            if t == "Equals":
                return str(self.value(a[0])) == str(self.value(a[1]))
            if t == "Not":
                return not self.value(a[0])
            if t == "And":
                return all(self.value(x) for x in a)
            if t == "Or":
                return any(self.value(x) for x in a)
            if t == "Condition":
                return self.condition(a)
            if t == "GetAtt":
                return a if isinstance(a, str) else ".".join(a)
            return None
        if isinstance(v, dict):
            if "Fn::If" in v:
                return self.value(Tagged("If", v["Fn::If"]))
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v

    def condition(self, name):
        return bool(self.value(self.conditions.get(name, True)))

    def functions(self):
        """Per function (kebab-case, as the profiles name them): memory, reserved concurrency, SQS sources."""
        glob = ((self.doc.get("Globals") or {}).get("Function")) or {}
        out = {}
        for name, res in (self.doc.get("Resources") or {}).items():
            if res.get("Type") != "AWS::Serverless::Function":
                continue
            props = res.get("Properties") or {}
            fn = re.sub(r"Function$", "", name)
            fn = re.sub(r"(?<!^)([A-Z])", r"-\1", fn).lower()
            sources = []
            for ev in (props.get("Events") or {}).values():
                if ev.get("Type") != "SQS":
                    continue
                ep = self.value(ev.get("Properties") or {})
                queue = str(ep.get("Queue", "")).split(".")[0]
                queue = re.sub(r"Queue$", "", queue)
                queue = re.sub(r"(?<!^)([A-Z])", r"-\1", queue).lower()
                sources.append({
                    "queue": queue,
                    "batch": int(ep.get("BatchSize", 10)),
                    "window": float(ep.get("MaximumBatchingWindowInSeconds", 0)),
                    "max_concurrency": int((ep.get("ScalingConfig") or {}).get("MaximumConcurrency", 0)) or None,
                })
            reserved = self.value(props.get("ReservedConcurrentExecutions"))
            env = ((props.get("Environment") or {}).get("Variables") or {})
            out[fn] = {
                "memory_mb": int(self.value(props.get("MemorySize", glob.get("MemorySize", 128)))),
                "timeout_s": float(self.value(props.get("Timeout", glob.get("Timeout", 3)))),
                "reserved": int(reserved) if reserved not in (None, "") else None,
                "sources": sources,
                # Work items one invocation runs at once (the reconciler's repairs); 1 otherwise.
                "parallel": int(self.value(env.get("RECONCILER_CONCURRENCY", 1)) or 1),
            }
        return out

    def route_throttles(self):
        """(default route rate, callback route rate) in requests/s, from the HTTP API's stage settings."""
        default_rate, callback_rate = None, None
        for res in (self.doc.get("Resources") or {}).values():
            props = res.get("Properties") or {}
            drs = props.get("DefaultRouteSettings")
            if drs is not None:
                default_rate = float(self.value(drs.get("ThrottlingRateLimit")))
                for route, s in (props.get("RouteSettings") or {}).items():
                    if "hooks" in route:
                        callback_rate = float(self.value(s.get("ThrottlingRateLimit")))
        return default_rate, callback_rate


# ---------------------------------------------------------------- units

def write_units(b):
    return max(1, math.ceil(b / KB))


def read_units(b, consistent):
    return max(1, math.ceil(b / READ_UNIT)) * (1.0 if consistent else 0.5)


def costed(request):
    """(key, wcu, rcu, bytes stored, is webhook side) per key a request touches."""
    out = []
    svc = request["service"]
    if svc != "dynamodb":
        return out
    txn = 2 if request.get("transaction") else 1
    for w in request.get("writes", []):
        b, a = w["before_bytes"], w["after_bytes"]
        if request["outcome"] != "ok" or w["action"] == "ConditionCheck":
            units = write_units(b)
        else:
            units = write_units(max(a, b))
        pk = w["pk"] or "?"
        ev = pk.startswith("EVENT#")
        out.append((("table", pk), units * txn, 0.0, max(0, a - b), ev))
        for ix in w.get("indexes", []):
            ib, ia = ix.get("before"), ix.get("after")
            if not ix.get("changed") or request["outcome"] != "ok":
                continue
            name = ix["index"]
            if ib and ia and not ix.get("key_changed"):
                out.append(((name, f"{ix['key_attribute']}={ia['pk']}"), write_units(max(ib["bytes"], ia["bytes"])), 0.0,
                            ia["bytes"] - ib["bytes"], ev))
                continue
            if ib:
                out.append(((name, f"{ix['key_attribute']}={ib['pk']}"), write_units(ib["bytes"]), 0.0, -ib["bytes"] - 100, ev))
            if ia:
                out.append(((name, f"{ix['key_attribute']}={ia['pk']}"), write_units(ia["bytes"]), 0.0, ia["bytes"] + 100, ev))
    for r in request.get("reads", []):
        b = r["bytes"]
        if r.get("items") and r.get("scanned", r["items"]) > r["items"]:
            b = b * r["scanned"] / r["items"]  # a filter reads what it drops
        units = read_units(b, r.get("consistent")) * txn
        pk = r.get("pk") or "?"
        key = ("table", pk) if not r.get("index") else (r["index"], f"{r.get('key_attribute', 'pk')}={pk}")
        out.append((key, 0.0, units, 0, pk.startswith("EVENT#")))
    return out


def signature(r):
    reads = tuple((x.get("index"), x.get("pk")) for x in r.get("reads", []))
    return (r["service"], r["op"], reads)


# ---------------------------------------------------------------- the traffic mix

def zipf_shares(n, top):
    """Shares of the n accounts, Zipf with the exponent that gives the busiest `top`."""
    lo, hi = 0.0, 5.0
    for _ in range(100):
        s = (lo + hi) / 2
        h = sum(k ** -s for k in range(1, n + 1))
        if 1 / h > top:
            hi = s
        else:
            lo = s
    h = sum(k ** -s for k in range(1, n + 1))
    return [k ** -s / h for k in range(1, n + 1)], s


class Model:
    def __init__(self, args, profiles, template, lat, prices):
        self.a, self.lat, self.prices = args, lat, prices
        self.fns = template.functions()
        self.route_rate, self.callback_rate = template.route_throttles()
        self.shares, self.zipf_s = zipf_shares(args.accounts, args.busiest_share)
        self.segs = {s["name"]: s for s in profiles["segments"]}
        # Each sharded key's number of shards, as the code defines it (captured).
        self.shards = profiles.get("shards", {})
        self.first_queue, self.retry_queue = self.queues()
        # A repair's own requests: its pass without the queries every pass makes.
        pass_reqs = self.segs.get("reconciler/reconciler/pass", {"requests": []})["requests"]
        self.pass_sigs = [signature(r) for r in pass_reqs]

    def shard_count(self, target, pk):
        """How many values `<n>` takes in this key: --shards when given, else the code's own
        count for the key's family (the due index, the delivery log and its index copy, the
        calls index), 1 for a key the profiles do not name."""
        if self.a.shards is not None:
            return self.a.shards
        if pk.startswith("due_kind="):
            return self.shards.get("due_kind", 1)
        if "CALLS#" in pk:
            return self.shards.get("call_list", 1)
        if "#LOG#" in pk or "#OUTCOME#" in pk:
            return self.shards.get("delivery_log", 1)
        return 1

    def queues(self):
        def sent_to(name):
            for r in self.segs.get(name, {"requests": []})["requests"]:
                if r["service"] == "sqs" and r["op"].startswith("SendMessage"):
                    return r["queue"]
            return None
        first = sent_to("outbound/call-completed/call_analyzed") or "events"
        return first, sent_to("retry/webhook-delivery/failed") or first

    def requests(self, name):
        s = self.segs.get(name)
        if s is None:
            raise SystemExit(f"profiles: no segment {name} (re-capture: make bench-scale-profiles)")
        reqs = s["requests"]
        if s["function"] == "reconciler" and name != "reconciler/reconciler/pass":
            left = list(self.pass_sigs)
            kept = []
            for r in reqs:
                sig = signature(r)
                if sig in left:
                    left.remove(sig)
                else:
                    kept.append(r)
            reqs = kept
        return reqs

    def occurrences(self, webhooks):
        """Scenario steps per second at `webhooks`/s: (segment, rate, post kind)."""
        a = self.a
        calls = a.calls
        inbound = max(webhooks - calls, 0.0)
        placed = calls * (1 - a.repair_lease - a.repair_dial_unknown)
        steps = [
            ("outbound/trigger-call/accepted", calls * (1 - a.held), None),
            ("held/trigger-call/scheduled", calls * a.held, None),
            ("held/reconciler/placed", calls * a.held, None),
        ]
        for st in ("call_started", "call_ended", "call_analyzed"):
            steps.append((f"outbound/call-completed/{st}", placed, None))
            steps.append((f"inbound/call-completed/{st}", inbound, None))
        events = webhooks
        healthy = events * (1 - a.hanging - a.fail_once)
        steps += [
            ("outbound/webhook-delivery/delivered", healthy, "healthy"),
            ("retry/webhook-delivery/failed", events * a.fail_once, "healthy"),
            ("retry/webhook-delivery/delivered", events * a.fail_once, "healthy"),
            # A hanging endpoint: every attempt fails after the timeout.
            ("retry/webhook-delivery/failed", events * a.hanging * (1 + a.retries), "hanging"),
            ("repair_event/reconciler/enqueued", events * a.repair_event, None),
            ("repair_lease/reconciler/dial_unknown", calls * a.repair_lease, None),
            ("repair_dial_unknown/reconciler/failed", calls * a.repair_dial_unknown, None),
            ("repair_stale/reconciler/failed", placed * a.repair_stale, None),
            ("repair_grace/reconciler/completed", (placed + inbound) * a.repair_grace, None),
            ("reconciler/reconciler/pass", 1 / 60.0, None),
        ]
        return steps

    def latency(self, r):
        svc, op = r["service"], r["op"]
        if svc == "dynamodb":
            return self.lat["dynamodb_transaction"] if op.startswith("Transact") else self.lat["dynamodb_request"]
        if svc == "sqs":
            return self.lat["sqs_request"]
        if svc == "secretsmanager":
            return self.lat["secrets_manager_request"] * self.a.secret_miss
        return 0.0

    def duration(self, name, post):
        s = self.segs[name]
        d = sum(self.latency(r) for r in self.requests(name))
        d += s["provider_calls"] * self.lat["provider_call"]
        if s["webhook_posts"]:
            d += s["webhook_posts"] * (self.lat["webhook_post_hanging"] if post == "hanging" else self.lat["webhook_post_healthy"])
        return d + self.lat["lambda_overhead"]

    def run(self, webhooks):
        a = self.a
        keys = defaultdict(lambda: {"wcu": 0.0, "rcu": 0.0, "scope": ""})
        per_item = defaultdict(lambda: {"wcu": 0.0, "rcu": 0.0})
        sqs = defaultdict(float)
        sm = 0.0
        conc = defaultdict(float)
        invocations = defaultdict(float)
        gbs = defaultdict(float)
        cost_w = defaultdict(float)  # webhook side, $/s
        cost_c = defaultdict(float)  # call side, $/s
        stored = {"w": 0.0, "c": 0.0}
        lanes = defaultdict(lambda: {"healthy": 0.0, "hanging": 0.0, "healthy_dur": 0.0})
        pr = self.prices
        for name, rate, post in self.occurrences(webhooks):
            if rate <= 0:
                continue
            seg = self.segs[name]
            fn = seg["function"]
            webhook_side_fn = fn == "webhook-delivery"
            for r in self.requests(name):
                if r["service"] == "sqs":
                    n = max(1, len(r.get("messages", [])))
                    chunks = sum(max(1, math.ceil(m.get("bytes", 0) / 65536)) for m in r.get("messages", [])) or 1
                    sqs[(r["queue"], r["op"])] += rate * (1 if r["op"].endswith("Batch") else n)
                    cost_w["sqs"] += rate * chunks * pr["sqs_request"]
                    continue
                if r["service"] == "secretsmanager":
                    sm += rate * a.secret_miss
                    (cost_w if webhook_side_fn else cost_c)["secrets_manager"] += rate * a.secret_miss * pr["secrets_manager_request"]
                    continue
                for key, wcu, rcu, grown, ev in costed(r):
                    side = cost_w if (webhook_side_fn or ev) else cost_c
                    side["dynamodb"] += rate * (wcu * pr["dynamodb_write_request_unit"] + rcu * pr["dynamodb_read_request_unit"])
                    stored["w" if (webhook_side_fn or ev) else "c"] += rate * grown
                    pk = key[1]
                    placeholders = set(re.findall(r"<([a-z_]+)>", pk))
                    # An account's API key and agents carry up to the account's traffic.
                    if placeholders & PER_ACCOUNT:
                        placeholders = (placeholders - PER_ACCOUNT) | {"account"}
                    if placeholders - {"account", "n"}:
                        it = per_item[key]
                        it["wcu"] = max(it["wcu"], wcu)
                        it["rcu"] = max(it["rcu"], rcu)
                        continue
                    share = 1.0
                    scope = "shared"
                    if "account" in placeholders:
                        share *= self.shares[0]
                        scope = "busiest account"
                    if "n" in placeholders:
                        n = self.shard_count(key[0], pk)
                        share /= max(1, n)
                        scope += f", 1 of {n} shards"
                    k = keys[key]
                    k["wcu"] += rate * wcu * share
                    k["rcu"] += rate * rcu * share
                    k["scope"] = scope
            dur = self.duration(name, post)
            if fn == "webhook-delivery":
                lane = self.first_queue
                if name == "retry/webhook-delivery/delivered" or (post == "hanging" and a.hanging_lane == "retries"):
                    lane = self.retry_queue
                if post == "hanging":
                    # First attempts in the first lane (unless moved); retries in the retry lane.
                    first = rate / (1 + a.retries)
                    lanes[lane if a.hanging_lane == "first" else self.retry_queue]["hanging"] += first
                    lanes[self.retry_queue]["hanging"] += rate - first
                else:
                    if name == "retry/webhook-delivery/failed":
                        lane = self.first_queue
                    lanes[lane]["healthy"] += rate
                    lanes[lane]["healthy_dur"] = max(lanes[lane]["healthy_dur"], dur)
                continue
            conc[fn] += rate * dur
            invocations[fn] += rate
            mem = self.fns.get(fn, {}).get("memory_mb", 256) / 1024.0
            gbs[fn] += rate * dur * mem
        # webhook-delivery: batches per lane, each as long as its slowest message.
        src = {s["queue"]: s for s in self.fns.get("webhook-delivery", {}).get("sources", [])}
        lane_out = {}
        hang_d = self.lat["webhook_post_hanging"] + self.duration("retry/webhook-delivery/failed", "healthy") - self.lat["webhook_post_healthy"]
        for q, l in lanes.items():
            s = src.get(q) or (list(src.values())[0] if src else {"batch": 10, "window": 0, "max_concurrency": None})
            msgs = l["healthy"] + l["hanging"]
            batch = s["batch"]
            p_hang = l["hanging"] / msgs if msgs else 0.0
            p_slow_batch = 1 - (1 - p_hang) ** batch
            healthy_d = l["healthy_dur"] or self.duration("outbound/webhook-delivery/delivered", "healthy")
            batch_d = p_slow_batch * hang_d + (1 - p_slow_batch) * healthy_d
            batches = msgs / batch
            c = batches * batch_d
            lane_out[q] = {"messages": msgs, "batches": batches, "batch_s": batch_d, "concurrency": c,
                           "max_concurrency": s.get("max_concurrency"), "p_slow_batch": p_slow_batch}
            conc["webhook-delivery"] += c
            invocations["webhook-delivery"] += batches
            gbs["webhook-delivery"] += c * self.fns.get("webhook-delivery", {}).get("memory_mb", 256) / 1024.0
            # The event source mapping's own requests: a receive and a delete batch per batch.
            sqs[(q, "ReceiveMessage (ESM)")] += batches
            sqs[(q, "DeleteMessageBatch (ESM)")] += batches
            cost_w["sqs"] += 2 * batches * pr["sqs_request"]
        for fn, inv in invocations.items():
            side = cost_w if fn == "webhook-delivery" else cost_c
            side["lambda"] += inv * pr["lambda_request"] + gbs[fn] * pr["lambda_gb_second"]
        api_trigger = a.calls
        api_callbacks = 3 * (a.calls * (1 - a.repair_lease - a.repair_dial_unknown) + max(webhooks - a.calls, 0))
        cost_c["api_gateway"] += (api_trigger + api_callbacks) * pr["api_gateway_request"]
        # Storage: what the writes add, kept a month (events, attempts and the log expire in 30 days).
        cost_w["dynamodb_storage"] += stored["w"] / 1e9 * pr["dynamodb_storage_gb_month"]
        cost_c["dynamodb_storage"] += stored["c"] / 1e9 * pr["dynamodb_storage_gb_month"]
        calls_total = a.calls + max(webhooks - a.calls, 0)
        return {
            "webhooks": webhooks, "calls": a.calls, "inbound": max(webhooks - a.calls, 0),
            "keys": dict(keys), "per_item": dict(per_item), "sqs": dict(sqs), "secrets_manager": sm,
            "concurrency": dict(conc), "invocations": dict(invocations), "lanes": lane_out,
            "api": {"trigger_call": api_trigger, "callbacks": api_callbacks},
            "cost_per_million_webhooks": {k: v / webhooks * 1e6 for k, v in cost_w.items()},
            "cost_per_million_calls": {k: v / calls_total * 1e6 for k, v in cost_c.items()},
        }


# ---------------------------------------------------------------- limits, goals, output

def limits(model, res):
    """(what, demand, limit) of every limit the model knows."""
    a = model.a
    out = []
    for (target, key), v in res["keys"].items():
        label = f"{target} {key}"
        out.append((f"partition {label} WCU/s", v["wcu"], 1000.0))
        out.append((f"partition {label} RCU/s", v["rcu"], 3000.0))
    total = 0.0
    for fn, c in res["concurrency"].items():
        total += c
        f = model.fns.get(fn, {})
        if f.get("reserved") is not None:
            # An invocation that repairs several items at once (the reconciler) does that
            # many items' work: its capacity is its reservation times that.
            parallel = f.get("parallel", 1)
            what = f"{fn} reserved concurrency" + (f" x {parallel} repairs at once" if parallel > 1 else "")
            out.append((what, c, float(f["reserved"]) * parallel))
    for q, l in res["lanes"].items():
        if l["max_concurrency"]:
            out.append((f"webhook-delivery ESM MaximumConcurrency ({q})", l["concurrency"], float(l["max_concurrency"])))
        # Standard queue: 120,000 in-flight messages.
        out.append((f"SQS in-flight messages ({q})", l["batches"] * l["batch_s"] * 10, 120000.0))
    out.append(("account Lambda concurrency", total, float(a.account_concurrency)))
    if model.route_rate:
        out.append(("API Gateway route throttle (trigger-call)", res["api"]["trigger_call"], model.route_rate))
    if model.callback_rate:
        out.append(("API Gateway callback route throttle", res["api"]["callbacks"], model.callback_rate))
    out.append(("API Gateway account throttle (10,000 rps)", res["api"]["trigger_call"] + res["api"]["callbacks"], 10000.0))
    out.append(("Secrets Manager GetSecretValue (10,000/s)", res["secrets_manager"], 10000.0))
    return out


def hottest(res, n=10):
    rows = [(max(v["wcu"] / 1000.0, v["rcu"] / 3000.0), t, k, v) for (t, k), v in res["keys"].items()]
    rows.sort(key=lambda r: -r[0])
    return rows[:n]


def money(d):
    return sum(d.values())


def render(model, sustained, peak, price_date):
    a = model.a
    L = []
    L.append(f"Traffic: {a.webhooks:,.0f} webhooks/s sustained ({a.calls:,.0f} trigger-calls/s, "
             f"{sustained['inbound']:,.0f} inbound calls/s), peak {a.peak_webhooks:,.0f}/s; {a.accounts:,} accounts, "
             f"Zipf s={model.zipf_s:.2f} (busiest {a.busiest_share:.0%}); {a.hanging:.0%} hanging endpoints, "
             f"{a.fail_once:.0%} failing once; held {a.held:.0%}; shards {a.shards if a.shards is not None else model.shards or 1}; prices as of {price_date}.")
    L.append("")
    L.append("Ten hottest partition keys at the sustained target (per-account keys: the busiest account):")
    L.append("")
    L.append("| target | key | scope | WCU/s | RCU/s | WCU/s at peak |")
    L.append("|---|---|---|---:|---:|---:|")
    for _, t, k, v in hottest(sustained):
        pv = peak["keys"].get((t, k), {"wcu": 0})
        L.append(f"| {t} | `{k}` | {v['scope']} | {v['wcu']:,.0f} | {v['rcu']:,.0f} | {pv['wcu']:,.0f} |")
    items = sorted(sustained["per_item"].items(), key=lambda kv: -kv[1]["wcu"])[:3]
    if items:
        L.append("")
        L.append("Per-item keys (one call, one event) take at most " +
                 ", ".join(f"`{k}` {v['wcu']:.0f} WCU" for (t, k), v in items) +
                 " in one step: never hot.")
    L.append("")
    L.append("| | sustained | peak |")
    L.append("|---|---:|---:|")
    fns = sorted(set(sustained["concurrency"]) | set(peak["concurrency"]))
    def conc(res, fn):
        c, inv = res["concurrency"].get(fn, 0), res["invocations"].get(fn, 0)
        return f"{c:,.0f} ({inv:,.0f}/s × {c / inv if inv else 0:.2f} s)"
    for fn in fns:
        L.append(f"| concurrency {fn} (invocations × mean duration) | {conc(sustained, fn)} | {conc(peak, fn)} |")
    for q, l in sustained["lanes"].items():
        pl = peak["lanes"].get(q, l)
        L.append(f"| delivery lane `{q}`: messages/s, batch length | {l['messages']:,.0f}, {l['batch_s']:.2f} s | {pl['messages']:,.0f}, {pl['batch_s']:.2f} s |")
    sq = defaultdict(float)
    for (q, op), v in sustained["sqs"].items():
        sq[q] += v
    for q, v in sorted(sq.items()):
        pv = sum(x for (qq, _), x in peak["sqs"].items() if qq == q)
        L.append(f"| SQS requests/s `{q}` | {v:,.0f} | {pv:,.0f} |")
    L.append(f"| Secrets Manager requests/s | {sustained['secrets_manager']:,.0f} | {peak['secrets_manager']:,.0f} |")
    L.append(f"| API Gateway requests/s (trigger-call + callbacks) | {sustained['api']['trigger_call'] + sustained['api']['callbacks']:,.0f} | {peak['api']['trigger_call'] + peak['api']['callbacks']:,.0f} |")
    cw, cc = sustained["cost_per_million_webhooks"], sustained["cost_per_million_calls"]
    L.append(f"| $ per million webhooks | {money(cw):.2f} | |")
    L.append(f"| $ per million calls | {money(cc):.2f} | |")
    L.append("")
    L.append("Cost per million webhooks: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cw.items(), key=lambda kv: -kv[1])) +
             "; per million calls: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cc.items(), key=lambda kv: -kv[1])) + ".")
    L.append("")
    for label, res in (("sustained", sustained), ("peak", peak)):
        lim = sorted(limits(model, res), key=lambda x: -(x[1] / x[2] if x[2] else 0))
        what, demand, limit = lim[0]
        at = limit / demand if demand else float("inf")
        L.append(f"First limit at the {label} load ({res['webhooks']:,.0f} webhooks/s): {what}: needs {demand:,.0f} "
                 f"of {limit:,.0f} (binds at {at:.1%} of this load, about {res['webhooks'] * at:,.0f} webhooks/s). "
                 "Then: " + "; ".join(f"{w} {d:,.0f} of {l:,.0f}" for w, d, l in lim[1:6] if d > l) + ".")
        L.append("")
    hot_w = max((v["wcu"] for v in sustained["keys"].values()), default=0)
    hot_r = max((v["rcu"] for v in sustained["keys"].values()), default=0)
    hot_pw = max((v["wcu"] for v in peak["keys"].values()), default=0)
    goals = [
        ("hottest key at the sustained target <= 300 WCU/s", hot_w, 300),
        ("hottest key at the sustained target <= 1,500 RCU/s", hot_r, 1500),
        ("hottest key at the peak <= 1,000 WCU/s", hot_pw, 1000),
        ("webhook-delivery concurrency at 1,000/s <= 400", sustained["concurrency"].get("webhook-delivery", 0), 400),
        ("$ per million webhooks <= 12", money(cw), 12),
        ("$ per million calls <= 15", money(cc), 15),
    ]
    for text, fig, goal in goals:
        L.append(f"- {'PASS' if fig <= goal else 'MISS'} {text}: {fig:,.2f}")
    return "\n".join(L), goals


def main(argv):
    a = parse_args(argv)
    profiles = json.load(open(a.profiles, encoding="utf-8"))
    lat, prices, price_date = load_tables(a.docs)
    for need in ("dynamodb_request", "dynamodb_transaction", "sqs_request", "secrets_manager_request", "provider_call",
                 "webhook_post_healthy", "webhook_post_hanging", "lambda_overhead"):
        if need not in lat:
            raise SystemExit(f"docs: latency {need} missing from the capacity-model:latencies table")
    for need in ("dynamodb_write_request_unit", "dynamodb_read_request_unit", "dynamodb_storage_gb_month", "sqs_request",
                 "secrets_manager_request", "lambda_request", "lambda_gb_second", "api_gateway_request"):
        if need not in prices:
            raise SystemExit(f"docs: price {need} missing from the capacity-model:prices table")
    template = Template(a.template, a.param)
    model = Model(a, profiles, template, lat, prices)
    sustained = model.run(a.webhooks)
    peak = model.run(a.peak_webhooks)
    text, goals = render(model, sustained, peak, price_date)
    if a.json:
        print(json.dumps({"sustained": {k: v for k, v in sustained.items() if k not in ("keys", "per_item", "sqs")},
                          "goals": goals}, indent=1, default=str))
    else:
        print(text)
    if a.write_docs:
        doc = open(a.docs, encoding="utf-8").read()
        block = (a.label + "\n\n" if a.label else "") + text
        new, n = re.subn(r"(<!-- capacity-model:table -->\n).*?(\n<!-- /capacity-model:table -->)",
                         lambda m: m.group(1) + block + m.group(2), doc, flags=re.S)
        if n != 1:
            raise SystemExit("docs: no capacity-model:table markers")
        open(a.docs, "w", encoding="utf-8").write(new)
        print(f"\nwrote the table into {a.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
