"""Headless Chromium for tests: Debian's ``chromium`` driven by Playwright.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (the
Debian package) by path. ``ensure_chromium()`` installs that package when it is
missing and we are root with apt (CI, a fresh machine); otherwise it says why not,
and the browser tests skip with that message.

Run as a script to screenshot a page: ``python tests/browser.py out/report.html docs/report.png``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

CHROMIUM = "/usr/bin/chromium"
APT_PACKAGES = ["chromium", "fonts-noto-core"]
# Flags that keep Chromium from calling home on a machine whose network is closed
# (its background connections are otherwise refused many at a time).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_INSTALL_TIMEOUT_S = 900


def ensure_chromium() -> str | None:
    """Path of a usable Chromium, installing Debian's package if we can; None when we cannot."""
    found = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if found:
        return found
    if os.environ.get("MARSAD_NO_BROWSER_INSTALL"):
        return None
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(
            ["apt-get", "update", "-qq"],
            check=True,
            env=env,
            timeout=_INSTALL_TIMEOUT_S,
            capture_output=True,
        )
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES],
            check=True,
            env=env,
            timeout=_INSTALL_TIMEOUT_S,
            capture_output=True,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return shutil.which("chromium")


def why_no_chromium() -> str:
    if os.environ.get("MARSAD_NO_BROWSER_INSTALL"):
        return "MARSAD_NO_BROWSER_INSTALL is set"
    if not shutil.which("apt-get"):
        return "no apt-get to install Debian's chromium"
    if os.geteuid() != 0:
        return "not root: install it with `sudo apt-get install chromium`"
    return "`apt-get install chromium` failed (no package registry reachable?)"


@contextmanager
def chromium_page(width: int = 1280, height: int = 900) -> Iterator[object]:
    """A Playwright page in headless Chromium with a fresh, empty profile."""
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    if executable is None:
        raise RuntimeError(f"Chromium is not available: {why_no_chromium()}")
    with tempfile.TemporaryDirectory(prefix="marsad-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            device_scale_factor=1,
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def screenshot(html_path: str, png_path: str, width: int = 1280) -> None:
    with chromium_page(width=width) as page:
        page.goto("file://" + os.path.abspath(html_path))
        page.wait_for_selector("body[data-charts-done]", timeout=30_000)
        page.screenshot(path=png_path, full_page=True)


if __name__ == "__main__":
    screenshot(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]))
    print(sys.argv[2])
