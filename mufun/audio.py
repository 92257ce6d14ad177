"""Audio front end: decode, segment, resample, chunk and log-mel, as MuFun hears a song.

Decode any of wav/flac/mp3/ogg/opus (soundfile), m4a/aac/webm/mp4 through ffmpeg when it is
installed, downmix to mono, cut the optional [start, end] segment at the native rate,
resample to 16 kHz (soxr), split into 30 s chunks (a final remainder of at most 0.5 s is
dropped) and compute Whisper's 128-bin log-mel per chunk, zero-padded to 30 s.

>>> from mufun.config import MuFunConfig
>>> cfg = MuFunConfig.real()
>>> [tokens_for_duration(s, cfg) for s in (10, 30.4, 31, 180, 200)]
[300, 300, 600, 1800, 2100]
"""
from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from mufun.config import HOP_LENGTH, N_FFT, SAMPLE_RATE, MuFunConfig

SOUNDFILE_FORMATS = (".wav", ".flac", ".mp3", ".ogg", ".opus")
FFMPEG_FORMATS = (".m4a", ".aac", ".webm", ".mp4")


class AudioError(ValueError):
    """Bad audio input; the message is written for the person who gave it."""


@dataclass(frozen=True)
class Probe:
    """What a file's header says, read without decoding the samples."""

    duration_s: float
    sample_rate: int
    channels: int
    frames: int
    format: str


@dataclass(frozen=True)
class Clip:
    """One song as the model hears it: mono 16 kHz samples of the chosen segment."""

    source: str
    samples: np.ndarray  # (n,) float32 at 16 kHz
    duration_s: float  # of the whole file
    native_rate: int
    segment: tuple[float, float] | None
    warnings: tuple[str, ...] = field(default=())

    @property
    def offset_s(self) -> float:
        return self.segment[0] if self.segment else 0.0

    @property
    def used_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def n_chunks(self, cfg: MuFunConfig) -> int:
        return count_chunks(len(self.samples), cfg)

    def tokens(self, cfg: MuFunConfig) -> int:
        return self.n_chunks(cfg) * cfg.tokens_per_chunk

    def chunk_times(self, cfg: MuFunConfig) -> list[tuple[float, float]]:
        """[t0, t1] seconds in the original file for each chunk's real (unpadded) audio."""
        return chunk_times(len(self.samples), cfg, self.offset_s)


# -- counting, pure arithmetic ---------------------------------------------------------------
def count_chunks(n_samples: int, cfg: MuFunConfig) -> int:
    """Chunks for ``n_samples`` at 16 kHz: at most 30 s is one chunk; a last remainder of at
    most 0.5 s is dropped.

    >>> cfg = MuFunConfig.real()
    >>> count_chunks(480_000, cfg), count_chunks(488_000, cfg), count_chunks(488_001, cfg)
    (1, 1, 2)
    """
    if n_samples <= 0:
        return 0
    if n_samples <= cfg.chunk_samples:
        return 1
    full, rest = divmod(n_samples, cfg.chunk_samples)
    return full + (1 if rest > cfg.min_remainder_samples else 0)


def chunk_times(n_samples: int, cfg: MuFunConfig, offset_s: float = 0.0) -> list[tuple[float, float]]:
    n = count_chunks(n_samples, cfg)
    out = []
    for c in range(n):
        a = c * cfg.chunk_samples
        b = min(n_samples, a + cfg.chunk_samples)
        out.append((offset_s + a / SAMPLE_RATE, offset_s + b / SAMPLE_RATE))
    return out


def tokens_for_duration(seconds: float, cfg: MuFunConfig) -> int:
    return count_chunks(int(round(seconds * SAMPLE_RATE)), cfg) * cfg.tokens_per_chunk


def split_chunks(samples: np.ndarray, cfg: MuFunConfig) -> list[np.ndarray]:
    """The chunks ``count_chunks`` describes (unpadded)."""
    n = count_chunks(len(samples), cfg)
    return [samples[c * cfg.chunk_samples:(c + 1) * cfg.chunk_samples] for c in range(n)]


# -- decoding --------------------------------------------------------------------------------
def _name(path: Path) -> str:
    return path.name


