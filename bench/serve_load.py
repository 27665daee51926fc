"""The server under load: concurrent mixed clients, a slow-client flood and a cancelling-client flood at once.

Why: `python -m distill.serve` is a shared endpoint (the teacher for `distill.generate`, students
for evaluation); a few misbehaving clients must not stop it serving the rest. This starts the
server (a micro byte-level checkpoint with random weights unless `--checkpoint` names one) on
loopback, and for `--duration` seconds runs `--clients` keep-alive clients sending a mix of
requests (greedy and sampled, n > 1, log-probs, completions and chat) while, at the same time,
`--slow` connections send headers promising a 16 MB body and then one byte, and
`--cancelled` clients send large sampled requests and hang up before the answer.

The clients behave as a real one does: a 429 or 503 is counted (with its error code) and the
request retried after `Retry-After` (or a growing back-off), on a fresh connection when the
server closed it.

Reported: requests/s and completions/s, p50/p99/max latency, the count of each status code (and
client-side errors), how each slow connection ended and how long after it connected (the server
closes one at the latest `--request_timeout_s` after accepting it; at the connection cap the
slowest are evicted sooner), the server's /metrics counters (rows decoded, cancelled, refused;
connections refused, evicted), its peak RSS and thread count (from /proc), and the latency of a
plain request idle before the load and right after it. The acceptance check of issue 16 is
printed as one line: no 5xx, no client-side errors, no wait past `--request_timeout_s`, 429s
only for a full queue, every slow connection closed within `--request_timeout_s` (plus 2 s) of
connecting, threads and RSS bounded, and the plain request after the floods within 2x its idle
latency.

  python bench/serve_load.py                                          # 64 clients, 60 s, 300 slow, 100 cancelled
  nice -n 19 python bench/serve_load.py --clients 8 --duration 15 --slow 50 --cancelled 20
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import json
import os
import pathlib
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

BENCH = pathlib.Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))  # Runs from a checkout, installed or not.

MODEL_GIN = "gin/models/byt5/micro.gin"
PROMPTS = ["The quick brown fox", "2 + 2 =", "Tell me a story", "What is 2+3?", "Q: 7 * 6 + 1?"]
MIX = [  # (route, body): what the concurrent clients send, round-robin from a random start
    ("/v1/completions", {"prompt": PROMPTS[0], "temperature": 0, "max_tokens": 32}),
    ("/v1/completions", {"prompt": PROMPTS[1:3], "temperature": 0.8, "n": 4, "max_tokens": 24, "seed": 1}),
    ("/v1/completions", {"prompt": PROMPTS[2], "temperature": 0, "n": 8, "max_tokens": 32, "logprobs": 5}),
    ("/v1/completions", {"prompt": PROMPTS[3], "temperature": 1.0, "n": 2, "max_tokens": 16, "logprobs": 2}),
    (
        "/v1/chat/completions",
        {
            "messages": [{"role": "user", "content": PROMPTS[4]}],
            "temperature": 0.7,
            "n": 3,
            "max_tokens": 24,
            "logprobs": True,
            "top_logprobs": 3,
        },
    ),
]
CANCELLED = {"prompt": PROMPTS[:2], "temperature": 1.0, "n": 64, "max_tokens": 32, "logprobs": 5}
PLAIN = {"prompt": "hi", "temperature": 0, "max_tokens": 1}
RSS_BOUND = 2.0  # the server's peak RSS under load, as a multiple of its idle RSS


def make_checkpoint(directory: str) -> str:
    """A micro byte-level run with random weights: `<directory>/micro_run/checkpoint_0/state`."""
    import flax.linen as nn
    import gin
    import jax
    import jax.numpy as jnp
    import orbax.checkpoint as ocp

    from distill.serve import loading

    model = loading.load_model([str(REPO / MODEL_GIN)], ["ACTIVATION_DTYPE = 'float32'"])
    gin.clear_config()
    shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
    params = nn.unbox(model.get_initial_variables(jax.random.PRNGKey(0), shapes))["params"]
    run = os.path.join(directory, "micro_run")
    tree = {"target": params, "state": {"step": jnp.asarray(0, jnp.int32)}}
    ocp.PyTreeCheckpointer().save(os.path.join(run, "checkpoint_0", "state"), tree)
    return run


def start_server(args: argparse.Namespace, checkpoint: str, log_path: str) -> tuple[subprocess.Popen, str, int]:
    command = [
        sys.executable, "-m", "distill.serve", f"--gin_file={args.gin_file}", "--gin.ACTIVATION_DTYPE='float32'",
        f"--checkpoint={checkpoint}", "--port=0", f"--batch_buckets={args.batch_buckets}",
        "--input_length_buckets=64", "--decode_length_buckets=32",
        f"--request_timeout_s={args.request_timeout_s}", f"--max_connections={args.max_connections}",
        f"--max_queued_rows={args.max_queued_rows}",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r" at http://([^:]+):(\d+)/v1", line or "")
        if match:
            return proc, match.group(1), int(match.group(2))
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"the server did not start; see {log_path}")


class Target:
    """Where the server listens, and one request over a fresh or kept connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(
        self, conn: http.client.HTTPConnection, route: str, body: dict | None
    ) -> tuple[int, bytes, float | None]:
        """Status, body and Retry-After (seconds, if sent); closes `conn` when the server closes it."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request("POST" if data is not None else "GET", route, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
        retry_after = response.getheader("Retry-After")
        return response.status, payload, float(retry_after) if retry_after else None

    def once(self, route: str, body: dict | None, timeout: float = 120) -> tuple[int, bytes, float]:
        conn = self.connection(timeout)
        try:
            start = time.perf_counter()
            status, payload, _ = self.request(conn, route, body)
            return status, payload, time.perf_counter() - start
        finally:
            conn.close()


class Monitor(threading.Thread):
    """Samples the server process's RSS and thread count from /proc until stopped; keeps the peaks."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss_mb = self.peak_threads = 0.0
        self.samples: list[tuple[float, float, int]] = []
        self.stop = threading.Event()

    def read(self) -> tuple[float, int]:
        with open(f"/proc/{self.pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])

    def run(self) -> None:
        start = time.monotonic()
        while not self.stop.is_set():
            with contextlib.suppress(OSError, KeyError, ValueError):
                rss, threads = self.read()
                self.peak_rss_mb, self.peak_threads = max(self.peak_rss_mb, rss), max(self.peak_threads, threads)
                self.samples.append((round(time.monotonic() - start, 2), round(rss, 1), threads))
            self.stop.wait(self.interval)


def status_label(status: int, payload: bytes) -> str:
    """`200`, or an error status with its OpenAI error code (`429:queue_full`, `503:overloaded`)."""
    if status == 200:
        return "200"
    try:
        return f"{status}:{json.loads(payload)['error']['code']}"
    except (ValueError, KeyError, TypeError):
        return str(status)


def client(target: Target, until: float, seed: int, results: list, timeout: float) -> None:
    """One keep-alive client: mixed requests back to back until `until`; records (status, latency, choices).

    A 429 or 503 is recorded, then the same request is retried after Retry-After (else a back-off
    doubling from 0.1 s), as a real client does; http.client reconnects when the server closed.
    """
    rng = random.Random(seed)
    index = rng.randrange(len(MIX))
    conn = target.connection(timeout)
    backoff = 0.1
    while time.monotonic() < until:
        route, body = MIX[index % len(MIX)]
        start = time.perf_counter()
        try:
            status, payload, retry_after = target.request(conn, route, body)
            choices = len(json.loads(payload).get("choices", [])) if status == 200 else 0
            results.append((status_label(status, payload), time.perf_counter() - start, choices))
            if status in (429, 503):
                time.sleep(min(retry_after or backoff, max(until - time.monotonic(), 0)))
                backoff = min(backoff * 2, 2.0)
                continue
        except (OSError, http.client.HTTPException) as error:
            results.append((f"error:{type(error).__name__}", time.perf_counter() - start, 0))
            conn.close()
            conn = target.connection(timeout)
        index += 1
        backoff = 0.1
    conn.close()


def slow_flood(target: Target, count: int, hold_until: float, closed: list) -> None:
    """`count` connections that promise a 16 MB body and send one byte.

    Records, per connection, how it ended (the response's status and error code, `closed` without
    one, `still_open` at `hold_until`), seconds from the flood's start to its connect and from its
    connect to its end. Each is checked every 50 ms, so ends are late by up to that.
    """
    socks: dict[socket.socket, float] = {}
    start = time.monotonic()
    for _ in range(count):
        try:
            sock = socket.create_connection((target.host, target.port), timeout=5)
            opened = time.monotonic()
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 16000000\r\n\r\n{")
            sock.setblocking(False)
            socks[sock] = opened
        except OSError:
            closed.append(("refused_at_connect", time.monotonic() - start, 0.0))
    while socks and time.monotonic() < hold_until:
        for sock, opened in list(socks.items()):
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data or b"\r\n\r\n" in data:
                status = "closed"
                if data.startswith(b"HTTP/1.1 "):
                    code = re.search(rb'"code": "(\w+)"', data)
                    status = data.split(b" ", 2)[1].decode() + (f":{code.group(1).decode()}" if code else "")
                closed.append((status, opened - start, time.monotonic() - opened))
                del socks[sock]
                sock.close()
        time.sleep(0.05)
    for sock, opened in socks.items():
        closed.append(("still_open", opened - start, time.monotonic() - opened))
        sock.close()


def cancel_flood(target: Target, count: int, after_s: float, sent: list) -> None:
    """`count` large sampled requests, each abandoned `after_s` after it is sent (the client hangs up)."""
    data = json.dumps(CANCELLED).encode()
    head = f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(data)}"
    for _ in range(count):
        try:
            with socket.create_connection((target.host, target.port), timeout=5) as sock:
                sock.sendall(head.encode() + b"\r\n\r\n" + data)
                time.sleep(after_s)
            sent.append("sent")
        except OSError as error:
            sent.append(f"error:{type(error).__name__}")


def plain_latency(target: Target, repeats: int) -> float:
    """The median latency of a one-token greedy request on a fresh connection."""
    times = []
    for _ in range(repeats):
        status, _, seconds = target.once("/v1/completions", PLAIN)
        if status == 200:
            times.append(seconds)
    return statistics.median(times) if times else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def run_load(args: argparse.Namespace, target: Target, monitor: Monitor) -> dict[str, Any]:
    for route, body in MIX:  # compile every program the mix needs before timing
        target.once(route, body, timeout=600)
    idle = plain_latency(target, 5)
    before = json.loads(target.once("/metrics", None)[1])
    results: list[tuple[str, float, int]] = []
    closed: list[tuple[str, float, float]] = []
    sent: list[str] = []
    start = time.monotonic()
    until = start + args.duration
    threads = [
        threading.Thread(target=client, args=(target, until, i, results, args.client_timeout_s), daemon=True)
        for i in range(args.clients)
    ]
    hold = until + args.request_timeout_s + 5
    threads.append(threading.Thread(target=slow_flood, args=(target, args.slow, hold, closed), daemon=True))
    threads.append(threading.Thread(target=cancel_flood, args=(target, args.cancelled, 0.2, sent), daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads[: args.clients]:
        thread.join()
    wall = time.monotonic() - start
    after = plain_latency(target, 3)
    for thread in threads[args.clients :]:
        thread.join()
    metrics = json.loads(target.once("/metrics", None)[1])
    latencies = [seconds for status, seconds, _ in results if status == "200"]
    statuses = Counter(status for status, _, _ in results)
    return {
        "wall_s": wall,
        "requests": len(results),
        "ok": statuses.get("200", 0),
        "requests_per_s": len(results) / wall,
        "completions_per_s": sum(choices for _, _, choices in results) / wall,
        "latency_p50_s": percentile(latencies, 0.5),
        "latency_p99_s": percentile(latencies, 0.99),
        "latency_max_s": max((seconds for _, seconds, _ in results), default=float("nan")),
        "statuses": dict(sorted(statuses.items())),
        "slow_connections": dict(sorted(Counter(status for status, _, _ in closed).items())),
        "slow_connected_within_s": max((at for _, at, _ in closed), default=float("nan")),
        "slow_lifetime_s_max": max((held for s, _, held in closed if s != "still_open"), default=float("nan")),
        "slow_lifetime_s_median": statistics.median([held for _, _, held in closed]) if closed else float("nan"),
        "cancelled_requests": dict(Counter(sent)),
        "server": {
            "peak_rss_mb": monitor.peak_rss_mb,
            "peak_threads": monitor.peak_threads,
            "metrics_delta": {
                k: metrics[k] - before[k]
                for k in metrics
                if k in before and isinstance(metrics[k], (int, float)) and not isinstance(metrics[k], bool)
            },
        },
        "plain_latency_idle_s": idle,
        "plain_latency_after_s": after,
    }


def acceptance(result: dict[str, Any], args: argparse.Namespace, baseline: tuple[float, int]) -> dict[str, bool]:
    """Issue 16's acceptance, one check each (the bounds are stated where each is computed)."""
    from distill.serve.http_server import MAX_EVICTING  # evicted handlers still finishing, above the cap

    statuses, server = result["statuses"], result["server"]
    baseline_rss, baseline_threads = baseline
    thread_bound = baseline_threads + args.max_connections + MAX_EVICTING + 8  # + linger, http, worker, slack
    refused_rows = server["metrics_delta"].get("refused_rows", 0)
    too_many = [s for s in statuses if s.startswith("429")]
    return {
        "no_5xx": not any(s.startswith("5") for s in statuses),
        "no_client_errors": not any(s.startswith("error") for s in statuses),
        "no_wait_past_timeout": result["latency_max_s"] <= args.request_timeout_s + 1,
        "429_only_for_a_full_queue": all(s == "429:queue_full" for s in too_many)
        and (not too_many or refused_rows > 0),
        "slow_connections_closed_in_time": result["slow_connections"].get("still_open", 0) == 0
        and result["slow_lifetime_s_max"] <= args.request_timeout_s + 2,
        "threads_bounded": server["peak_threads"] <= thread_bound,
        "rss_bounded": server["peak_rss_mb"] <= RSS_BOUND * baseline_rss,
        "plain_after_within_2x_idle": result["plain_latency_after_s"] <= 2 * result["plain_latency_idle_s"],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent keep-alive clients")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the clients send requests")
    parser.add_argument("--slow", type=int, default=300, help="slow connections (headers, then one byte)")
    parser.add_argument("--cancelled", type=int, default=100, help="large requests abandoned after 0.2 s")
    parser.add_argument("--gin_file", default=MODEL_GIN)
    parser.add_argument("--checkpoint", help="a run or checkpoint dir (default: a random micro one)")
    parser.add_argument("--batch_buckets", default="8,32")
    parser.add_argument("--request_timeout_s", type=float, default=30.0)
    parser.add_argument("--max_connections", type=int, default=256)
    parser.add_argument("--max_queued_rows", type=int, default=1024)
    parser.add_argument("--client_timeout_s", type=float, default=120.0, help="a client gives up after this")
    parser.add_argument("--json", default="out/bench/serve_load.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    print(
        f"{os.cpu_count()} CPUs, python {platform.python_version()} | {args.clients} clients for {args.duration:g} s, "
        f"{args.slow} slow connections, {args.cancelled} cancelled requests | request_timeout_s "
        f"{args.request_timeout_s:g}, max_connections {args.max_connections}, max_queued_rows {args.max_queued_rows}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = args.checkpoint or make_checkpoint(directory)
        proc, host, port = start_server(args, checkpoint, os.path.join(directory, "server.log"))
        monitor = Monitor(proc.pid)
        try:
            baseline_rss, baseline_threads = monitor.read()
            monitor.start()
            result = run_load(args, Target(host, port), monitor)
        finally:
            monitor.stop.set()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    checks = acceptance(result, args, (baseline_rss, baseline_threads))
    report = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": vars(args),
        "server_baseline": {"rss_mb": baseline_rss, "threads": baseline_threads},
        "result": result,
        "acceptance": checks,
        "server_samples": monitor.samples[:: max(1, len(monitor.samples) // 200)],
    }
    r, server = result, result["server"]
    print(f"{'requests':>9}{'req/s':>8}{'compl/s':>9}{'p50 s':>8}{'p99 s':>8}{'max s':>8}  statuses")
    print(
        f"{r['requests']:>9}{r['requests_per_s']:>8.1f}{r['completions_per_s']:>9.1f}{r['latency_p50_s']:>8.2f}"
        f"{r['latency_p99_s']:>8.2f}{r['latency_max_s']:>8.2f}  {r['statuses']}"
    )
    print(
        f"slow connections: {r['slow_connections']}; all connected within {r['slow_connected_within_s']:.1f} s of "
        f"the flood's start; each closed {r['slow_lifetime_s_median']:.1f} s (median), at most "
        f"{r['slow_lifetime_s_max']:.1f} s after it connected"
    )
    print(f"cancelled requests: {r['cancelled_requests']}")
    delta = server["metrics_delta"]
    print(
        f"server: peak RSS {server['peak_rss_mb']:.0f} MB (idle {baseline_rss:.0f}), peak threads "
        f"{server['peak_threads']:.0f} (idle {baseline_threads}); rows decoded {delta.get('decoded_rows')}, "
        f"cancelled {delta.get('cancelled_rows')}, refused {delta.get('refused_rows')}; connections refused "
        f"{delta.get('refused_connections')}, evicted {delta.get('evicted_connections')}"
    )
    idle_ms, after_ms = r["plain_latency_idle_s"] * 1000, r["plain_latency_after_s"] * 1000
    print(f"plain request: {idle_ms:.0f} ms idle, {after_ms:.0f} ms after the load")
    print("acceptance: " + ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in checks.items()))
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
