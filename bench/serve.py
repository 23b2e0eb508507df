"""Benchmark `ser serve` on the loopback interface against `ser predict`'s one-file time.

    python bench/serve.py [--model model] [--data ../shared/data/ravdess16k] [--requests 2000]

Starts ``ser serve --port 0`` on 127.0.0.1 and measures, in one run:

* startup_s: from starting the process until ``GET /health`` answers 200;
* one-file ``POST /predict`` latency p50 and p99 (client side, keep-alive connections) with 1, 4
  and 16 concurrent clients; the ``--requests`` are shared among the three levels (15 %, 25 %,
  60 %), each client sending one real file per request, round robin over ``--files`` files;
* files_per_s: the highest throughput of the three levels (saturation: 2 cores);
* errors: requests that got no answer or one other than 200 or 422 (must be 0); refused: the 422 answers, a
  file the server found unusable (e.g. one with no speech), counted apart and in the latencies as answered;
* server resident memory (``VmRSS``) after a warm-up (64 requests from 16 clients, which starts
  all the worker threads) and after the ``--requests`` (must stay within 10 %);
* beside them, ``ser predict``'s one-file wall time (median of ``--repeat`` fresh processes), and
  ``p50_1_over_predict``: the one-client p50 as a share of it (target below 1/20).

Everything is bounded: each level stops at ``--level-seconds`` even if its requests are not all
sent, and every request has a timeout. The clients run in this process, on the same 2 cores as the
server, so throughput is the machine's, not the server's alone; ``load_average`` tells how busy the
machine was with other work. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from common import add_json_output, add_model_and_data, report, run, spread_files

LEVELS = {1: 0.15, 4: 0.25, 16: 0.60}  # concurrent clients: share of --requests


def form(path: Path) -> tuple[bytes, str]:
    """A multipart body with the file as a part named ``file``, and its content type."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, timeout: float) -> tuple[subprocess.Popen, int, float]:
    """The server process, its port, and the seconds until GET /health answered 200."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "ser", "serve", "--model", str(model), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while time.perf_counter() - started < timeout and server.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server, port, time.perf_counter() - started
        except OSError:
            time.sleep(0.01)
    server.kill()
    raise SystemExit(
        f"ser serve --model {model} did not answer GET /health within {timeout} s "
        f"(exit code {server.wait()}); run it by hand to see why"
    )


def run_level(
    port: int, bodies: list[tuple[bytes, str]], clients: int, requests: int, seconds: float
) -> tuple[list[float], int, int, float]:
    """Latencies of the answered requests, the numbers of refusals (422) and errors, and the level's wall time."""
    latencies: list[float] = []
    refused, errors = [0], [0]
    lock = threading.Lock()
    counter = iter(range(requests))
    deadline = time.perf_counter() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in counter:  # shared: the clients together send `requests`
            if time.perf_counter() > deadline:
                break
            body, content_type = bodies[i % len(bodies)]
            start = time.perf_counter()
            try:
                connection.request("POST", "/predict", body=body, headers={"Content-Type": content_type})
                response = connection.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = None
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            elapsed = time.perf_counter() - start
            with lock:
                if status in (200, 422):
                    latencies.append(elapsed)
                    refused[0] += status == 422
                else:
                    errors[0] += 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, refused[0], errors[0], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_and_data(parser)
    parser.add_argument("--files", type=int, default=20, help="distinct files the requests cycle through")
    parser.add_argument("--requests", type=int, default=2000, help="one-file requests over the three levels")
    parser.add_argument("--level-seconds", type=float, default=300, help="time bound of each level")
    parser.add_argument("--repeat", type=int, default=5, help="fresh ser predict processes (median)")
    add_json_output(parser, "serve")
    args = parser.parse_args()
    chosen = spread_files(args.data, args.files)
    bodies = [form(path) for path in chosen]

    result: dict = {"model": args.model.name, "files": args.files}
    predict_one = [sys.executable, "-m", "ser", "predict", "--model", str(args.model), str(chosen[0])]
    run(predict_one, 1)  # warm the OS file cache and Python's bytecode caches
    result["ser_predict_one_file_s"] = run(predict_one, args.repeat)[0]
    server, port, result["startup_s"] = start_server(args.model, timeout=300)
    try:
        # warm-up at the highest concurrency: lazy imports, and the server's worker threads all started
        run_level(port, bodies, max(LEVELS), 4 * max(LEVELS), args.level_seconds)
        result["rss_before_mb"] = rss_mb(server.pid)
        result["errors"] = result["refused"] = result["requests"] = 0
        throughputs = []
        for clients, share in LEVELS.items():
            latencies, refused, errors, wall = run_level(
                port, bodies, clients, round(share * args.requests), args.level_seconds
            )
            result["errors"] += errors
            result["refused"] += refused
            result["requests"] += len(latencies) + errors
            result[f"p50_{clients}_s"] = statistics.median(latencies)
            result[f"p99_{clients}_s"] = percentile(latencies, 99)
            throughputs.append(len(latencies) / wall)
            result[f"files_per_s_{clients}"] = throughputs[-1]
        result["files_per_s"] = max(throughputs)
        result["rss_after_mb"] = rss_mb(server.pid)
    finally:
        server.send_signal(2)
        server.wait(timeout=30)
    result["rss_growth"] = result["rss_after_mb"] / result["rss_before_mb"] - 1
    result["p50_1_over_predict"] = result["p50_1_s"] / result["ser_predict_one_file_s"]
    result["target_met"] = result["p50_1_over_predict"] < 1 / 20
    result["load_average"] = os.getloadavg()[0]

    print(f"ser predict, one file (fresh process)  {result['ser_predict_one_file_s']:8.3f} s")
    print(f"ser serve start-up until /health 200   {result['startup_s']:8.3f} s")
    for clients in LEVELS:
        print(
            f"{clients:2d} client(s): p50 {1000 * result[f'p50_{clients}_s']:7.1f} ms   "
            f"p99 {1000 * result[f'p99_{clients}_s']:7.1f} ms   {result[f'files_per_s_{clients}']:6.1f} files/s"
        )
    print(f"files/s at saturation                  {result['files_per_s']:8.1f}")
    print(f"errors                                 {result['errors']:8d} of {result['requests']} requests")
    print(f"refused (422, an unusable file)        {result['refused']:8d}")
    print(
        f"server RSS before / after              {result['rss_before_mb']:8.1f} / {result['rss_after_mb']:.1f} MB "
        f"({result['rss_growth']:+.1%})"
    )
    print(
        f"p50 at 1 client / ser predict          {result['p50_1_over_predict']:8.4f} "
        f"(target < {1 / 20:.2f}: {'met' if result['target_met'] else 'NOT met'})"
    )
    print(f"load average (1 min)                   {result['load_average']:8.2f}")
    report(result, args.json)


if __name__ == "__main__":
    main()
