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
from mufun.errors import UserError

SOUNDFILE_FORMATS = (".wav", ".flac", ".mp3", ".ogg", ".opus")
FFMPEG_FORMATS = (".m4a", ".aac", ".webm", ".mp4")


class AudioError(UserError):
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
BLOCK_FRAMES = 1 << 16  # frames decoded at a time: 8 channels at 192 kHz is 2 MB a block
SUPPORTED = ", ".join(SOUNDFILE_FORMATS + FFMPEG_FORMATS)


def _name(path: Path) -> str:
    return path.name


# What a file's first bytes say it is: containers this app decodes, and things that are not audio.
_AUDIO_MAGIC = {b"RIFF": "WAV", b"RF64": "WAV", b"fLaC": "FLAC", b"OggS": "Ogg", b"ID3": "MP3"}
_NOT_AUDIO = {b"\x7fELF": "a Linux program", b"MZ": "a Windows program", b"\x89PNG": "a PNG image",
              b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image", b"%PDF": "a PDF document",
              b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "a gzip archive", b"#!": "a script"}


def container(head: bytes, ext: str = "") -> str | None:
    r"""The audio container ``head`` starts with, by its magic bytes. A bare MPEG frame header
    (no ID3 tag) is four bytes that random data matches one time in a few thousand, so it counts
    only in a file named .mp3.

    >>> container(b"fLaC\x00"), container(b"\xff\xfb\x90\x00", ".mp3"), container(b"\xff\xfb\x90\x00", ".ogg")
    ('FLAC', 'MP3', None)
    """
    for magic, what in _AUDIO_MAGIC.items():
        if head.startswith(magic):
            return what
    return "MP3" if ext == ".mp3" and mpeg_frame_at(head, 0) else None


def mpeg_frame_at(b: bytes, i: int) -> bool:
    r"""Whether a valid MPEG audio frame header starts at ``b[i]``: the 11-bit sync, then a
    version, layer, bitrate and sample rate that are not the reserved or 'bad' values.

    >>> mpeg_frame_at(b"\xff\xfb\x90\x64", 0), mpeg_frame_at(b"\xff\xff\xff\xff", 0)
    (True, False)
    """
    if i + 3 >= len(b) or b[i] != 0xFF or b[i + 1] & 0xE0 != 0xE0:
        return False
    version, layer = (b[i + 1] >> 3) & 3, (b[i + 1] >> 1) & 3
    bitrate, rate = b[i + 2] >> 4, (b[i + 2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def probe(path: str | Path) -> Probe:
    """Read the header only. Raises AudioError with a readable message (never the decoder's)."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{_name(path)}: file not found (if it was an upload, the server keeps uploads for a "
                         f"limited time: add the song again)")
    if path.stat().st_size == 0:
        raise AudioError(f"{_name(path)}: the file is empty (0 bytes)")
    ext = path.suffix.lower()
    kind = _sniff(path, ext)
    if ext in FFMPEG_FORMATS:
        return _ffprobe(path)
    try:
        info = sf.info(str(path))
    except Exception:  # the decoder's words name the server's path: say it in ours
        if kind:
            raise AudioError(f"{_name(path)}: {'an' if kind[0] in 'AEFHILMNORSX' else 'a'} {kind} file that cannot "
                             f"be decoded: it is corrupt or truncated") from None
        raise AudioError(f"{_name(path)}: not an audio file this app can read: its content is none of the "
                         f"formats it reads ({SUPPORTED}), whatever its name says") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{_name(path)}: contains no audio samples")
    return Probe(info.frames / info.samplerate, info.samplerate, info.channels, info.frames, info.format)


def _sniff(path: Path, ext: str) -> str | None:
    """Refuse files whose first bytes say they are something else, whatever their name says
    (decoders can find 'frames' in any large enough file); return the audio container seen."""
    with path.open("rb") as f:
        head = f.read(4096)
    for magic, what in _NOT_AUDIO.items():
        if head.startswith(magic):
            raise AudioError(f"{_name(path)}: not an audio file: its content is {what}, whatever its name says")
    kind = container(head, ext)
    if ext == ".mp3" and kind in (None, "MP3"):
        _check_mp3_frames(path, head)
        return "MP3"
    return kind


def _check_mp3_frames(path: Path, head: bytes) -> None:
    """An MP3 needs an MPEG frame, after the ID3v2 tag when there is one."""
    start = 0
    if head.startswith(b"ID3") and len(head) >= 10:
        size = ((head[6] & 0x7F) << 21) | ((head[7] & 0x7F) << 14) | ((head[8] & 0x7F) << 7) | (head[9] & 0x7F)
        start = 10 + size + (10 if head[5] & 0x10 else 0)
    with path.open("rb") as f:
        f.seek(start)
        body = f.read(8192)
    if not any(mpeg_frame_at(body, i) for i in range(max(0, len(body) - 3))):
        what = "only tags (ID3), no MP3 audio after them" if start else "no MP3 header or frame in its first 8 KB"
        raise AudioError(f"{_name(path)}: not a readable audio file: it holds {what}")


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
        raise AudioError(f"{_name(path)}: not a readable audio file (no audio stream found in it)") from None
    return Probe(dur, rate, ch, int(round(dur * rate)), path.suffix.lower().lstrip("."))


# -- what a header announces, read by us (decoders trust the file's size over the header) ------
def announced_frames(path: Path) -> int | None:
    """Frames the container's header promises (WAV data size, FLAC STREAMINFO), or None."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return _wav_frames(head)
    if head.startswith(b"fLaC") and len(head) >= 8 + 18:
        total = int.from_bytes(head[8 + 10:8 + 18], "big") & ((1 << 36) - 1)
        return total or None
    return None


def _wav_frames(head: bytes) -> int | None:
    i, align = 12, None
    while i + 8 <= len(head):
        cid, size = head[i:i + 4], int.from_bytes(head[i + 4:i + 8], "little")
        if cid == b"fmt " and i + 22 <= len(head):
            align = int.from_bytes(head[i + 20:i + 22], "little")
        elif cid == b"data":
            return size // align if align and size not in (0, 0xFFFFFFFF) else None
        i += 8 + size + (size & 1)
    return None


def ogg_is_complete(path: Path) -> bool:
    """An Ogg stream ends with a page flagged end-of-stream; one cut off has none."""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - (1 << 16)))
        tail = f.read()
    k = tail.rfind(b"OggS")
    return k < 0 or len(tail) <= k + 5 or bool(tail[k + 5] & 0x04)


