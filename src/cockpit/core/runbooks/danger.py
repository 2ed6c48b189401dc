"""How dangerous a step is: safe, caution or dangerous, with the constructs that say so.

Classes (the most severe construct wins):
- **dangerous**: destroys data or resources, kills processes, cuts or redirects live
  traffic, or is hard to undo: ``rm``, ``find -delete``, ``kill``/``pkill``/``killall``,
  ``kubectl delete|drain|patch|rollout undo``, ``kubectl scale --replicas=0``,
  ``terraform apply|destroy``, ``make`` targets like ``destroy-*``/``terraform-apply``,
  ``gcloud ... delete``, ``gcloud run services update-traffic``, restores and imports,
  ``pubsub ... pull --auto-ack``, ``docker(-compose) down|rm|kill``, ``git push --force``,
  ``chmod -R``, ``dd``, ``mkfs``, truncation (``> file`` or ``: > file`` alone),
  ``DROP``/``TRUNCATE``/``DELETE FROM``, ``helm uninstall|rollback``, ``reboot``.
- **caution**: changes state in a routine, reversible way: restarts and stops
  (``kubectl rollout restart``, ``systemctl restart|stop``, ``docker restart|stop``, a
  service's ``stop``/``restart`` sub-command), scaling, ``kubectl apply|edit|set|create``,
  ``gcloud run deploy``, ``helm install|upgrade``, writes to a file with ``>`` (a
  command's output replaces the file), ``cp``/``mv``/``tee``/``sed -i``, package
  installs, ``curl -X POST|PUT|PATCH|DELETE`` (or with a body), ``sudo``.
- **safe**: everything else (reads, ``start``, ``kill`` of nothing).

A ``kill $X`` where the step set ``X=$!`` (the step's own background job) is caution.
Comments and heredoc bodies never count, except heredocs fed to a shell (``bash <<EOF``,
``ssh host <<EOF``), which are analysed as commands, and SQL in heredocs when the step
runs a database client. ``watch '...'``, ``sh -c '...'``, ``ssh host '...'``,
``kubectl exec ... -- cmd`` and ``docker exec c cmd`` are analysed as commands too.
A ``danger=`` annotation sets the level; the detected reasons are kept. It cannot go
below a floor: a control character in the command keeps a step dangerous (what a
terminal shows is not what runs, see ``controls``), and a language the cockpit cannot
judge (PowerShell, see ``foreign``) keeps it at caution at least.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cockpit.core.config.models import Danger
from cockpit.core.runbooks.controls import REASON, command_control
from cockpit.core.runbooks.model import DANGER_RANK, DangerAssessment
from cockpit.core.runbooks.placeholders import neutralize
from cockpit.core.runbooks.shell import Command, Lexed, Word, lex, strip_keywords

LEVELS: tuple[Danger, ...] = ("safe", "caution", "dangerous")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_BG_PID = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=\$!$")
_VAR_REF = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")
_NULL_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty")
_SHELLS = frozenset({"sh", "bash", "zsh", "ksh", "dash"})
_DB_CLIENTS = frozenset({"psql", "mysql", "mariadb", "sqlite3", "mongosh", "mongo", "cqlsh",
                         "clickhouse-client", "sqlcmd", "bq"})  # fmt: skip
_QUIET = frozenset({"echo", "printf", "grep", "egrep", "fgrep", "rg", "cat", "less", "more",
                    "head", "tail", "awk", "jq", "yq", "sort", "uniq", "wc", "cut", "tr",
                    "test", "[", "true", "false", ":", "sleep", "date", "ls", "which", "type",
                    "man", "help"})  # fmt: skip
_SQL = (
    (re.compile(r"\bDROP\s+(?:TABLE|DATABASE|SCHEMA|INDEX|VIEW|USER|ROLE|COLLECTION)\b", re.I),
     "dangerous", "DROP"),
    (re.compile(r"\bTRUNCATE\b", re.I), "dangerous", "TRUNCATE"),
    (re.compile(r"\bDELETE\s+FROM\b", re.I), "dangerous", "DELETE FROM"),
    (re.compile(r"\bFLUSH(?:ALL|DB)\b", re.I), "dangerous", "FLUSHALL"),
    (re.compile(r"\bdropDatabase\b|\.drop\(\)|\bdeleteMany\b"), "dangerous", "drop/delete"),
    (re.compile(r"\bUPDATE\s+\S+\s+SET\b", re.I), "caution", "UPDATE"),
    (re.compile(r"\bALTER\s+TABLE\b", re.I), "caution", "ALTER TABLE"),
)  # fmt: skip
_PYTHON = (
    (re.compile(r"\bshutil\.rmtree\b|\bos\.(?:remove|unlink|rmdir|removedirs)\b|\.unlink\("),
     "dangerous", "deletes files"),
    (re.compile(r"\bos\.kill(?:pg)?\b"), "dangerous", "os.kill"),
    (re.compile(r"\brequests\.(?:post|put|patch|delete)\b|\bmethod\s*=\s*['\"](?:POST|PUT|PATCH|DELETE)"),
     "caution", "HTTP request that changes state"),
)  # fmt: skip


@dataclass(frozen=True)
class Hit:
    """A construct that makes a step non-safe."""

    level: Danger
    construct: str
    line: int  #: file line
    #: an annotation cannot lower the level below this hit's (control characters, a
    #: language the cockpit cannot judge)
    floor: bool = False

    def reason(self) -> str:
        return f"{self.level}: {self.construct} (line {self.line})"


class _Analyzer:
    def __init__(self, lines: tuple[int, ...], bg_pids: set[str], db: bool) -> None:
        self.lines = lines
        self.bg_pids = bg_pids
        self.db = db
        self.hits: list[Hit] = []
        self.depth = 0

    def file_line(self, line: int) -> int:
        if not self.lines:
            return line + 1
        return self.lines[min(max(line, 0), len(self.lines) - 1)]

    def hit(self, level: Danger, construct: str, line: int) -> None:
        self.hits.append(Hit(level, construct, self.file_line(line)))

    # -- entry points ---------------------------------------------------------------------

    def lexed(self, lexed: Lexed, line: int | None = None) -> None:
        for cmd in lexed.commands:
            self.command(cmd, cmd.line if line is None else line)

    def text(self, text: str, line: int) -> None:
        if self.depth > 8:
            return
        self.depth += 1
        try:
            self.lexed(lex(neutralize(text)), line)
        finally:
            self.depth -= 1

    # -- one simple command ---------------------------------------------------------------

    def command(self, cmd: Command, line: int) -> None:
        words = [w.text for w in strip_keywords(cmd.words)]
        while words and _ASSIGN.match(words[0]):
            words.pop(0)
        self.redirects(cmd, words, line)
        words = self.unwrap(words, line)
        if not words:
            return
        program = words[0].rsplit("/", 1)[-1]
        args = words[1:]
        if program in _SHELLS or program == "ssh" or (program == "kubectl" and "exec" in args):
            for doc in cmd.heredocs:
                self.text(doc.body, line)
        if self.db or program in _DB_CLIENTS:
            for doc in cmd.heredocs:
                self.sql(doc.body, line)
        self.program(program, args, line)

    def redirects(self, cmd: Command, words: list[str], line: int) -> None:
        for r in cmd.redirects:
            if r.op not in (">", ">|", "&>", ">&"):
                continue
            target = r.target
            if r.op == ">&" and (target.isdigit() or target == "-"):
                continue
            if target in _NULL_TARGETS or target.startswith("/dev/fd/"):
                continue
            bare = not words or words[0] in (":", "true") or words == ["cat", "/dev/null"]
            at = line if self.depth else r.line
            if bare or (words[0] == "echo" and all(w == "-n" for w in words[1:])):
                self.hit("dangerous", f"truncates {target} (> redirection)", at)
            else:
                self.hit("caution", f"overwrites {target} ({r.op} redirection)", at)

    def unwrap(self, words: list[str], line: int) -> list[str]:
        """Strip ``sudo``, ``env``, ``nohup``, ``timeout``...; analyse ``watch '...'``."""
        for _ in range(10):
            if not words:
                return words
            program = words[0].rsplit("/", 1)[-1]
            if program == "sudo":
                self.hit("caution", "sudo (runs as root)", line)
                words = _skip_options(
                    words[1:], {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U"}
                )
            elif program == "env":
                words = _skip_options(words[1:], {"-u", "-C", "-S"})
                while words and _ASSIGN.match(words[0]):
                    words = words[1:]
            elif program in ("nohup", "time", "exec", "command", "builtin", "setsid", "stdbuf"):
                words = _skip_options(words[1:], {"-o", "-e", "-i"})
            elif program in ("nice", "ionice"):
                words = _skip_options(words[1:], {"-n", "-c", "-p"})
            elif program == "timeout":
                rest = _skip_options(words[1:], {"-s", "-k", "--signal", "--kill-after"})
                words = rest[1:]
            elif program == "xargs":
                words = _skip_options(words[1:], {"-I", "-n", "-P", "-L", "-d", "-E", "-s", "-a"})
            elif program == "watch":
                rest = _skip_options(words[1:], {"-n", "--interval", "-q", "--equexit"})
                if len(rest) == 1:
                    self.text(rest[0], line)
                    return []
                words = rest
            elif (program in _SHELLS or program == "su") and "-c" in words[1:]:
                k = words.index("-c")
                if k + 1 < len(words):
                    self.text(words[k + 1], line)
                return []
            elif program == "ssh":
                rest = _skip_options(
                    words[1:],
                    {
                        "-p",
                        "-i",
                        "-l",
                        "-o",
                        "-F",
                        "-J",
                        "-L",
                        "-R",
                        "-D",
                        "-b",
                        "-c",
                        "-E",
                        "-e",
                        "-m",
                        "-O",
                        "-Q",
                        "-S",
                        "-W",
                        "-w",
                    },
                )
                if len(rest) > 1:
                    self.text(" ".join(rest[1:]), line)
                return []
            else:
                return words
        return words

    def sql(self, text: str, line: int) -> None:
        for pattern, level, construct in _SQL:
            if pattern.search(text):
                self.hit(level, construct, line)  # type: ignore[arg-type]

    def program(self, program: str, args: list[str], line: int) -> None:
        rule = _RULES.get(program)
        if rule is not None:
            rule(self, program, args, line)
            return
        if program.startswith("mkfs"):
            self.hit("dangerous", program, line)
            return
        if program.startswith("python") and "-c" in args:
            k = args.index("-c")
            if k + 1 < len(args):
                self.python(args[k + 1], line)
            if "pip" in args[:3] and "install" in args:
                self.hit("caution", "pip install", line)
            return
        if program in _DB_CLIENTS:
            self.sql(" ".join(args), line)
            return
        pos = _positional(args)
        if program not in _QUIET and pos and pos[0] in ("stop", "restart", "reload"):
            self.hit("caution", f"{program} {pos[0]}", line)

    def python(self, code: str, line: int) -> None:
        for pattern, level, construct in _PYTHON:
            if pattern.search(code):
                self.hit(level, construct, line)  # type: ignore[arg-type]


def _skip_options(words: list[str], with_arg: set[str]) -> list[str]:
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] != "--":
        i += 2 if words[i] in with_arg else 1
    if i < len(words) and words[i] == "--":
        i += 1
    return words[i:]


def _positional(args: Iterable[str]) -> list[str]:
    return [a for a in args if not a.startswith("-")]


def _leading(args: list[str]) -> list[str]:
    """Words before the first option: a CLI's command path (``run services update``)."""
    out = []
    for a in args:
        if a.startswith("-"):
            break
        out.append(a)
    return out


