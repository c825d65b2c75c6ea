"""Write the report as a PDF by printing its HTML with a local Chromium-family browser, headless.

The PDF is the HTML report on paper: the same content, images embedded, nothing fetched. When no
browser is found, the HTML report is written beside the PDF path and the error says how to print it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from exposure.checker import CheckResult
from exposure.errors import NoBrowserError
from exposure.i18n import _
from exposure.report import write_report

ENV = "EXPOSURE_BROWSER"
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "microsoft-edge")
INSTALL_PATHS = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
    r"%PROGRAMFILES%\Google\Chrome\Application\chrome.exe",
    r"%PROGRAMFILES(X86)%\Google\Chrome\Application\chrome.exe",
    r"%LOCALAPPDATA%\Google\Chrome\Application\chrome.exe",
    r"%PROGRAMFILES(X86)%\Microsoft\Edge\Application\msedge.exe",
    r"%PROGRAMFILES%\Microsoft\Edge\Application\msedge.exe",
)
TIMEOUT = 120.0  # seconds: a browser that hangs is stopped, and the person told


def find_browser() -> str | None:
    """The browser to print with: $EXPOSURE_BROWSER when set, else the first Chromium-family browser found."""
    chosen = os.environ.get(ENV)
    if chosen:
        return chosen if os.path.isfile(chosen) else shutil.which(chosen)
    for name in NAMES:
        if found := shutil.which(name):
            return found
    for path in INSTALL_PATHS:
        path = os.path.expandvars(path)
        if "%" not in path and os.path.isfile(path):
            return path
    return None


def browser_command(browser: str, html: Path, pdf: Path, profile: str) -> list[str]:
    """The headless print command: no first-run pages, no background networking, no header or footer."""
    cmd = [browser, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
           f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={pdf}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox
    return cmd + [html.resolve().as_uri()]


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run the browser in its own process group, and stop the whole group when it overruns the timeout."""
    posix = sys.platform != "win32"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=posix)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        if posix:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def html_to_pdf(html: str | os.PathLike, pdf: str | os.PathLike, browser: str | None = None,
                timeout: float = TIMEOUT) -> Path:
    """Print an HTML file to a PDF file with a headless browser; raises NoBrowserError when it cannot."""
    html, pdf = Path(html), Path(pdf)
    browser = browser or find_browser()
    if browser is None:
        where = (_("{env}={value} is not a browser on this computer").format(env=ENV, value=os.environ[ENV])
                 if os.environ.get(ENV) else
                 _("no Chromium, Chrome or Edge found (set {env} to a browser's path)").format(env=ENV))
        raise NoBrowserError(_("cannot write {pdf}: {why}").format(pdf=pdf, why=where))
    pdf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="exposure-browser-") as profile:
        tmp = pdf.with_name(f".{pdf.name}.part")
        try:
            proc = _run(browser_command(browser, html, tmp.resolve(), profile), timeout)
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise NoBrowserError(_("{browser} did not finish printing {pdf} within {seconds} s").format(
                browser=browser, pdf=pdf, seconds=round(timeout))) from None
        except OSError as e:
            raise NoBrowserError(_("{browser} could not be started to write {pdf}: {error}").format(
                browser=browser, pdf=pdf, error=e)) from None
    if proc.returncode != 0 or not tmp.is_file() or tmp.read_bytes()[:5] != b"%PDF-":
        tmp.unlink(missing_ok=True)
        tail = " ".join(proc.stderr.strip().splitlines()[-2:])
        raise NoBrowserError(_("{browser} did not write {pdf} (exit {code}): {error}").format(
            browser=browser, pdf=pdf, code=proc.returncode, error=tail))
    os.replace(tmp, pdf)
    return pdf


def write_pdf_report(result: CheckResult, path: str | os.PathLike, browser: str | None = None) -> Path:
    """Write the report as a PDF; when that fails, write the HTML report beside it and say how to print it."""
    pdf = Path(path)
    with tempfile.TemporaryDirectory(prefix="exposure-report-") as tmp:
        html = write_report(result, Path(tmp) / "report.html")
        # on paper nothing can be clicked open: the letter and the dataset's facts are printed unfolded
        text = html.read_text(encoding="utf-8")
        html.write_text(text.replace("<details>", "<details open>"), encoding="utf-8")
        try:
            return html_to_pdf(html, pdf, browser)
        except NoBrowserError as e:
            kept = pdf.with_suffix(".html")
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(text, encoding="utf-8")
            raise NoBrowserError(_("{error}. The HTML report is written to {path}: open it in your browser and "
                                   "print it (Ctrl+P or Cmd+P, then Save as PDF).").format(error=e, path=kept)) from None
