"""Steps the cockpit cannot judge as POSIX shell: PowerShell, and Windows-only commands.

- A **PowerShell** block (``powershell``, ``pwsh``, ``ps1``) runs through ``pwsh`` when it
  is on PATH. The cockpit does not analyse PowerShell as it does bash, so such a step is
  never safe: it is caution at least (a floor no ``danger=`` annotation lowers), and
  dangerous for the cmdlets and programs below (``Remove-Item``, ``Stop-Process``,
  ``taskkill /F``...). Like every non-safe step it asks before it runs.
- A **Windows-only command** in a shell step (a Quick Reference table cell is a shell
  step too): ``.\\START.ps1 -Stop``, ``cmd /c ...``, ``C:\\tools\\x``, ``scripts\\run.bat``,
  ``taskkill``... Steps run with bash (on this machine or in a container), where such a
  command means something else (bash reads ``.\\START.ps1`` as ``.START.ps1``) or
  nothing: the step is not runnable, and the reason says which command and why.
"""

from __future__ import annotations

import re

from cockpit.core.runbooks.danger import Hit
from cockpit.core.runbooks.shell import Lexed, strip_keywords

UNJUDGED = "the cockpit cannot judge PowerShell: it asks before running it"
_PS = (
    (re.compile(r"\b(?:Remove-\w+|Clear-(?:Content|Disk|RecycleBin)|Format-Volume"
                r"|Uninstall-\w+)\b", re.I), "dangerous"),
    (re.compile(r"\b(?:Stop-Process|Stop-Computer|Restart-Computer|taskkill|Invoke-Expression)"
                r"\b", re.I), "dangerous"),
    (re.compile(r"(?:^|[|;&({]\s*)(?:rm|del|erase|rd|rmdir|ri|kill|spps|iex)\b", re.I),
     "dangerous"),
    (re.compile(r"\b(?:Stop-Service|Restart-Service|Set-Service|Suspend-Service"
                r"|Copy-Item|Move-Item|Rename-Item|Set-Content|Add-Content|Out-File"
                r"|New-Item|Set-ItemProperty|Set-Acl|Install-\w+|Update-\w+|Set-Location)\b",
                re.I), "caution"),
    (re.compile(r"\bInvoke-(?:WebRequest|RestMethod)\b.*-Method\s+(?:Post|Put|Patch|Delete)\b",
                re.I), "caution"),
    (re.compile(r"(?:^|\s)-Force\b", re.I), "caution"),
)  # fmt: skip
_WINDOWS_PROGRAMS = frozenset({"cmd", "cmd.exe", "powershell", "powershell.exe", "taskkill",
                               "taskkill.exe", "tasklist", "netsh", "ipconfig", "robocopy",
                               "xcopy", "wmic", "schtasks", "reg.exe", "sc.exe"})  # fmt: skip
_WINDOWS_SCRIPT = re.compile(r"\.(?:ps1|psm1|bat|cmd|vbs)$", re.I)
_BACKSLASH_PATH = re.compile(r"^[A-Za-z]:[\\/]|^\.{1,2}\\|\w\\[\w.]")


def powershell_hits(code: str, lines: tuple[int, ...]) -> list[Hit]:
    """The constructs of a PowerShell step, with the caution floor first."""

    def file_line(k: int) -> int:
        return lines[min(k, len(lines) - 1)] if lines else k + 1

    hits = [Hit("caution", UNJUDGED, file_line(0), floor=True)]
    for k, text in enumerate(code.split("\n")):
        text = text.split("#", 1)[0] if not text.lstrip().startswith("<#") else ""
        for pattern, level in _PS:
            for m in pattern.finditer(text):
                hits.append(Hit(level, m.group(0).strip(" |;&({"), file_line(k)))  # type: ignore[arg-type]
    return hits


def windows_only(text: str, lexed: Lexed) -> tuple[str, int] | None:
    """``(command as written, 0-based line)`` of the first Windows-only command, or None.

    ``text`` is what ``lexed`` was lexed from: the words' offsets point into it, so the
    backslashes bash would swallow are still seen.
    """
    for cmd in lexed.commands:
        words = strip_keywords(cmd.words)
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*\+?=", words[0].text):
            words = words[1:]
        if not words:
            continue
        raw = text[words[0].start : words[0].end]
        name = re.split(r"[\\/]", raw)[-1].lower()
        if name in _WINDOWS_PROGRAMS or _WINDOWS_SCRIPT.search(name) or _BACKSLASH_PATH.search(raw):
            shown = text[words[0].start : (words[1].end if len(words) > 1 else words[0].end)]
            return " ".join(shown.split())[:80], words[0].line
    return None


def windows_reason(shown: str, line: int) -> str:
    """Why a step with a Windows-only command does not run."""
    why = " (bash reads its backslashes as escapes)" if "\\" in shown else ""
    return (
        f"Windows command at line {line} ({shown}): steps run with bash, which cannot run "
        f"it{why}; run it in PowerShell or cmd on Windows"
    )