def probe(path: str | Path) -> Probe:
    """Read the header only. Raises AudioError with a readable message."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{_name(path)}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{_name(path)}: the file is empty (0 bytes)")
    ext = path.suffix.lower()
    _sniff(path, ext)
    if ext in FFMPEG_FORMATS:
        return _ffprobe(path)
    try:
        info = sf.info(str(path))
    except Exception as e:  # libsndfile says "Format not recognised", "unknown format", ...
        if ext in SOUNDFILE_FORMATS or ext == "":
            raise AudioError(f"{_name(path)}: not a readable audio file ({_short(e)}). "
                             f"Supported: {', '.join(SOUNDFILE_FORMATS + FFMPEG_FORMATS)}") from None
        raise AudioError(f"{_name(path)}: not an audio file this app can read. "
                         f"Supported: {', '.join(SOUNDFILE_FORMATS + FFMPEG_FORMATS)}") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{_name(path)}: contains no audio samples")
    return Probe(info.frames / info.samplerate, info.samplerate, info.channels, info.frames, info.format)


_NOT_AUDIO = {b"\x7fELF": "a Linux program", b"MZ": "a Windows program", b"\x89PNG": "a PNG image",
              b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image", b"%PDF": "a PDF document",
              b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "a gzip archive", b"#!": "a script"}


def _sniff(path: Path, ext: str) -> None:
    """Refuse files whose first bytes say they are something else, whatever their name says
    (decoders can find 'frames' in any large enough file)."""
    with path.open("rb") as f:
        head = f.read(4096)
    for magic, what in _NOT_AUDIO.items():
        if head.startswith(magic):
            raise AudioError(f"{_name(path)}: not an audio file: its content is {what}, whatever its name says")
    if ext == ".mp3" and not (head.startswith(b"ID3") or any(
            head[i] == 0xFF and head[i + 1] & 0xE0 == 0xE0 for i in range(min(len(head) - 1, 4095)))):
        raise AudioError(f"{_name(path)}: not a readable audio file (no MP3 header or frame in its first 4 KB)")


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    return msg[:160]


def _ffmpeg_missing(path: Path) -> AudioError:
    return AudioError(f"{_name(path)}: {path.suffix.lower()} needs ffmpeg, which is not installed here. "
                      f"Install ffmpeg, or convert the file to wav, flac, mp3, ogg or opus.")


def _ffprobe(path: Path) -> Probe:
    exe = shutil.which("ffprobe")
    if not exe or not shutil.which("ffmpeg"):
        raise _ffmpeg_missing(path)
    cmd = [exe, "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels:format=duration", "-of", "default=nw=1", str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    kv = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    try:
        rate, ch, dur = int(kv["sample_rate"]), int(kv["channels"]), float(kv["duration"])
    except (KeyError, ValueError):
        raise AudioError(f"{_name(path)}: not a readable audio file (ffprobe found no audio stream)") from None
    return Probe(dur, rate, ch, int(round(dur * rate)), path.suffix.lower().lstrip("."))


def _decode(path: Path, info: Probe) -> np.ndarray:
    """(frames,) float32 mono at the native rate."""
    if path.suffix.lower() in FFMPEG_FORMATS:
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-vn", "-ac", "1", "-f", "f32le", "-"]
        r = subprocess.run(cmd, capture_output=True, timeout=600)
        if r.returncode:
            raise AudioError(f"{_name(path)}: ffmpeg could not decode it "
                             f"({r.stderr.decode(errors='replace').strip()[-160:]})")
        return np.frombuffer(r.stdout, dtype=np.float32).copy()
    try:
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)  # (frames, channels)
    except Exception as e:
        raise AudioError(f"{_name(path)}: the audio is corrupt or truncated ({_short(e)})") from None
    return data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]


def validate_segment(segment: tuple[float | None, float | None] | None, duration_s: float,
                     source: str = "audio") -> tuple[float, float] | None:
    """Check a [start, end] in seconds against a file's duration; None ends mean the file's ends.

    >>> validate_segment((5, None), 60.0)
    (5.0, 60.0)
    """
    if segment is None:
        return None
    start, end = segment
    start = 0.0 if start is None else float(start)
    end = duration_s if end is None else float(end)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise AudioError(f"{source}: segment bounds must be numbers, got [{start}, {end}]")
    if start < 0:
        raise AudioError(f"{source}: segment start {start:g} s is negative")
    if start >= duration_s:
        raise AudioError(f"{source}: segment start {start:g} s is past the end of the audio ({duration_s:.2f} s)")
    if end < start:
        raise AudioError(f"{source}: segment end {end:g} s is before its start {start:g} s")
    if end == start:
        raise AudioError(f"{source}: segment [{start:g}, {end:g}] s is empty (zero length)")
    if end > duration_s + 1e-3:
        raise AudioError(f"{source}: segment end {end:g} s is past the end of the audio ({duration_s:.2f} s)")
    return (start, min(end, duration_s))


def load(path: str | Path, cfg: MuFunConfig, segment: tuple[float | None, float | None] | None = None,
         source: str | None = None) -> Clip:
    """Decode ``path`` into a Clip, refusing files over ``cfg.max_audio_s`` from the header."""
    path = Path(path)
    info = probe(path)
    name = source or _name(path)
    seg = validate_segment(segment, info.duration_s, name)
    used = (seg[1] - seg[0]) if seg else info.duration_s
    if info.duration_s > cfg.max_audio_s and (seg is None or used > cfg.max_audio_s):
        raise AudioError(f"{name}: {_hms(info.duration_s)} long; the limit is {_hms(cfg.max_audio_s)}. "
                         f"Choose a segment of at most {_hms(cfg.max_audio_s)}.")
    x = _decode(path, info)
    extra = ()
    if x.size < 0.9 * info.frames:
        extra = (f"{name}: decoded {x.size / info.sample_rate:.1f} s of the {info.duration_s:.1f} s its header "
                 f"announces; the file may be truncated",)
    return _clip(x, info.sample_rate, info.duration_s, seg, name, extra)


def load_array(samples: np.ndarray, rate: int, cfg: MuFunConfig, source: str = "recording",
               segment: tuple[float | None, float | None] | None = None) -> Clip:
    """Same as ``load`` for samples already in memory (a microphone): (n,) or (n, channels),
    float in [-1, 1] or integer PCM."""
    x = np.asarray(samples)
    if x.dtype.kind in "iu":
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    x = x.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)
    if rate <= 0 or x.size == 0:
        raise AudioError(f"{source}: contains no audio samples")
    duration = x.size / rate
    if duration > cfg.max_audio_s:
        raise AudioError(f"{source}: {_hms(duration)} long; the limit is {_hms(cfg.max_audio_s)}")
    return _clip(x, rate, duration, validate_segment(segment, duration, source), source)


def _clip(x: np.ndarray, rate: int, duration_s: float, seg: tuple[float, float] | None, name: str,
          extra_warnings: tuple[str, ...] = ()) -> Clip:
    """Segment at the native rate, check, resample to 16 kHz."""
    if x.size == 0:
        raise AudioError(f"{name}: contains no audio samples")
    if not np.isfinite(x).all():
        raise AudioError(f"{name}: contains NaN or infinite samples; the file is damaged")
    if seg:
        x = x[int(round(seg[0] * rate)):int(round(seg[1] * rate))]
    y = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ").astype(np.float32) if rate != SAMPLE_RATE else x
    if y.size == 0:
        raise AudioError(f"{name}: the segment holds no samples at 16 kHz (too short)")
    warnings = list(extra_warnings)
    peak = float(np.max(np.abs(y)))
    if peak == 0.0:
        warnings.append(f"{name}: the audio is completely silent")
    elif peak < 1e-4:
        warnings.append(f"{name}: the audio is nearly silent (peak {20 * math.log10(peak):.0f} dBFS)")
    if peak > 1.0 + 1e-6:
        warnings.append(f"{name}: samples exceed full scale (peak {peak:.2f}); they are used as they are")
    return Clip(name, y, duration_s, rate, seg, tuple(warnings))


def _hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


# -- features --------------------------------------------------------------------------------
_EXTRACTORS: dict[int, object] = {}


def feature_extractor(n_mels: int):
    from transformers import WhisperFeatureExtractor

    if n_mels not in _EXTRACTORS:
        _EXTRACTORS[n_mels] = WhisperFeatureExtractor(feature_size=n_mels, sampling_rate=SAMPLE_RATE,
                                                      hop_length=HOP_LENGTH, chunk_length=30, n_fft=N_FFT)
    return _EXTRACTORS[n_mels]


def log_mel(chunks: list[np.ndarray], cfg: MuFunConfig) -> np.ndarray:
    """(n_chunks, n_mels, 3000) Whisper log-mel, each chunk zero-padded to 30 s."""
    fe = feature_extractor(cfg.encoder.num_mel_bins)
    out = fe(chunks, sampling_rate=SAMPLE_RATE, return_tensors="np", padding="max_length",
             max_length=cfg.chunk_samples)["input_features"]
    assert out.shape[1:] == (cfg.encoder.num_mel_bins, cfg.mel_frames_per_chunk), out.shape
    return out.astype(np.float32)