# -- rules per program ----------------------------------------------------------------------

Rule = Callable[[_Analyzer, str, list[str], int], None]


def _rm(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    flags = [x for x in args if x.startswith("-") and x != "--"]
    risky = [
        f
        for f in flags
        if f in ("--recursive", "--force") or re.fullmatch(r"-[a-zA-Z]*[rRf][a-zA-Z]*", f)
    ]
    a.hit("dangerous", f"rm {' '.join(risky)}".strip(), line)


def _find(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    if "-delete" in args:
        a.hit("dangerous", "find -delete", line)
    for k, word in enumerate(args[:-1]):
        if word in ("-exec", "-execdir", "-ok") and args[k + 1].rsplit("/", 1)[-1] in (
            "rm",
            "shred",
        ):
            a.hit("dangerous", f"find {word} {args[k + 1]}", line)


def _kill(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    targets = _positional(args)
    refs = [_VAR_REF.match(t) for t in targets]
    if program == "kill" and targets and all(m and m.group(1) in a.bg_pids for m in refs):
        names = ", ".join(sorted({m.group(1) for m in refs if m}))
        a.hit("caution", f"kill of the step's own background job (${names}=$!)", line)
    else:
        a.hit("dangerous", program, line)


_KUBECTL_GLOBAL = {"-n", "--namespace", "--context", "--cluster", "--kubeconfig", "--user",
                   "-s", "--server", "--token", "--as", "--request-timeout"}  # fmt: skip
_KUBECTL_CAUTION = {"apply", "edit", "create", "cordon", "uncordon", "taint", "label",
                    "annotate", "set", "expose", "autoscale", "run"}  # fmt: skip


def _kubectl(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    rest = _skip_options(args, _KUBECTL_GLOBAL)
    if not rest:
        return
    sub, more = rest[0], rest[1:]
    second = (_positional(more) or [""])[0]
    if sub in ("delete", "drain"):
        a.hit("dangerous", f"kubectl {sub}", line)
    elif sub == "patch":
        a.hit("dangerous", "kubectl patch", line)
    elif sub == "rollout" and second == "undo":
        a.hit("dangerous", "kubectl rollout undo", line)
    elif sub == "rollout" and second in ("restart", "pause", "resume"):
        a.hit("caution", f"kubectl rollout {second}", line)
    elif sub == "replace":
        a.hit("dangerous" if "--force" in more else "caution", "kubectl replace", line)
    elif sub == "scale":
        zero = "--replicas=0" in more or any(
            x == "--replicas" and y == "0" for x, y in itertools.pairwise(more)
        )
        a.hit(
            "dangerous" if zero else "caution",
            "kubectl scale" + (" --replicas=0" if zero else ""),
            line,
        )
    elif sub in _KUBECTL_CAUTION:
        a.hit("caution", f"kubectl {sub}" + (f" {second}" if sub == "set" and second else ""), line)
    elif sub == "exec" and "--" in more:
        inner = more[more.index("--") + 1 :]
        a.command(Command(words=[Word(w, 0, 0, line) for w in inner], line=line), line)
    elif sub == "cp" and len(_positional(more)) >= 2 and ":" in _positional(more)[-1]:
        a.hit("caution", "kubectl cp into a pod", line)


def _helm(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    sub = (_positional(args) or [""])[0]
    if sub in ("uninstall", "delete", "del", "rollback"):
        a.hit("dangerous", f"helm {sub}", line)
    elif sub in ("install", "upgrade"):
        a.hit("caution", f"helm {sub}", line)


def _terraform(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    pos = _positional(args)
    sub = pos[0] if pos else ""
    if sub in ("apply", "destroy", "import", "taint", "force-unlock"):
        a.hit("dangerous", f"{program} {sub}", line)
    elif sub == "state" and len(pos) > 1 and pos[1] in ("rm", "mv", "push", "replace-provider"):
        a.hit("dangerous", f"{program} state {pos[1]}", line)
    elif sub in ("refresh", "untaint"):
        a.hit("caution", f"{program} {sub}", line)


def _make(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    for target in _positional(args):
        if "=" in target:
            continue
        if re.search(
            r"destroy|delete|drop|purge|nuke|teardown|wipe|(?:terraform|tf)-?apply", target
        ):
            a.hit("dangerous", f"make {target}", line)
        elif re.search(r"deploy|apply|release|migrate|rollback|restart|stop|push|publish", target):
            a.hit("caution", f"make {target}", line)


_GCLOUD_DANGER = ("delete", "rm", "restore", "import", "seek", "update-traffic", "purge")
_GCLOUD_CAUTION = ("create", "update", "set", "deploy", "stop", "reset", "restart", "resize",
                   "scale", "enable", "disable", "publish", "ack", "replace", "mk",
                   "add-iam-policy-binding", "remove-iam-policy-binding",
                   "set-iam-policy")  # fmt: skip


def _gcloud(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    path = _leading(args)
    shown = " ".join([program, *path[:4]])
    if "pull" in path and "--auto-ack" in args:
        a.hit(
            "dangerous",
            f"{program} {' '.join(path[:3])} --auto-ack (acknowledges, removes messages)",
            line,
        )
        return
    stores = {"firestore", "sql", "datastore", "spanner", "bigtable", "alloydb", "redis"}
    if any(word in _GCLOUD_DANGER for word in path):
        a.hit("dangerous", shown, line)
    elif any(word in _GCLOUD_CAUTION for word in path) or ("export" in path and stores & set(path)):
        a.hit("caution", shown, line)


def _gsutil(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    sub = (_positional(args) or [""])[0]
    if sub in ("rm", "rb"):
        a.hit("dangerous", f"gsutil {sub}", line)
    elif sub in ("cp", "mv", "rsync", "setmeta", "acl"):
        a.hit("caution", f"gsutil {sub}", line)


def _bq(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    sub = (_positional(args) or [""])[0]
    if sub == "rm":
        a.hit("dangerous", "bq rm", line)
    elif sub in ("mk", "load", "cp", "update", "insert"):
        a.hit("caution", f"bq {sub}", line)
    a.sql(" ".join(args), line)


def _aws(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    path = _leading(args)
    shown = " ".join([program, *path[:3]])
    if any(w in ("rm", "rb") or w.startswith(("delete", "terminate", "purge")) for w in path):
        a.hit("dangerous", shown, line)
    elif any(
        w in ("cp", "mv", "sync")
        or w.startswith(("put", "update", "create", "start", "stop", "reboot", "modify"))
        for w in path
    ):
        a.hit("caution", shown, line)


def _docker(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    rest = _skip_options(
        args,
        {
            "-H",
            "--host",
            "--context",
            "-c",
            "--config",
            "-f",
            "--file",
            "-p",
            "--project-name",
            "--env-file",
            "--profile",
        },
    )
    compose = program in ("docker-compose", "podman-compose")
    if rest and rest[0] == "compose":
        compose = True
        rest = _skip_options(
            rest[1:], {"-f", "--file", "-p", "--project-name", "--env-file", "--profile"}
        )
    if not rest:
        return
    sub, more = rest[0], rest[1:]
    name = f"{program} compose" if compose and program != "docker-compose" else program
    if sub in ("down", "rm", "rmi", "kill") or (
        sub in ("system", "volume", "image", "container", "network", "builder")
        and set(more) & {"prune", "rm"}
    ):
        a.hit(
            "dangerous",
            f"{name} {sub}"
            + (
                f" {_positional(more)[0]}"
                if sub in ("system", "volume", "image", "container", "network", "builder")
                else ""
            ),
            line,
        )
    elif sub in ("stop", "restart", "up", "pause"):
        a.hit("caution", f"{name} {sub}", line)
    elif sub == "exec":
        inner = _skip_options(
            more, {"-e", "--env", "-u", "--user", "-w", "--workdir", "--env-file"}
        )
        if len(inner) > 1:
            a.command(Command(words=[Word(w, 0, 0, line) for w in inner[1:]], line=line), line)


def _systemctl(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    sub = (_positional(args) or [""])[0]
    if sub in ("kill",):
        a.hit("dangerous", f"systemctl {sub}", line)
    elif sub in (
        "restart",
        "reload",
        "try-restart",
        "reload-or-restart",
        "stop",
        "disable",
        "mask",
        "enable",
        "isolate",
    ):
        a.hit("caution", f"systemctl {sub}", line)
    elif sub in ("poweroff", "reboot", "halt"):
        a.hit("dangerous", f"systemctl {sub}", line)


def _service(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    pos = _positional(args)
    if len(pos) >= 2 and pos[1] in ("stop", "restart", "reload", "force-reload"):
        a.hit("caution", f"service {pos[0]} {pos[1]}", line)


def _git(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    rest = _skip_options(args, {"-C", "-c"})
    sub, more = (rest[0], rest[1:]) if rest else ("", [])
    if sub == "push":
        force = {"--force", "-f", "--force-with-lease", "--mirror", "--delete", "-d"} & set(more)
        force = force or {m for m in _positional(more) if m.startswith("+") or m.startswith(":")}
        a.hit("dangerous" if force else "caution", "git push" + (" --force" if force else ""), line)
    elif sub == "reset" and "--hard" in more:
        a.hit("dangerous", "git reset --hard", line)
    elif sub == "clean":
        a.hit("dangerous", "git clean", line)
    elif sub == "branch" and {"-D", "--delete", "-d"} & set(more):
        a.hit("dangerous", "git branch -D", line)


def _perm(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    recursive = any(x == "--recursive" or re.fullmatch(r"-[a-zA-Z]*R[a-zA-Z]*", x) for x in args)
    a.hit("dangerous" if recursive else "caution", f"{program} -R" if recursive else program, line)


def _always(level: Danger) -> Rule:
    def rule(a: _Analyzer, program: str, args: list[str], line: int) -> None:
        a.hit(level, program, line)

    return rule


def _curl(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    method = ""
    for k, x in enumerate(args):
        if x in ("-X", "--request") and k + 1 < len(args):
            method = args[k + 1].upper()
        elif x.startswith("-X") and len(x) > 2:
            method = x[2:].upper()
        elif x.startswith("--request="):
            method = x.split("=", 1)[1].upper()
    if not method and any(
        x in ("-d", "-F", "-T", "--form", "--upload-file", "--json")
        or x.startswith(("--data", "-d", "--json"))
        for x in args
    ):
        method = "POST"
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        a.hit("caution", f"curl -X {method}", line)


def _wget(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    for x in args:
        if x.startswith(("--post-data", "--post-file", "--body-data", "--body-file")) or (
            x.startswith("--method=") and x.split("=", 1)[1].upper() != "GET"
        ):
            a.hit("caution", f"wget {x.split('=', 1)[0]}", line)
            return


def _httpie(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    pos = _positional(args)
    if pos and pos[0].upper() in ("POST", "PUT", "PATCH", "DELETE") and pos[0].isupper():
        a.hit("caution", f"{program} {pos[0]}", line)


def _copy(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    pos = _positional(args)
    if program == "tee":
        if pos and not ({"-a", "--append"} & set(args)):
            a.hit("caution", f"tee overwrites {pos[0]}", line)
    elif program == "sed":
        if any(x == "-i" or x.startswith(("-i", "--in-place")) for x in args):
            a.hit("caution", "sed -i (edits files in place)", line)
    elif program == "ln":
        if any(re.fullmatch(r"-[a-zA-Z]*f[a-zA-Z]*", x) for x in args):
            a.hit("caution", "ln -f", line)
    elif len(pos) >= 2:
        a.hit("caution", f"{program} overwrites {pos[-1]}", line)


def _packages(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    sub = (_positional(args) or [""])[0]
    if sub in ("install", "uninstall", "remove", "purge", "upgrade", "update", "add", "del"):
        a.hit("caution", f"{program} {sub}", line)


def _iptables(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    flush = {"-F", "--flush", "-X", "--delete-chain"} & set(args)
    a.hit("dangerous" if flush else "caution", program + (" -F" if flush else ""), line)


def _crontab(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    if "-r" in args:
        a.hit("dangerous", "crontab -r", line)


def _redis(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    words = {x.upper() for x in args}
    if words & {"FLUSHALL", "FLUSHDB"}:
        a.hit("dangerous", f"redis-cli {sorted(words & {'FLUSHALL', 'FLUSHDB'})[0]}", line)
    elif words & {"DEL", "UNLINK", "SHUTDOWN"}:
        a.hit("dangerous", "redis-cli DEL/SHUTDOWN", line)


def _init(a: _Analyzer, program: str, args: list[str], line: int) -> None:
    if args and args[0] in ("0", "6"):
        a.hit("dangerous", f"init {args[0]}", line)


_RULES: dict[str, Rule] = {
    "rm": _rm, "shred": _always("dangerous"), "unlink": _always("dangerous"),
    "rmdir": _always("caution"), "find": _find,
    "kill": _kill, "pkill": _kill, "killall": _kill, "killall5": _kill, "skill": _kill,
    "kubectl": _kubectl, "oc": _kubectl, "helm": _helm,
    "terraform": _terraform, "tofu": _terraform, "terragrunt": _terraform,
    "make": _make, "gmake": _make,
    "gcloud": _gcloud, "gsutil": _gsutil, "bq": _bq, "aws": _aws, "az": _aws,
    "docker": _docker, "podman": _docker, "nerdctl": _docker,
    "docker-compose": _docker, "podman-compose": _docker,
    "systemctl": _systemctl, "service": _service, "git": _git,
    "chmod": _perm, "chown": _perm, "chgrp": _perm,
    "dd": _always("dangerous"), "fdisk": _always("dangerous"), "parted": _always("dangerous"),
    "wipefs": _always("dangerous"), "sgdisk": _always("dangerous"),
    "truncate": _always("dangerous"),
    "reboot": _always("dangerous"), "shutdown": _always("dangerous"),
    "halt": _always("dangerous"), "poweroff": _always("dangerous"), "init": _init,
    "iptables": _iptables, "ip6tables": _iptables, "nft": _always("caution"),
    "ufw": _always("caution"), "crontab": _crontab, "redis-cli": _redis,
    "curl": _curl, "wget": _wget, "http": _httpie, "https": _httpie,
    "cp": _copy, "mv": _copy, "tee": _copy, "sed": _copy, "ln": _copy, "rsync": _copy,
    "pip": _packages, "pip3": _packages, "apt": _packages, "apt-get": _packages,
    "yum": _packages, "dnf": _packages, "apk": _packages, "brew": _packages,
    "npm": _packages,
    "dropdb": _always("dangerous"),
}  # fmt: skip


def _background_pids(lexed: Lexed) -> set[str]:
    names = set()
    for cmd in lexed.commands:
        for word in cmd.words:
            m = _BG_PID.match(word.text)
            if m:
                names.add(m.group(1))
    return names


def shell_hits(lexed: Lexed, lines: tuple[int, ...]) -> list[Hit]:
    """Non-safe constructs of lexed shell text; ``lines`` maps its lines to file lines."""
    db = any(
        (strip_keywords(c.words) or [Word("", 0, 0, 0)])[0].text.rsplit("/", 1)[-1] in _DB_CLIENTS
        for c in lexed.commands
    )
    analyzer = _Analyzer(lines, _background_pids(lexed), db)
    analyzer.lexed(lexed)
    return analyzer.hits


def python_hits(code: str, lines: tuple[int, ...]) -> list[Hit]:
    analyzer = _Analyzer(lines, set(), False)
    for k, text in enumerate(code.splitlines()):
        analyzer.python(text, k)
    return analyzer.hits


def assess(hits: Iterable[Hit], annotated: str | None = None) -> DangerAssessment:
    """The level (the worst hit, or the annotation but not below a floor hit) and the
    reasons, without duplicates."""
    hits = list(hits)
    detected: Danger = _worst(h.level for h in hits)
    floor: Danger = _worst(h.level for h in hits if h.floor)
    reasons = list(dict.fromkeys(h.reason() for h in hits))
    level = detected
    note: Danger | None = None
    if annotated in LEVELS:
        note = annotated  # type: ignore[assignment]
        level = _worst((note, floor))  # type: ignore[arg-type]
        kept = f"; kept at {level}: an annotation cannot lower it" if level != note else ""
        reasons.append(f"annotated: danger={annotated} (detected {detected}){kept}")
    return DangerAssessment(level, tuple(reasons), detected, note)


def _worst(levels: Iterable[Danger]) -> Danger:
    return max(levels, key=DANGER_RANK.__getitem__, default="safe")


def control_hit(command: str, lines: tuple[int, ...]) -> list[Hit]:
    """A dangerous floor hit when the command holds a control character (``controls``)."""
    found = command_control(command)
    if found is None:
        return []
    line, what = found
    file_line = lines[min(line, len(lines) - 1)] if lines else line + 1
    construct = f"{REASON} {what}: a terminal does not show what runs"
    return [Hit("dangerous", construct, file_line, floor=True)]
