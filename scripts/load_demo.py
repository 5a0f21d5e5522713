"""Load the web demo on the loopback: serve a model with scripts/demo.py, then let N clients at once (half through
gradio_client, half through plain HTTP) each send --requests label maps of the --sizes in turn, for each N of
--clients. Prints, per N: the answers (images, "busy" answers of the full queue, failures), throughput, p50/p95
latency of the images, and the server's peak resident memory; then checks that the server still answers.

python scripts/load_demo.py --model SOURCE [--clients 1,4,17,170] [--requests 4] [--sizes 64,256,1024,4096]
                            [--max_queue 16] [--port 7871]
Needs requirements-demo.txt. A request the server turned away (HTTP 503, gradio_client's QueueError) counts as busy.
"""
import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np
from PIL import Image

from options.parser import OneLineErrorParser
from util.arguments import int_in
from util.errors import UserError, run_cli

BUSY, IMAGE, FAILED = 'busy', 'image', 'failed'
FAILURES: List[str] = []  # what the failed requests were answered, for the report


def canvas(size: int, seed: int) -> bytes:
    """A painted-looking label map: blocks of class ids 0-11, as a grey PNG of size x size."""
    grid = np.random.default_rng(seed).integers(0, 12, (8, 8)).astype(np.uint8)
    img = Image.fromarray(grid).resize((size, size), Image.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, 'PNG')
    return buffer.getvalue()


def over_http(url: str, png: bytes, seed: int) -> str:
    """One request through gradio's plain HTTP API: upload, call, read the event stream."""
    import httpx
    with httpx.Client(base_url=url, timeout=600) as http:
        uploaded = http.post('/gradio_api/upload', files={'files': ('canvas.png', png, 'image/png')})
        if uploaded.status_code == 503:
            return BUSY
        uploaded.raise_for_status()
        file_data = {'path': uploaded.json()[0], 'meta': {'_type': 'gradio.FileData'}}
        call = http.post('/gradio_api/call/synthesize', json={'data': [file_data, seed, None]})
        if call.status_code == 503:
            return BUSY
        call.raise_for_status()
        with http.stream('GET', f'/gradio_api/call/synthesize/{call.json()["event_id"]}') as events:
            lines = [line for line in events.iter_lines() if line]
    text = '\n'.join(lines)
    if 'event: complete' in text:
        return IMAGE
    if 'queue_full' in text or 'Queue is full' in text:
        return BUSY
    FAILURES.append(text[-300:])
    return FAILED


def over_gradio_client(url: str, png: bytes, seed: int, folder: str) -> str:
    import gradio_client
    path = os.path.join(folder, f'canvas_{threading.get_ident()}_{seed}.png')
    with open(path, 'wb') as f:
        f.write(png)
    try:
        gradio_client.Client(url, verbose=False).predict(gradio_client.handle_file(path), seed, None,
                                                         api_name='/synthesize')
        return IMAGE
    except Exception as exc:
        if 'Queue is full' in str(exc):
            return BUSY
        FAILURES.append(f'{type(exc).__name__}: {str(exc)[:300]}')
        return FAILED