# -- streamed decoding ------------------------------------------------------------------------
def _read_16k(path: Path, info: Probe, seg: tuple[float, float] | None, name: str) -> tuple[np.ndarray, int, bool]:
    """Decode only the frames used, a block at a time: downmix and resample each block, so memory
    holds the 16 kHz mono result and one native block, never the whole multi-channel file.
    Returns (samples at 16 kHz, native frames decoded, whether decoding stopped at damage)."""
    first = int(round(seg[0] * info.sample_rate)) if seg else 0
    want = (int(round(seg[1] * info.sample_rate)) - first) if seg else info.frames
    rs = soxr.ResampleStream(info.sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ") \
        if info.sample_rate != SAMPLE_RATE else None
    out, got, damaged = [], 0, False
    try:
        with sf.SoundFile(str(path)) as f:
            if first:
                f.seek(first)
            while got < want:
                block = f.read(min(BLOCK_FRAMES, want - got), dtype="float32", always_2d=True)  # (n, channels)
                if len(block) == 0:
                    break
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                if not np.isfinite(mono).all():
                    raise AudioError(f"{name}: contains NaN or infinite samples; the file is damaged")
                got += len(mono)
                out.append(rs.resample_chunk(mono, last=False) if rs else mono.copy())
    except AudioError:
        raise
    except Exception:  # the decoder lost sync or hit a broken frame: keep what came before it
        damaged = True
        if got == 0:
            raise AudioError(f"{name}: the audio is corrupt or truncated (nothing could be decoded)") from None
    if rs:
        out.append(rs.resample_chunk(np.zeros(0, np.float32), last=True))
    return (np.concatenate(out) if out else np.zeros(0, np.float32)), got, damaged


def _read_ffmpeg(path: Path, info: Probe, seg: tuple[float, float] | None, name: str) -> np.ndarray:
    """ffmpeg decodes the segment only, mixed to mono at the native rate; soxr resamples it."""
    cut = ["-ss", f"{seg[0]:.6f}", "-t", f"{seg[1] - seg[0]:.6f}"] if seg else []
    cmd = ["ffmpeg", "-v", "error", "-nostdin", *cut, "-i", str(path), "-vn", "-ac", "1", "-f", "f32le", "-"]
    r = subprocess.run(cmd, capture_output=True, timeout=600)
    if r.returncode:
        raise AudioError(f"{name}: the audio is corrupt or truncated (ffmpeg could not decode it)")
    x = np.frombuffer(r.stdout, dtype=np.float32)
    if not np.isfinite(x).all():
        raise AudioError(f"{name}: contains NaN or infinite samples; the file is damaged")
    return soxr.resample(x, info.sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32) \
        if info.sample_rate != SAMPLE_RATE else x.copy()


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


def used_seconds(info: Probe, segment: tuple[float | None, float | None] | None, cfg: MuFunConfig,
                 name: str) -> tuple[tuple[float, float] | None, float]:
    """The checked segment and the seconds that will be decoded, refusing more than
    ``cfg.max_audio_s`` from the header alone."""
    seg = validate_segment(segment, info.duration_s, name)
    used = (seg[1] - seg[0]) if seg else info.duration_s
    if used > cfg.max_audio_s:
        raise AudioError(f"{name}: {hms(info.duration_s)} long; the limit is {hms(cfg.max_audio_s)}. "
                         f"Choose a segment of at most {hms(cfg.max_audio_s)}.")
    return seg, used


def load(path: str | Path, cfg: MuFunConfig, segment: tuple[float | None, float | None] | None = None,
         source: str | None = None, info: Probe | None = None) -> Clip:
    """Decode ``path`` (only the segment used) into a Clip; files over ``cfg.max_audio_s`` are
    refused from the header."""
    path = Path(path)
    info = info or probe(path)
    name = source or _name(path)
    seg, _ = used_seconds(info, segment, cfg, name)
    warnings = []
    if path.suffix.lower() in FFMPEG_FORMATS:
        y = _read_ffmpeg(path, info, seg, name)
    else:
        y, got, damaged = _read_16k(path, info, seg, name)
        announced = announced_frames(path) or info.frames
        wanted = (int(round(seg[1] * info.sample_rate)) - int(round(seg[0] * info.sample_rate))) if seg else announced
        if damaged or (got < 0.9 * wanted and not seg) or (seg and got < wanted - info.sample_rate // 100):
            warnings.append(f"{name}: decoded {got / info.sample_rate:.1f} s of the "
                            f"{wanted / info.sample_rate:.1f} s {'asked for' if seg else 'its header announces'}; "
                            f"the file may be truncated or damaged")
        elif info.format == "OGG" and not ogg_is_complete(path):
            warnings.append(f"{name}: the file ends without its end-of-stream mark; it may be truncated")
    if y.size == 0:
        raise AudioError(f"{name}: {'the segment holds' if seg else 'contains'} no audio samples")
    return _finish(y, info.sample_rate, info.duration_s, seg, name, tuple(warnings))


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
        raise AudioError(f"{source}: {hms(duration)} long; the limit is {hms(cfg.max_audio_s)}")
    if not np.isfinite(x).all():
        raise AudioError(f"{source}: contains NaN or infinite samples; the file is damaged")
    seg = validate_segment(segment, duration, source)
    if seg:
        x = x[int(round(seg[0] * rate)):int(round(seg[1] * rate))]
    y = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ").astype(np.float32) if rate != SAMPLE_RATE else x
    return _finish(y, rate, duration, seg, source)


def _finish(y: np.ndarray, rate: int, duration_s: float, seg: tuple[float, float] | None, name: str,
            extra_warnings: tuple[str, ...] = ()) -> Clip:
    """Check the 16 kHz samples and say what a listener would notice: silence, no audible
    sound (a constant offset or only infrasound), clipping."""
    if y.size == 0:
        raise AudioError(f"{name}: the segment holds no samples at 16 kHz (too short)")
    warnings = list(extra_warnings)
    peak = float(np.max(np.abs(y)))
    if peak == 0.0:
        warnings.append(f"{name}: the audio is completely silent")
    elif peak < 1e-4:
        warnings.append(f"{name}: the audio is nearly silent (peak {20 * math.log10(peak):.0f} dBFS)")
    elif audible_level(y) < 1e-4:
        warnings.append(f"{name}: no audible sound: the signal is a constant offset or moves only below about "
                        f"20 Hz, which no one hears; any answer is about silence")
    if peak > 1.0 + 1e-6:
        warnings.append(f"{name}: samples exceed full scale (peak {peak:.2f}); they are used as they are")
    return Clip(name, y, duration_s, rate, seg, tuple(warnings))


def audible_level(y: np.ndarray, block: int = 1 << 14, lowest_hz: float = 20.0) -> float:
    """RMS of what ``y`` (16 kHz) holds at or above ``lowest_hz``, in its loudest block of
    ``block`` samples: a constant offset or infrasound alone gives (nearly) 0.

    >>> t = np.arange(32000) / 16000
    >>> [round(audible_level(x), 3) for x in (np.full(32000, 0.5), 0.5 * np.sin(2 * np.pi * 4 * t),
    ...                                       0.3 * np.sin(2 * np.pi * 440 * t))]
    [0.0, 0.0, 0.212]
    """
    block = min(block, len(y))
    if block < 2:
        return 0.0
    first_bin = int(math.ceil(lowest_hz * block / SAMPLE_RATE))
    window = np.hanning(block)
    norm = np.sqrt(np.mean(window ** 2))  # the power the window takes away, given back
    starts = list(range(0, len(y) - block + 1, block))
    if starts[-1] + block < len(y):
        starts.append(len(y) - block)  # the tail, overlapping the block before it
    best = 0.0
    for a in starts:
        seg = y[a:a + block].astype(np.float64)
        spec = np.fft.rfft((seg - seg.mean()) * window)
        power = 2 * np.sum(np.abs(spec[first_bin:]) ** 2) / block ** 2
        best = max(best, float(np.sqrt(power) / norm))
    return best


def hms(s: float) -> str:
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
