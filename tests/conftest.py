"""Shared fixtures: offline Hub, a private cache, synthesized songs, one loaded tiny model."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MUFUN_CACHE", tempfile.mkdtemp(prefix="mufun-test-cache-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402


def tone(seconds: float, rate: int = 16000, freq: float = 440.0, channels: int = 1, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def write(path: Path, seconds: float, rate: int = 16000, fmt: str | None = None, subtype: str | None = None,
          **kw) -> Path:
    sf.write(str(path), tone(seconds, rate, **kw), rate, format=fmt, subtype=subtype)
    return path


@pytest.fixture
def song(tmp_path):
    def make(seconds: float, name: str = "song.wav", rate: int = 16000, **kw) -> Path:
        return write(tmp_path / name, seconds, rate, **kw)
    return make


@pytest.fixture(scope="session")
def tokenizer():
    from mufun.prompt import load_tokenizer, qwen3_tokenizer_dir

    return load_tokenizer(str(qwen3_tokenizer_dir()))


@pytest.fixture(scope="session")
def service():
    from mufun.service import MuFunService

    return MuFunService.load("tiny")


@pytest.fixture(scope="session")
def tiny_cfg():
    from mufun.config import MuFunConfig

    return MuFunConfig.tiny()


# -- the running app (one server for the whole session) ---------------------------------------
import socket  # noqa: E402
import sys  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def start_app(log: Path, **env_extra: str):
    """``python app.py`` on a free port, offline; returns (process, url)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from load_bench import start_app as start

    return start(log, HF_HUB_OFFLINE="1", **env_extra)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    proc, url = start_app(tmp_path_factory.mktemp("app") / "app.log")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


