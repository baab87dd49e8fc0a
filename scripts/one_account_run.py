#!/usr/bin/env python3
"""One busy account alone on the local stack (issue 28's fairness and latency goals).

Starts the local stack (the `local-stack` binary `make run` starts) with SIM_CALL_SECONDS=1,
places CALLS calls of the demo account from THREADS threads, waits until the stack's receiver
got one call.completed webhook per call, and prints, from what the stack wrote (never from
numbers typed here):

- trigger-call's accepted rate;
- per call, from the moment trigger-call answered (the call placed) to the receiver's
  `received_at` of its call.completed: p50, p99, max (goal: every one within 30 s);
- per call, from its event's `created_at` (stored while the provider's last callback,
  call_analyzed, is handled) to `received_at`: p50 (goal: 1 s or less);
- the re-parks the fair step logged ("re-parked" lines in the stack's log; goal: 0).

Usage: VENV=.venv .venv/bin/python scripts/one_account_run.py [--calls 300] [--threads 16]
Figures, never asserted; recorded in docs/benchmarks.md.
"""
import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def post(url, key, body):
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--wait", type=float, default=300.0, help="seconds to wait for the webhooks")
    args = ap.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    local_dir = tempfile.mkdtemp(prefix="one-account-")
    log_path = os.path.join(local_dir, "stack.log")
    env = dict(os.environ)
    env.update(
        {
            "LOCAL_DIR": local_dir,
            "SIM_CALL_SECONDS": "1",
            "API_RATE_LIMIT_PER_MINUTE": "100000",
            "SETTINGS_RATE_LIMIT_PER_MINUTE": "100000",
            # Ports of their own, so a running `make run` is not disturbed.
            "API_PORT": "0",
            "PROVIDER_PORT": "0",
            "RECEIVER_PORT": "0",
        }
    )
    binary = os.path.join(root, "target", "debug", "local-stack")
    subprocess.run(["cargo", "build", "--quiet", "-p", "local-stack", "--bin", "local-stack"], cwd=root, check=True)
    log = open(log_path, "w")
    stack = subprocess.Popen([binary], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while "local stack ready" not in open(log_path).read():
            if stack.poll() is not None or time.time() > deadline:
                sys.exit(f"the stack did not start; see {log_path}")
            time.sleep(0.2)
        info = json.load(open(os.path.join(local_dir, "stack.json")))
        url = info["api_base_url"].rstrip("/") + "/api/trigger-call"
        key = info["api_key"]

        placed = {}
        lock = threading.Lock()
        refused = []

        def worker(n):
            for i in range(n, args.calls, args.threads):
                # A 409 `conflict` says "re-read it and retry" (moto lets one transaction run
                # at a time and answers the others TransactionConflict): retried, as a client
                # would. Nothing was written, so a retry never places a second call.
                for _ in range(5):
                    status, body = post(
                        url,
                        key,
                        {"phone": f"+141555501{i % 100:02d}", "name": f"Load {i}"},
                    )
                    if status != 409:
                        break
                    time.sleep(0.2)
                with lock:
                    if status == 200 and "call_id" in body:
                        placed[body["call_id"]] = time.time()
                    else:
                        refused.append((status, body))

        t0 = time.time()
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accept_s = time.time() - t0
        if refused:
            print(f"refused: {len(refused)}, first: {refused[0]}")

        receiver_log = info["receiver_log"]
        got = {}
        deadline = time.time() + args.wait
        while len(got) < len(placed) and time.time() < deadline:
            with open(receiver_log) as f:
                for line in f:
                    r = json.loads(line)
                    body = json.loads(base64.b64decode(r["body_base64"]) or b"{}")
                    if body.get("event") != "call.completed":
                        continue
                    cid = body.get("call_id") or body.get("data", {}).get("call_id")
                    if cid in placed and cid not in got:
                        got[cid] = parse_time(r["received_at"])
            time.sleep(0.5)

        # The events' created_at, from the emulator's table.
        import boto3

        ddb = boto3.client(
            "dynamodb",
            endpoint_url=info["emulator_url"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        created = {}
        pager = ddb.get_paginator("scan")
        for page in pager.paginate(TableName=info["table"]):
            for item in page["Items"]:
                if item.get("type", {}).get("S") == "event" and item.get("event_type", {}).get("S", "call.completed") == "call.completed":
                    created[item["call_id"]["S"]] = parse_time(item["created_at"]["S"])
    finally:
        stack.terminate()
        stack.wait(timeout=30)
        log.close()

    reparks = sum(1 for line in open(log_path) if "re-parked" in line)
    moved = sum(1 for line in open(log_path) if "moved to the retries lane" in line)
    placed_to_received = [got[c] - placed[c] for c in got]
    last_callback_to_received = [got[c] - created[c] for c in got if c in created]
    print(f"calls placed: {len(placed)} in {accept_s:.1f} s ({len(placed) / accept_s:.1f}/s), from {args.threads} threads")
    print(f"webhooks received: {len(got)} of {len(placed)}")
    if placed_to_received:
        print(
            "placed -> webhook received: p50 {:.2f} s, p99 {:.2f} s, max {:.2f} s".format(
                pct(placed_to_received, 50), pct(placed_to_received, 99), max(placed_to_received)
            )
        )
    if last_callback_to_received:
        print(
            "event stored (last callback) -> webhook received: p50 {:.3f} s, p99 {:.3f} s".format(
                statistics.median(last_callback_to_received), pct(last_callback_to_received, 99)
            )
        )
    print(f"re-parks: {reparks}; moved to the retries lane: {moved}")
    if len(got) < len(placed) or refused:
        sys.exit(
            f"{len(got)} of {len(placed)} webhooks arrived within {args.wait} s, {len(refused)} calls refused; the stack's log: {log_path}"
        )
    shutil.rmtree(local_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
