"""mufun.heap: freed memory goes back to the system (glibc), and the calls are safe elsewhere."""
import subprocess
import sys
import textwrap

import pytest

from mufun import heap

glibc = pytest.mark.skipif(heap._glibc() is None, reason="not glibc")


def test_the_calls_answer_yes_or_no():
    assert isinstance(heap.trim(), bool) and isinstance(heap.cap_arenas(8), bool)


@glibc
def test_trim_returns_a_threads_freed_memory():
    """A worker thread fills its heap with 400 MB of 4 KB buffers and frees all but one in 16 (as
    sessions come and go): the process keeps the pages until ``trim``, which gives most back."""
    code = textwrap.dedent("""
        import threading
        from mufun import heap
        def rss():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        kept = []
        def work():
            blocks = [bytearray(4096) for _ in range(100_000)]
            kept.extend(blocks[::16])
        t = threading.Thread(target=work); t.start(); t.join()
        before = rss(); heap.trim(); after = rss()
        print(before, after)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = map(float, out.split())
    assert before - after > 200, (before, after)  # of the 375 MB freed


def test_the_sweeper_trims_after_each_sweep(tmp_path):
    """The app hands ``heap.trim`` to ``keep_sweeping``: it runs after every sweep."""
    import threading

    from mufun.traces import keep_sweeping

    ran = threading.Event()
    keep_sweeping(tmp_path, 0.05, 3600, then=ran.set)
    assert ran.wait(5)
    src = open("app.py").read()
    assert "then=heap.trim" in src and "heap.cap_arenas(" in src
