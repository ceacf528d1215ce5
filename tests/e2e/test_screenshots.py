"""`make screenshots` end to end: the script starts its own demo, and every screen it lists comes out
at both sizes, light and dark, as a real picture of the right width."""

from __future__ import annotations

import hashlib
import importlib.util
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.e2e.conftest import IN_CI, chromium_path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "screenshots.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # 8-bit RGB and RGBA, what Chromium writes


def load_script():
    """scripts/ is no package: load the script as a module (registered, as its dataclasses need)."""
    spec = importlib.util.spec_from_file_location("screenshots_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the (still filtered) scanlines of an 8-bit RGB(A) PNG; checks its structure on the way."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path.name} is not a PNG"
    chunks, offset = [], len(PNG_SIGNATURE)
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{path.name}: {kind!r} chunk is corrupt"
        chunks.append((kind, body))
        offset += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", f"{path.name}: chunks out of order"
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert depth == 8 and colour in CHANNELS, f"{path.name}: unexpected depth {depth} / colour type {colour}"
    scanlines = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(scanlines) == height * (1 + width * CHANNELS[colour]), f"{path.name}: pixel data is truncated"
    return width, height, scanlines


def test_every_screen_has_a_numbered_name_of_its_own():
    script = load_script()
    names = [screen.name for screen in script.SCREENS]
    assert len(set(names)) == len(names)
    assert [int(name[:2]) for name in names] == list(range(1, len(names) + 1))
    assert script.expected_files()[:4] == [
        "01-login-desktop.png",
        "01-login-desktop-dark.png",
        "01-login-phone.png",
        "01-login-phone-dark.png",
    ]


@pytest.mark.e2e
def test_make_screenshots_writes_every_screen_at_both_sizes_light_and_dark(tmp_path):
    if chromium_path() is None:
        reason = "Chromium is not installed (apt-get install chromium): the screenshots cannot be taken"
        if IN_CI:
            pytest.fail(f"{reason}, and in CI a skipped browser test is a failure.")
        pytest.skip(reason=f"!!! {reason} (Chromium missing outside CI). !!!")
    script = load_script()
    expected = script.expected_files()
    assert len(expected) == 4 * len(script.SCREENS) >= 112

    (tmp_path / "99-gone-desktop.png").write_bytes(PNG_SIGNATURE)  # from a screen since removed
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(expected)
    for name in expected:
        assert f"wrote {tmp_path / name}" in run.stdout
    assert f"{len(expected)} screenshots in {tmp_path}" in run.stdout

    widths = {size: options["viewport"]["width"] for size, options in script.SIZES.items()}
    assert widths == {"desktop": 1440, "phone": 390}
    digests = set()
    for name in expected:
        width, height, scanlines = read_png(tmp_path / name)
        size = name.removesuffix(".png").removesuffix("-dark").rsplit("-", 1)[1]
        assert width == widths[size], f"{name} is {width} px wide"
        assert height >= script.SIZES[size]["viewport"]["height"], f"{name} is only {height} px high"
        # A flat picture filters down to a handful of byte values; text, badges and borders give many.
        assert len(set(scanlines[::7])) > 32, f"{name} looks blank"
        digests.add(hashlib.sha256(scanlines).hexdigest())
    assert len(digests) == len(expected), "some screens came out identical"
