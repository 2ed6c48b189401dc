"""Environment variables a param value must never set: they change how programs run.

A param reaches its command as an environment variable (``Param.env_name``: its name
upper-cased unless ``env:`` says otherwise). A param named ``path`` would otherwise set
``PATH`` from whatever the operator typed, and a "safe" action would run a program of the
operator's choosing; ``LD_PRELOAD``, ``BASH_ENV``, ``PYTHONSTARTUP``, ``GIT_SSH_COMMAND``,
``LESSOPEN`` and the like run code directly. The list covers the dynamic loader, shells,
interpreters, locale and C library, pagers and editors, proxies and TLS trust, and the
tools an operator drives most (git, ssh, docker, kubectl, aws). It cannot be complete;
names are compared case-insensitively (``http_proxy`` is read as often as ``HTTP_PROXY``).
"""

from __future__ import annotations

#: Exact names (upper case).
RESERVED_NAMES = frozenset(
    {
        # shells
        "PATH", "IFS", "ENV", "BASH_ENV", "CDPATH", "GLOBIGNORE", "SHELLOPTS", "BASHOPTS",
        "POSIXLY_CORRECT", "PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND", "HISTFILE",
        "HOME", "SHELL", "FPATH", "ZDOTDIR", "INPUTRC", "TMPDIR",
        # terminal
        "TERM", "TERMINFO", "TERMINFO_DIRS", "TERMCAP",
        # locale, C library, resolver
        "LANG", "LANGUAGE", "LOCPATH", "NLSPATH", "GCONV_PATH", "TZ", "TZDIR",
        "GLIBC_TUNABLES", "HOSTALIASES", "RESOLV_HOST_CONF", "RES_OPTIONS", "LOCALDOMAIN",
        # interpreters
        "CLASSPATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
        "NODE_OPTIONS", "NODE_PATH", "RUBYLIB", "RUBYOPT", "GEM_HOME", "GEM_PATH",
        # programs that run other programs
        "EDITOR", "VISUAL", "PAGER", "MANPAGER", "BROWSER", "LESSOPEN", "LESSCLOSE",
        "SSH_ASKPASS", "SUDO_ASKPASS", "SSH_AUTH_SOCK", "SUDO_EDITOR",
        # network trust
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "CURL_HOME", "WGETRC", "NETRC", "OPENSSL_CONF", "OPENSSL_MODULES", "OPENSSL_ENGINES",
        # tools
        "KUBECONFIG", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE",
        # the cockpit's own variables
        "COCKPIT_TRACE_ID", "COCKPIT_ACTION", "COCKPIT_PROFILE", "COCKPIT_PYTHON",
        "COCKPIT_STATE_DIR",
    }
)  # fmt: skip

#: Name prefixes (upper case): whole families of variables read by one program.
RESERVED_PREFIXES = (
    "LD_",  # the dynamic loader: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT...
    "DYLD_",  # macOS's
    "BASH_",  # BASH_ENV, BASH_FUNC_name%% (exported functions), BASH_XTRACEFD...
    "LC_",  # locale categories
    "MALLOC_",  # the C library's allocator
    "PYTHON",  # PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, PYTHONWARNINGS, PYTHONBREAKPOINT...
    "PERL",  # PERL5LIB, PERL5OPT, PERLLIB, PERL5DB
    "GIT_",  # GIT_SSH_COMMAND, GIT_CONFIG_*, GIT_EXEC_PATH, GIT_DIR...
    "DOCKER_",  # DOCKER_HOST, DOCKER_CONFIG, DOCKER_CONTEXT...
    "XDG_",  # where every program finds its configuration
    "SYSTEMD_",  # SYSTEMD_PAGER, SYSTEMD_EDITOR...
)


def reserved_env(name: str) -> bool:
    """Whether a param may not set the environment variable ``name``."""
    upper = name.upper()
    return upper in RESERVED_NAMES or upper.startswith(RESERVED_PREFIXES)
