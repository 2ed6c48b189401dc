"""Find profiles by name: a path, ``./profiles/``, ``$XDG_CONFIG_HOME/cockpit/profiles/``,
then the built-in set shipped with the package (``demo``). Earlier places win."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_config_path

from cockpit.core.errors import ConfigError

_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ProfileLocation:
    """A profile file found on disk, and which search place it came from."""

    name: str
    path: Path
    origin: str  #: "project", "user" or "built-in"
    shadowed: bool = False  #: an earlier place has a profile of the same name


def builtin_dir() -> Path:
    """The folder of the profiles shipped inside the package."""
    return Path(__file__).resolve().parent.parent.parent / "profiles"


def user_dir() -> Path:
    """``$XDG_CONFIG_HOME/cockpit/profiles``."""
    return user_config_path("cockpit") / "profiles"


def search_dirs(cwd: Path | None = None) -> list[tuple[str, Path]]:
    """Where profiles are looked for, in order of precedence."""
    cwd = cwd or Path.cwd()
    return [("project", cwd / "profiles"), ("user", user_dir()), ("built-in", builtin_dir())]


def list_profiles(cwd: Path | None = None) -> list[ProfileLocation]:
    """Every profile file found, the shadowed ones marked."""
    found: list[ProfileLocation] = []
    seen: set[str] = set()
    for origin, folder in search_dirs(cwd):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix not in _SUFFIXES or not path.is_file():
                continue
            name = path.stem
            found.append(ProfileLocation(name, path, origin, shadowed=name in seen))
            seen.add(name)
    return found


def find_profile(name_or_path: str, cwd: Path | None = None) -> Path:
    """Resolve a profile name or path to a file; ``ConfigError`` when none is found."""
    candidate = Path(name_or_path).expanduser()
    looks_like_path = "/" in name_or_path or candidate.suffix in _SUFFIXES
    if looks_like_path:
        if candidate.is_file():
            return candidate
        raise ConfigError([f"{name_or_path}:1: no such profile file"])
    for _origin, folder in search_dirs(cwd):
        for suffix in _SUFFIXES:
            path = folder / f"{name_or_path}{suffix}"
            if path.is_file():
                return path
    known = ", ".join(sorted({p.name for p in list_profiles(cwd)})) or "none"
    places = ", ".join(str(folder) for _o, folder in search_dirs(cwd))
    raise ConfigError([f"profile {name_or_path!r} not found in {places} (known: {known})"])
