"""Compute threads that share the machine (util/threads.py): the CPUs a process may use, the fair share beside other
work, and OMP_NUM_THREADS fixing the count."""
import os
import subprocess
import sys
import textwrap

import pytest

from util.threads import (CpuTimes, allowed_cpus, busy_ticks, cgroup_cpu_quota, fair_threads, others_busy, own_ticks,
                          usable_cpus)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


@pytest.mark.parametrize('files, quota', [
    ({}, None),
    ({'cpu.max': 'max 100000\n'}, None),
    ({'cpu.max': '150000 100000\n'}, 1.5),
    ({'cpu.max': '50000 100000\n'}, 0.5),
    ({'cpu/cpu.cfs_quota_us': '-1\n', 'cpu/cpu.cfs_period_us': '100000\n'}, None),
    ({'cpu/cpu.cfs_quota_us': '300000\n', 'cpu/cpu.cfs_period_us': '100000\n'}, 3.0),
    ({'cpu.max': 'garbage\n'}, None),
])
def test_cgroup_quota_of_v1_and_v2_files(tmp_path, files, quota):
    for name, text in files.items():
        write(str(tmp_path / name), text)
    assert cgroup_cpu_quota(str(tmp_path)) == quota


def test_usable_cpus_are_the_affinity_mask_capped_by_the_quota(tmp_path):
    mask = len(allowed_cpus())
    assert usable_cpus(str(tmp_path / 'none')) == mask
    write(str(tmp_path / 'half' / 'cpu.max'), '50000 100000')
    assert usable_cpus(str(tmp_path / 'half')) == 1  # at least one thread
    write(str(tmp_path / 'many' / 'cpu.max'), f'{(mask + 8) * 100000} 100000')
    assert usable_cpus(str(tmp_path / 'many')) == mask


@pytest.mark.parametrize('usable, cpus, others, threads', [
    (2, 2, 0.0, 2), (2, 2, 0.4, 2), (2, 2, 0.6, 1), (2, 2, 1.0, 1), (2, 2, 3.0, 1),
    (8, 8, 2.9, 5), (2, 16, 3.0, 2), (16, 16, 0.02, 16)])
def test_fair_threads_use_the_cpus_others_leave(usable, cpus, others, threads):
    assert fair_threads(usable, cpus, others) == threads


def test_cpu_time_readings_parse_proc_files():
    stat = ('cpu  100 1 20 500 7 3 4 9 0 0\n'
            'cpu0 10 1 2 300 5 1 1 2 0 0\n'
            'cpu1 90 0 18 200 2 2 3 7 0 0\n'
            'intr 12345\n')
    # user + nice + system + irq + softirq + steal; idle and iowait left out
    assert busy_ticks(stat, [0]) == 10 + 1 + 2 + 1 + 1 + 2
    assert busy_ticks(stat, [0, 1]) == 17 + 90 + 18 + 2 + 3 + 7
    assert busy_ticks(stat, [5]) == 0
    self_stat = '4242 (a (strange) name) R 1 2 3 4 5 6 7 8 9 10 111 22 0 0 20 0 3 0 100 200 300'
    assert own_ticks(self_stat) == 111 + 22
    with open('/proc/self/stat') as f:
        assert own_ticks(f.read()) >= 0
    ticks = os.sysconf('SC_CLK_TCK')
    before = CpuTimes(seconds=10.0, busy=1000, own=200)
    after = CpuTimes(seconds=12.0, busy=1000 + 3 * ticks, own=200 + ticks)
    assert others_busy(before, after) == pytest.approx(1.0)  # 3 CPU-seconds in 2 s, 1 of them ours
    assert others_busy(after, after) == 0.0


def run_python(code: str, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}
    environment.update(env)
    done = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_commands_take_the_usable_cpus_unless_omp_num_threads_fixes_them():
    code = """
        import torch
        from util import threads
        threads.share_cpus()
        print(threads._share is not None, torch.get_num_threads(), threads.usable_cpus())
    """
    watching, threads_, usable = run_python(code).split()
    assert watching == 'True' and threads_ == usable
    assert run_python(code, OMP_NUM_THREADS='1').split()[:2] == ['False', '1']


def test_the_watcher_count_is_taken_by_the_calling_thread():
    code = """
        import threading, torch
        from util import threads
        threads.share_cpus()
        threads._share.wanted = 1
        threads.follow_fair_share()
        seen = []
        worker = threading.Thread(target=lambda: (threads.follow_fair_share(), seen.append(torch.get_num_threads())))
        worker.start(); worker.join()
        print(torch.get_num_threads(), seen[0], list(threads.following_fair_share([7, 8])))
    """
    assert run_python(code) == '1 1 [7, 8]'


@pytest.mark.skipif(usable_cpus() < 2 or usable_cpus() != len(allowed_cpus()),
                    reason='needs two or more CPUs and no container quota below them')
def test_the_watcher_gives_up_threads_while_another_process_keeps_cpus_busy():
    # Busy children on every CPU but one of ours: the watcher (once every 0.2 s) settles below the usable count.
    code = """
        import subprocess, sys, time
        from util import threads
        usable = threads.usable_cpus()
        spinners = [subprocess.Popen([sys.executable, '-c', 'import time\\nt = time.time()\\n'
                                      'while time.time() - t < 20: pass']) for _ in range(usable)]
        threads._share = threads.FairShare(usable, interval=0.2)
        deadline = time.time() + 15
        while threads._share.wanted == usable and time.time() < deadline:
            time.sleep(0.1)
        print(usable, threads._share.wanted)
        for s in spinners:
            s.kill()
    """
    usable, wanted = map(int, run_python(code).split())
    assert 1 <= wanted < usable
