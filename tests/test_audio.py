import subprocess

import numpy as np
import pytest
import soundfile as sf

from mufun import audio
from mufun.audio import AudioError
from mufun.config import MuFunConfig

REAL = MuFunConfig.real()


@pytest.mark.parametrize("seconds,tokens", [(10, 300), (30.4, 300), (31, 600), (180, 1800), (200, 2100),
                                            (30.5, 300), (60.5, 600), (60.51, 900), (0.01, 300)])
def test_duration_to_tokens(seconds, tokens):
    assert audio.tokens_for_duration(seconds, REAL) == tokens


def test_chunking_drops_only_a_short_remainder():
    cfg = REAL
    assert audio.count_chunks(0, cfg) == 0
    x = np.zeros(cfg.chunk_samples + cfg.min_remainder_samples, np.float32)
    assert [len(c) for c in audio.split_chunks(x, cfg)] == [cfg.chunk_samples]
    x = np.zeros(cfg.chunk_samples + cfg.min_remainder_samples + 1, np.float32)
    assert [len(c) for c in audio.split_chunks(x, cfg)] == [cfg.chunk_samples, cfg.min_remainder_samples + 1]


FORMATS = [("wav", "WAV", "PCM_16", 44100), ("flac", "FLAC", "PCM_16", 48000),
           ("mp3", "MP3", "MPEG_LAYER_III", 44100), ("ogg", "OGG", "VORBIS", 22050), ("opus", "OGG", "OPUS", 48000)]


@pytest.mark.parametrize("ext,fmt,subtype,rate", FORMATS)
def test_every_format_decodes(song, ext, fmt, subtype, rate):
    p = song(45, f"s.{ext}", rate=rate, fmt=fmt, subtype=subtype, channels=2)
    clip = audio.load(p, REAL)
    assert clip.native_rate == rate
    assert abs(clip.used_s - 45) < 0.1
    assert clip.n_chunks(REAL) == 2 and clip.tokens(REAL) == 600
    # the tone survives decoding: dominant frequency 440 Hz
    spec = np.abs(np.fft.rfft(clip.samples[16000:32000]))
    assert abs(np.argmax(spec) - 440) <= 2


def test_segments_cut_at_the_native_rate(song):
    p = song(100, rate=44100)
    clip = audio.load(p, REAL, (10, 41))
    assert clip.segment == (10.0, 41.0) and abs(clip.used_s - 31) < 1e-3
    assert clip.tokens(REAL) == 600
    assert clip.chunk_times(REAL)[0] == (10.0, 40.0)
    assert audio.load(p, REAL, (95, None)).tokens(REAL) == 300


@pytest.mark.parametrize("seg,msg", [((5, 5), "zero length"), ((20, 10), "before its start"),
                                     ((0, 200), "past the end"), ((150, None), "past the end"),
                                     ((-1, 3), "negative")])
def test_bad_segments(song, seg, msg):
    with pytest.raises(AudioError, match=msg):
        audio.load(song(60), REAL, seg)


def test_bad_files(tmp_path):
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all\n" * 50)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    exe = tmp_path / "tool.mp3"
    exe.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(4000))
    png = tmp_path / "pic.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    for p, msg in [(text, "not a readable audio file"), (empty, "empty"), (exe, "its content is a Linux program"),
                   (png, "not an audio file")]:
        with pytest.raises(AudioError, match=msg):
            audio.load(p, REAL)


def test_truncated_flac_is_reported(song, tmp_path):
    p = song(20, "full.flac", fmt="FLAC")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(p.read_bytes()[: p.stat().st_size // 3])
    try:
        clip = audio.load(cut, REAL)
    except AudioError as e:
        assert "cut.flac" in str(e)
    else:  # libsndfile may decode the readable part: then it must not pretend to be whole
        assert clip.used_s < 20


def test_zero_samples_and_nan(tmp_path):
    p = tmp_path / "zero.wav"
    sf.write(str(p), np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        audio.load(p, REAL)
    q = tmp_path / "nan.wav"
    x = np.zeros(16000, np.float32)
    x[100] = np.nan
    sf.write(str(q), x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        audio.load(q, REAL)


def test_silence_is_accepted_with_a_warning(tmp_path):
    p = tmp_path / "quiet.wav"
    sf.write(str(p), np.zeros(16000, np.float32), 16000)
    clip = audio.load(p, REAL)
    assert clip.tokens(REAL) == 300 and "silent" in clip.warnings[0]


def test_hours_long_file_is_refused_from_its_header(tmp_path):
    # A header that claims 3 hours at 8 kHz: written cheaply as silence in chunks.
    p = tmp_path / "long.flac"
    with sf.SoundFile(str(p), "w", 8000, 1, format="FLAC") as f:
        block = np.zeros(8000 * 600, np.float32)
        for _ in range(18):
            f.write(block)
    with pytest.raises(AudioError, match="3:00:00 long"):
        audio.load(p, REAL)
    # a segment inside it is fine
    assert audio.load(p, REAL, (0, 10)).tokens(REAL) == 300


def test_array_input_like_a_microphone():
    x = (np.sin(np.arange(48000 * 2) / 10) * 20000).astype(np.int16)
    clip = audio.load_array(np.stack([x, x], 1), 48000, REAL)
    assert abs(clip.used_s - 2) < 1e-3 and clip.tokens(REAL) == 300 and np.abs(clip.samples).max() <= 1.0


def test_m4a_without_ffmpeg_says_so(tmp_path, monkeypatch):
    p = tmp_path / "a.m4a"
    p.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(64))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AudioError, match="needs ffmpeg"):
        audio.load(p, REAL)


@pytest.mark.skipif(subprocess.run(["which", "ffmpeg"], capture_output=True).returncode != 0,
                    reason="ffmpeg not installed")
def test_m4a_with_ffmpeg(song, tmp_path):
    src = song(5)
    out = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), str(out)], check=True)
    assert audio.load(out, REAL).tokens(REAL) == 300


def test_log_mel_shape_and_padding(tiny_cfg):
    chunks = [np.zeros(16000, np.float32), np.ones(tiny_cfg.chunk_samples, np.float32) * 0.1]
    f = audio.log_mel(chunks, tiny_cfg)
    assert f.shape == (2, 128, 3000) and f.dtype == np.float32
