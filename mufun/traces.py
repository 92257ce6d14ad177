"""The app's own files: one JSON trace per answer, in a folder of its own that stays bounded.

At most ``max_files`` traces and ``max_bytes`` in all are kept, the oldest removed first; the
folder is removed when the app exits (normally, on Ctrl-C or on SIGTERM), so no run leaves a
``mufun-traces-*`` folder behind.
"""
from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path


class TraceStore:
    def __init__(self, max_files: int = 200, max_bytes: int = 20 * 2**20, folder: Path | None = None):
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="mufun-traces-"))
        self.max_files, self.max_bytes = max_files, max_bytes
        self._lock = threading.Lock()
        self._count = itertools.count()

    def write(self, trace: dict) -> Path:
        """Save one trace and drop the oldest beyond the limits; returns its path."""
        with self._lock:
            path = self.folder / f"trace-{os.getpid()}-{next(self._count):06d}.json"
            path.write_text(json.dumps(trace, indent=1))
            self._prune()
        return path

    def _prune(self) -> None:
        files = sorted(self.folder.glob("trace-*.json"), key=lambda p: p.stat().st_mtime_ns)
        sizes = [p.stat().st_size for p in files]
        total = sum(sizes)
        while files and (len(files) > self.max_files or total > self.max_bytes):
            total -= sizes.pop(0)
            files.pop(0).unlink(missing_ok=True)

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("trace-*.json"))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def remove_on_exit(self) -> None:
        """Remove the folder at exit; SIGTERM (how servers are stopped) exits normally too."""
        atexit.register(self.remove)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def sweep_uploads(folder: Path, age_s: float, max_bytes: int | None = None) -> int:
    """Keep gradio's upload/cache folder bounded: remove what is older than ``age_s`` (the spool
    files its upload parser leaves at the top, ``tmp*``, emptied once an upload is moved; the files
    in its content-addressed subfolders: uploads, pictures, trace copies, which its own
    ``delete_cache`` can miss when the same content is written again), then, while the folder
    holds more than ``max_bytes``, the oldest files first. Empty subfolders go too. Returns how many
    files were removed."""
    import time

    now, n = time.time(), 0
    folder = Path(folder)
    files = []
    for p in [*folder.glob("tmp*"), *folder.glob("*/*")]:
        try:
            if not p.is_file():
                continue
            st = p.stat()
            if now - st.st_mtime > age_s:
                p.unlink()
                n += 1
            else:
                files.append((st.st_mtime, st.st_size, p))
        except OSError:  # gone already, or still being written
            continue
    total = sum(size for _, size, _ in files)
    for _, size, p in sorted(files, key=lambda f: f[0]):
        if max_bytes is None or total <= max_bytes:
            break
        try:
            p.unlink()
            n += 1
            total -= size
        except OSError:
            continue
    for d in folder.iterdir() if folder.exists() else ():
        try:
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        except OSError:
            continue
    return n


def keep_sweeping(folder: Path, every_s: float, age_s: float, max_bytes: int | None = None,
                  then=None) -> threading.Thread:
    """``sweep_uploads`` every ``every_s`` seconds, on a daemon thread, for the app's lifetime;
    ``then()`` after each sweep (the app returns freed memory then: ``mufun.heap.trim``)."""
    import time

    def loop() -> None:
        while True:
            time.sleep(every_s)
            sweep_uploads(folder, age_s, max_bytes)
            if then is not None:
                then()

    t = threading.Thread(target=loop, name="mufun-upload-sweeper", daemon=True)
    t.start()
    return t
