"""A voice note's length, as shown and as read from the recording when the platform does not say it."""

from __future__ import annotations

import io
import struct
import wave

from bot.domain.media import duration, measured_seconds


def wav(seconds: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(2 * 8000 * seconds))
    return out.getvalue()


def test_a_length_reads_as_a_player_shows_it():
    assert [duration(s) for s in (0, 42, 65, 300, 7200)] == ["0:00", "0:42", "1:05", "5:00", "2:00:00"]
    assert duration(None) == "?:??"


def test_the_length_is_read_from_wav_mp4_and_ogg_opus_headers():
    assert measured_seconds(wav(7)) == 7
    mvhd = b"mvhd" + bytes([0, 0, 0, 0]) + bytes(8) + struct.pack(">II", 1000, 42_400)
    assert measured_seconds(b"\x00\x00\x00\x18ftypM4A " + bytes(8) + b"\x00\x00\x00\x6c" + mvhd) == 42
    head = b"OggS" + bytes(2) + struct.pack("<q", 0) + bytes(14) + b"OpusHead" + bytes(11)
    last = b"OggS" + bytes(2) + struct.pack("<q", 48000 * 95) + bytes(14)
    assert measured_seconds(head + bytes(50) + last) == 95


def test_anything_else_has_no_length_and_never_fails():
    for data in (b"", b"OggS", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"\x00\x00\x00\x18ftypmvhd", bytes(100), b"ID3\x03" + bytes(50)):
        assert measured_seconds(data) is None