class PeakMemory:
    """The peak resident memory of a process, sampled every 50 ms."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.running = pid, 0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            try:
                with open(f'/proc/{self.pid}/status') as f:
                    rss = next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))
                self.peak = max(self.peak, rss * 1024)
            except (OSError, StopIteration):
                pass
            time.sleep(0.05)

    def stop(self) -> int:
        self.running = False
        self.thread.join()
        return self.peak


def load(url: str, clients: int, requests: int, sizes: List[int], folder: str) -> List[Tuple[str, float]]:
    """(outcome, seconds) of every request of `clients` clients at once."""
    results: List[Tuple[str, float]] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        for k in range(requests):
            # Seed 0 (a model without a style code takes no other); the canvases differ.
            png, seed = canvas(sizes[(index + k) % len(sizes)], index * 1000 + k), 0
            started = time.monotonic()
            try:
                outcome = over_http(url, png, seed) if index % 2 else over_gradio_client(url, png, seed, folder)
            except Exception as exc:
                FAILURES.append(f'{type(exc).__name__}: {str(exc)[:300]}')
                outcome = FAILED
            with lock:
                results.append((outcome, time.monotonic() - started))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def wait_until_served(url: str, server: subprocess.Popen, seconds: float = 300) -> None:
    import httpx
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise UserError(f'the demo stopped before serving: {server.stderr.read().decode().strip()[-300:]}')
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise UserError(f'the demo did not answer on {url} within {seconds:.0f} s')


def percentile(values: List[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float('nan')


def main() -> None:
    parser = OneLineErrorParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True, help="the demo's model: a run or model folder, a Hub id")
    parser.add_argument('--clients', default='1,4,17,170', help='comma-separated numbers of clients at once')
    parser.add_argument('--requests', type=int_in(1, 1000), default=4, help='requests of each client')
    parser.add_argument('--sizes', default='64,256,1024,4096', help='canvas sizes, in turn (pixels a side)')
    parser.add_argument('--max_queue', type=int_in(1, 10_000), default=16, help="the demo's --max_queue")
    parser.add_argument('--port', type=int_in(1, 65535), default=7871)
    parser.add_argument('--json', default='', help='also write the figures to this JSON file')
    args = parser.parse_args()
    try:
        counts = [int(c) for c in args.clients.split(',')]
        sizes = [int(s) for s in args.sizes.split(',')]
    except ValueError:
        raise UserError('--clients and --sizes take comma-separated numbers, e.g. 1,4,17') from None
    if min(counts + sizes) < 1:
        raise UserError('--clients and --sizes take positive numbers')
    url = f'http://127.0.0.1:{args.port}/'
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, 'scripts', 'demo.py'), '--model', args.model,
                               '--gpu_ids', '-1', '--port', str(args.port), '--max_queue', str(args.max_queue)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    figures: List[Dict] = []
    try:
        wait_until_served(url, server)
        with tempfile.TemporaryDirectory() as folder:
            print(f'{"clients":>7} {"images":>6} {"busy":>5} {"failed":>6} {"images/s":>8} {"p50 s":>6} '
                  f'{"p95 s":>6} {"server peak RSS":>15}')
            for clients in counts:
                memory = PeakMemory(server.pid)
                started = time.monotonic()
                results = load(url, clients, args.requests, sizes, folder)
                elapsed, peak = time.monotonic() - started, memory.stop()
                latencies = [s for outcome, s in results if outcome == IMAGE]
                row = {'clients': clients, 'images': len(latencies),
                       'busy': sum(o == BUSY for o, _ in results), 'failed': sum(o == FAILED for o, _ in results),
                       'images_per_s': len(latencies) / elapsed, 'p50_s': percentile(latencies, 50),
                       'p95_s': percentile(latencies, 95), 'peak_rss_mb': peak / 2 ** 20}
                figures.append(row)
                print(f'{clients:>7} {row["images"]:>6} {row["busy"]:>5} {row["failed"]:>6} '
                      f'{row["images_per_s"]:>8.2f} {row["p50_s"]:>6.2f} {row["p95_s"]:>6.2f} '
                      f'{row["peak_rss_mb"]:>12.0f} MB', flush=True)
            after = load(url, 1, 1, sizes[:1], folder)
            print(f'afterwards: one request -> {after[0][0]} in {after[0][1]:.2f} s')
            if args.json:
                with open(args.json, 'w') as f:
                    json.dump({'rows': figures, 'afterwards': after[0][0]}, f, indent=1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if FAILURES:
        print(f'{len(FAILURES)} failed requests; the first: {FAILURES[0]}')
    if any(row['failed'] for row in figures) or after[0][0] != IMAGE:
        sys.exit(1)


if __name__ == '__main__':
    run_cli(main)
