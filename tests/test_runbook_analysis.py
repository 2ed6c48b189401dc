"""Runbook analysis: fences, consoles, expectations, placeholders, danger, scripts."""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest

from cockpit.core.actions.params import validate_params
from cockpit.core.errors import UsageError
from cockpit.core.runbooks.actions import (
    action_id,
    dry_run_text,
    step_action,
    step_params,
    step_script,
)
from cockpit.core.runbooks.danger import assess, shell_hits
from cockpit.core.runbooks.fence import parse_attributes, split_info
from cockpit.core.runbooks.model import Expectation
from cockpit.core.runbooks.parser import github_slug, parse_text
from cockpit.core.runbooks.placeholders import missing_params, neutralize
from cockpit.core.runbooks.repair import repair_line, strip_prompt
from cockpit.core.runbooks.shell import assigned_names, lex

#: what every shell step starts and ends with: run as pasted, fail with the first failure
AS_PASTED = (
    "set +eu +o pipefail\n"
    "__cockpit_failed=0\n"
    "trap '__cockpit_rc=$?; [ \"$__cockpit_failed\" -ne 0 ] || __cockpit_failed=$__cockpit_rc' ERR\n"
)
EXIT_FIRST_FAILURE = 'exit "$__cockpit_failed"\n'


def md(text: str, **kw):
    return parse_text(textwrap.dedent(text), "t.md", which=lambda _: None, **kw)


def one(block: str, lang: str = "bash", before: str = ""):
    """The single step of a runbook holding one block."""
    rb = md(f"# T\n\n{before}\n\n```{lang}\n{block}\n```\n")
    [step] = rb.steps
    return step


# -- fences and ids ------------------------------------------------------------------------


def test_fence_info_annotations():
    assert split_info("bash {name=restart-api danger=dangerous}") == (
        "bash",
        {"name": "restart-api", "danger": "dangerous"},
        None,
    )
    assert split_info('sh {name="two words" timeout=30s}')[1] == {
        "name": "two words",
        "timeout": "30s",
    }
    assert split_info('shell {"name":"x","excludeFromRunAll":true}')[1] == {
        "name": "x",
        "excludeFromRunAll": "true",
    }
    assert split_info("Console")[0] == "console" and split_info("py")[0] == "python"
    assert parse_attributes("{name=x")[1] == "annotation '{name=x' is not closed with '}'"
    assert parse_attributes("{novalue}")[1] == "annotation 'novalue' is not key=value"


def test_ids_slugs_names_and_annotation_problems():
    rb = md(
        """\
        ```bash
        echo before any heading
        ```

        # Top
        ## Part 1: Setup — fast!
        ```bash
        echo a
        ```
        ```bash {name=restart-api danger=dangerous}
        echo b
        ```
        ```bash
        echo c
        ```
        ## Part 1: Setup — fast!
        ```bash {name=restart-api danger=extreme colour=red}
        echo d
        ```
        """
    )
    assert [s.slug for s in rb.sections] == [
        "top",
        "top-1",
        "part-1-setup--fast",
        "part-1-setup--fast-1",
    ]
    assert [s.id for s in rb.steps] == [
        "top/1",
        "part-1-setup--fast/1",
        "restart-api",
        "part-1-setup--fast/3",
        "part-1-setup--fast-1/1",
    ]
    assert rb.steps[2].danger.level == "dangerous" and rb.steps[2].danger.detected == "safe"
    assert [p.format("t.md") for p in rb.problems] == [
        "t.md:17: annotation: name='restart-api' is used by an earlier step",
        "t.md:17: annotation: unknown annotation 'colour' (ignored)",
        "t.md:17: annotation: danger='extreme': must be safe, caution or dangerous (ignored)",
    ]
    assert github_slug("Issue: Health Check Fails (503)") == "issue-health-check-fails-503"


def test_checklist_items_and_tables():
    rb = md(
        """\
        # R
        ## Before
        - [ ] first *thing*
        - [x] second
        - not a task
        * [X] third
          continued

        | Step | Command | Other |
        |------|---------|-------|
        | a | `echo one` and `echo two` | `not this` |
        | b | plain text | `nor this` |
        | c | `grep x f \\| wc -l` | |

        | Op | Time |
        |----|------|
        | `echo no command column` | 1s |
        """
    )
    assert [(c.id, c.text, c.line, c.checked) for c in rb.checklist] == [
        ("before/check-1", "first *thing*", 3, False),
        ("before/check-2", "second", 4, True),
        ("before/check-3", "third continued", 6, True),
    ]
    assert [(s.id, s.line, s.command, s.language) for s in rb.steps] == [
        ("before/table-1", 11, "echo one", "shell"),
        ("before/table-2", 11, "echo two", "shell"),
        ("before/table-3", 13, "grep x f | wc -l", "shell"),
    ]
    assert rb.section_steps("before") == []  # Quick Reference commands are not a sequence


# -- console blocks and prompts ------------------------------------------------------------


def test_console_prompts_output_and_continuations():
    step = one(
        "$ for i in 1 2; do \\\n>   echo $i; done\n1\n2\n$ cat <<EOF\n> hi\n> EOF\nhi\n"
        "user@host:~$ echo bye\nbye",
        "console",
    )
    assert step.command == "for i in 1 2; do \\\n  echo $i; done\ncat <<EOF\nhi\nEOF\necho bye"
    assert step.command_lines == (6, 7, 10, 11, 12, 14)
    assert step.expectations == [
        Expectation("1\n2", 8, "console"),
        Expectation("hi", 13, "console"),
        Expectation("bye", 15, "console"),
    ]
    assert step.repairs == []  # prompts are what a console block is made of

    root = one("# apt-get update\nReading package lists...", "console")
    assert root.command == "apt-get update" and root.danger.level == "caution"
    output_only = one("total 0", "console")
    assert not output_only.runnable
    assert output_only.reason == "console block without a '$ ' prompt: output only, nothing to run"


def test_prompts_in_a_bash_block_are_damage():
    step = one("$ kubectl get pods\nNAME READY\n$ echo ok\n$")
    assert step.command == "kubectl get pods\necho ok"
    assert [(r.line, r.kind, r.original) for r in step.repairs] == [
        (6, "prompt", "$ "),
        (8, "prompt", "$ "),
        (9, "trailing-prompt", "$"),
    ]
    assert [(n.line, n.kind) for n in step.notes] == [(7, "transcript")]
    assert step.expectations == [Expectation("NAME READY", 7, "console")]


# -- copy-paste damage ---------------------------------------------------------------------


def test_repair_line_kinds_and_columns():
    fix = repair_line("curl \u2013-data \u201cx\u201d\u00a0[https://a.b/c](https://a.b/c)", 7, 3)
    assert fix.text == 'curl --data "x" https://a.b/c'
    assert [(r.line, r.column, r.kind, r.original, r.replacement) for r in fix.repairs] == [
        (7, 9, "dash", "\u2013-", "--"),
        (7, 16, "smart-quote", "\u201c", '"'),
        (7, 18, "smart-quote", "\u201d", '"'),
        (7, 19, "odd-space", "U+00A0", " "),
        (7, 20, "md-link", "[https://a.b/c](https://a.b/c)", "https://a.b/c"),
    ]
    assert repair_line("ls \u2212l \u2014all", 1).text == "ls -l --all"
    assert repair_line("ls\u200b", 1).repairs[0].kind == "zero-width"
    # not damage: apostrophes, typographic text in comments, a link whose text differs
    for text in ['echo "it\u2019s"', "# build \u2014 then test \u2713", "x [docs](https://a.b)"]:
        assert repair_line(text, 1).repairs == []


# -- expectations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    ["Expected:", "**Expected:**", "Expected output", "Expected response:", "Example output:"],
)
def test_expected_output_blocks_attach_to_the_step_before(label):
    rb = md(f"# T\n\n```bash\necho hi\n```\n\n{label}\n\n```\nhi\n```\n")
    [step] = rb.steps
    assert step.expectations == [Expectation("hi", 9, "block", "")]


def test_expectation_rules():
    rb = md(
        """\
        # T
        ```bash
        curl -s localhost/health
        ```
        ```json
        {"status": "ok"}
        ```
        Some other text:
        ```json
        {"not": "expected"}
        ```
        ## Other
        Expected:
        ```text
        orphan
        ```
        Expected:
        ```bash
        echo a runnable block is a step
        # Expected output: a
        # and b

        # not this one
        ```
        """
    )
    assert [s.id for s in rb.steps] == ["t/1", "t/2", "other/1", "other/2"]
    assert rb.steps[0].expectations == [Expectation('{"status": "ok"}', 5, "block", "json")]
    assert rb.steps[1].language == "json" and not rb.steps[1].runnable
    assert rb.steps[2].source == "orphan"  # no step before it in its section
    assert rb.steps[3].expectations == [Expectation("Expected output: a\nand b", 20, "comment")]


# -- placeholders --------------------------------------------------------------------------


def names(step) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(p.name, p.kind, p.tokens) for p in step.placeholders]


def test_angle_brace_and_date_placeholders():
    step = one(
        "kill <PID>\n"
        "gcloud config set project <your-project>\n"
        'curl "https://api/updates/{update_id}" -d id={update_id}\n'
        "tar czf backup-YYYYMMDD_HHMMSS.tgz /data\n"
        "# <NOT_IN_COMMENTS> {nor_this}"
    )
    assert names(step) == [
        ("PID", "angle", ("<PID>",)),
        ("YOUR_PROJECT", "angle", ("<your-project>",)),
        ("UPDATE_ID", "brace", ("{update_id}",)),
        ("YYYYMMDD_HHMMSS", "date", ("YYYYMMDD_HHMMSS",)),
    ]
    date = next(p for p in step_params(step) if p.name == "YYYYMMDD_HHMMSS")
    assert (date.env, date.regex) == ("COCKPIT_P_YYYYMMDD_HHMMSS", r"\d{8}_\d{6}")
    validate_params(step_action(md("# T\n"), step), {
        "PID": "1", "YOUR_PROJECT": "p", "UPDATE_ID": "u", "YYYYMMDD_HHMMSS": "20250101_120000"
    })  # fmt: skip
    with pytest.raises(UsageError, match="does not match"):
        validate_params(step_action(md("# T\n"), step), {
            "PID": "1", "YOUR_PROJECT": "p", "UPDATE_ID": "u", "YYYYMMDD_HHMMSS": "yesterday"
        })  # fmt: skip


def test_things_that_are_not_placeholders():
    step = one(
        'echo "${HOME} $PATH ${X:-default}"\n'
        'curl -w "Time: %{time_total}s\\n" localhost\n'
        "jq '.items[] | {name}' f.json\n"
        "cp f.{txt,bak}\n"
        "awk '{ print $1 }' f\n"
        'grep -c "RATE_LIMIT_EXCEEDED" log | grep ERROR\n'
        "export GCP_PROJECT_ID=my-project && printenv GCP_PROJECT_ID\n"
        "gcloud run services update-traffic svc --to-revisions BLUE=100\n"
        "python -c \"print(f'{event_type}')\""
    )
    assert names(step) == []


def test_capitals_need_a_placeholder_shape_or_words_that_say_so():
    step = one(
        "gcloud projects get-iam-policy PROJECT_ID\n"
        "curl https://SERVICE_URL/health\n"
        "docker pull REGISTRY/app:latest\n"
        "kubectl get pods -n NAMESPACE\n"
        "deploy --target STAGING"
    )
    assert [p.name for p in step.placeholders] == [
        "PROJECT_ID",
        "SERVICE_URL",
        "REGISTRY",
        "NAMESPACE",
    ]
    told = one("deploy --target STAGING --zone EU", before="Replace STAGING with your environment.")
    assert [p.name for p in told.placeholders] == ["STAGING"]
    commented = one("# set TARGET_ENV first\ndeploy --to TARGET_ENV")
    assert [p.name for p in commented.placeholders] == ["TARGET_ENV"]


def test_unset_variables_become_params_unless_assigned_or_defined():
    rb = md(
        """\
        # T
        ```bash
        export FROM_FIRST=1
        read -r ANSWER
        for item in a b; do echo "$item"; done
        echo "$FROM_FIRST $ANSWER $NEEDED ${ALSO_NEEDED:0:4} ${DEFAULTED:-x} $HOME $1"
        ```
        ```bash
        echo "$FROM_FIRST $LATER_SET $NEEDED"
        LATER_SET=1
        ```
        """
    )
    first, second = rb.steps
    assert [(p.name, p.kind, p.line) for p in first.placeholders] == [
        ("NEEDED", "env", 6),
        ("ALSO_NEEDED", "env", 6),
    ]
    assert [p.name for p in second.placeholders] == ["NEEDED"]
    assert [p.name for p in missing_params(first.placeholders, {"NEEDED": "x"})] == ["ALSO_NEEDED"]


# -- scripts, params, dry runs ------------------------------------------------------------


def test_substitution_is_quoted_for_its_place_and_values_stay_literal(tmp_path):
    step = one(
        "printf '[%s]\\n' <NAME> \"in-<NAME>\" 'single-<NAME>' http://h/{item_id}/x\n"
        "cat <<EOT\nheredoc <NAME>\nEOT"
    )
    script = step_script(step)
    assert script == (
        "# runbook step t/1 (line 5)\n"
        + AS_PASTED
        +         'printf \'[%s]\\n\' "${COCKPIT_P_NAME}" "in-${COCKPIT_P_NAME}" '
        "'single-'\"${COCKPIT_P_NAME}\"'' http://h/\"${COCKPIT_P_ITEM_ID}\"/x\n"
        "cat <<EOT\nheredoc ${COCKPIT_P_NAME}\nEOT\n"
        + EXIT_FIRST_FAILURE
    )
    hostile = f"a b; $(touch {tmp_path}/pwned) `id` \"q\" 's'"
    env = {**os.environ, "COCKPIT_P_NAME": hostile, "COCKPIT_P_ITEM_ID": hostile}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.stdout.splitlines() == [
        f"[{hostile}]",
        f"[in-{hostile}]",
        f"[single-{hostile}]",
        f"[http://h/{hostile}/x]",
        f"heredoc {hostile}",
    ]
    assert not (tmp_path / "pwned").exists()
    # a value used inside single quotes may only hold inert characters
    action = step_action(md("# T\n"), step)
    name = next(p for p in action.params if p.name == "NAME")
    assert name.env == "COCKPIT_P_NAME" and name.regex == r"[A-Za-z0-9_.:/@+=,%~-]*"
    with pytest.raises(UsageError, match="does not match"):
        validate_params(action, {"NAME": "x y", "ITEM_ID": "1"})


def test_a_block_runs_as_pasted_and_fails_with_its_first_failure():
    step = one("echo one\nfalse\ngrep -c NOPE /dev/null\necho \"$UNSET_VAR two\"")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", step_script(step)],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.stdout.splitlines() == ["one", "0", " two"]  # every command ran
    assert proc.returncode == 1  # the status of the first command that failed
    ok = one("false || echo recovered\nif false; then :; fi\necho done")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", step_script(ok)],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "recovered\ndone\n")


def test_quoted_heredoc_placeholder_refuses_to_run():
    step = one("cat <<'EOF'\n<PID>\nEOF")
    assert not step.runnable
    assert step.reason == (
        "placeholder at line 7 is inside a quoted heredoc (<<'EOF'), where no value can be "
        "substituted; edit the runbook"
    )
    with pytest.raises(UsageError, match="cannot run"):
        step_script(step)


def test_dry_run_text_is_the_exact_script_with_quoted_env():
    rb = md('# Look Up\n\n```bash\ngrep -c \'"trace":"<TRACE_ID>"\' "$LOG_FILE"\n```\n')
    [step] = rb.steps
    assert dry_run_text(step, {"TRACE_ID": "abc-1", "LOG_FILE": "/tmp/a b.log"}) == (
        "# look-up/1 (line 3) — safe\n"
        "COCKPIT_P_TRACE_ID=abc-1 \\\n"
        "LOG_FILE='/tmp/a b.log' \\\n"
        "bash -euo pipefail <<'SCRIPT'\n"
        "# runbook step look-up/1 (line 3)\n"
        + AS_PASTED
        + 'grep -c \'"trace":"\'"${COCKPIT_P_TRACE_ID}"\'"\' "$LOG_FILE"\n'
        + EXIT_FIRST_FAILURE
        + "SCRIPT\n"
    )
    assert "# LOG_FILE is not set: pass -p LOG_FILE=VALUE" in dry_run_text(step, {"TRACE_ID": "x"})
    defined = dry_run_text(step, {"TRACE_ID": "x"}, env={"LOG_FILE": "/x"})
    assert "LOG_FILE=" not in defined and "LOG_FILE is not set" not in defined


def test_step_as_action():
    rb = parse_text(
        "# Ops\n## Fix It!\n```bash {timeout=5s}\nsystemctl restart api\necho $API_TOKEN\n```\n"
        "```python\nprint('hi')\n```\n",
        "/srv/My Runbook.md",
    )
    restart, python = rb.steps
    action = step_action(rb, restart, cwd="/srv")
    assert action.id == "rb.my-runbook.fix-it.1" == action_id(rb, restart)
    assert (action.danger, action.timeout, action.cwd) == ("caution", 5.0, "/srv")
    assert [(p.name, p.env, p.secret) for p in action.params] == [("API_TOKEN", "API_TOKEN", True)]
    assert step_action(rb, restart, env={"API_TOKEN": "t"}).params == []
    assert step_script(python) == (
        "# runbook step fix-it/2 (line 7)\n"
        "exec \"${COCKPIT_RUNBOOK_PYTHON:-python3}\" - <<'COCKPIT_PYTHON_EOF'\n"
        "print('hi')\nCOCKPIT_PYTHON_EOF\n"
    )


def test_powershell_runs_only_with_pwsh():
    text = "# T\n```powershell\nGet-Process\n```\n"
    assert parse_text(text, "t.md", which=lambda _: None).steps[0].reason == (
        "powershell needs pwsh, which is not on PATH"
    )
    assert parse_text(text, "t.md", which=lambda _: "/usr/bin/pwsh").steps[0].runnable


# -- danger --------------------------------------------------------------------------------


def classify(text: str):
    lexed = lex(neutralize(text))
    return assess(shell_hits(lexed, tuple(range(1, text.count("\n") + 2))))


@pytest.mark.parametrize(
    ("command", "level", "construct"),
    [
        ("rm -rf /var/lib/app", "dangerous", "rm -rf"),
        ("sudo rm /tmp/x", "dangerous", "rm"),
        ("kubectl -n prod delete pod api-1", "dangerous", "kubectl delete"),
        ("kubectl drain node-1", "dangerous", "kubectl drain"),
        ("kubectl scale deploy/api --replicas=0", "dangerous", "kubectl scale --replicas=0"),
        ("kubectl scale deploy/api --replicas=3", "caution", "kubectl scale"),
        ("kubectl rollout restart deploy/api", "caution", "kubectl rollout restart"),
        ("kubectl cordon node-1", "caution", "kubectl cordon"),
        ("kubectl exec api -- rm -rf /data", "dangerous", "rm -rf"),
        ("terraform destroy -auto-approve", "dangerous", "terraform destroy"),
        ("make destroy-staging", "dangerous", "make destroy-staging"),
        ("gcloud run deploy api --image x", "caution", "gcloud run deploy api"),
        ("gcloud run services delete api", "dangerous", "gcloud run services delete api"),
        ("docker compose down -v", "dangerous", "docker compose down"),
        ("docker restart api", "caution", "docker restart"),
        ("systemctl stop nginx", "caution", "systemctl stop"),
        ("pkill -f worker", "dangerous", "pkill"),
        ("killall java", "dangerous", "killall"),
        ("git push --force origin main", "dangerous", "git push --force"),
        ("chmod -R 777 /srv", "dangerous", "chmod -R"),
        ("dd if=/dev/zero of=/dev/sda", "dangerous", "dd"),
        ("mkfs.ext4 /dev/sdb1", "dangerous", "mkfs.ext4"),
        (": > /var/log/app.log", "dangerous", "truncates /var/log/app.log (> redirection)"),
        ("> audit.log", "dangerous", "truncates audit.log (> redirection)"),
        ("kubectl logs api > out.txt", "caution", "overwrites out.txt (> redirection)"),
        ("psql -c 'DROP TABLE users'", "dangerous", "DROP"),
        ("psql <<SQL\nTRUNCATE events;\nSQL", "dangerous", "TRUNCATE"),
        ("curl -X DELETE http://a/b", "caution", "curl -X DELETE"),
        ("curl -XPOST http://a/b", "caution", "curl -X POST"),
        ("curl -d '{}' http://a/b", "caution", "curl -X POST"),
        ("watch -n 5 'kubectl delete pod x'", "dangerous", "kubectl delete"),
        ("bash -c 'killall -9 app'", "dangerous", "killall"),
        ("ssh host sudo reboot", "dangerous", "reboot"),
    ],
)
def test_danger_rules(command, level, construct):
    result = classify(command)
    assert result.level == level
    assert any(r.startswith(f"{level}: {construct} (line") for r in result.reasons), result.reasons


@pytest.mark.parametrize(
    "command",
    [
        "kubectl get pods && kubectl logs api --tail=100 2>&1 | grep error",
        "curl -s http://a/health >/dev/null 2>&1",
        "echo 'rm -rf / would be bad'",
        "# kubectl delete pod api\necho ok",
        "cat <<EOF > /dev/null\nrm -rf /\nkubectl delete ns prod\nEOF",
        "tail -f app.log >> copy.log",
        "gcloud pubsub subscriptions pull sub --limit=1",
        "svc start",
    ],
)
def test_safe_commands(command):
    assert classify(command).level == "safe", classify(command).reasons


def test_annotations_raise_or_lower_and_keep_the_reasons():
    lowered = one("kubectl delete pod x", "bash {danger=caution}")
    assert lowered.danger.level == "caution" and lowered.danger.detected == "dangerous"
    assert lowered.danger.reasons == (
        "dangerous: kubectl delete (line 6)",
        "annotated: danger=caution (detected dangerous)",
    )
    raised = one("echo hi", "bash {danger=dangerous}")
    assert raised.danger.level == "dangerous" and raised.danger.annotated == "dangerous"


def test_lexer_contexts_and_assignments():
    text = "X=1 cmd 'a $NO' \"b $YES\" # c $NOPE\ncat <<'E'\n$NOT_EITHER\nE\nread -r R1 R2\nfor I in 1; do :; done"
    lexed = lex(text)
    assert [u.name for u in lexed.var_uses] == ["YES"]
    assert lexed.context_at(text.index("a $NO")) == "single"
    assert lexed.context_at(text.index("b $YES")) == "double"
    assert lexed.context_at(text.index("c $NOPE")) == "comment"
    assert lexed.context_at(text.index("$NOT_EITHER")) == "heredoc_quoted"
    assert assigned_names(lexed) == {"X", "R1", "R2", "I"}


def test_prompt_forms():
    assert strip_prompt("$ ls") == ("$ ", "ls")
    assert strip_prompt("user@host:~/app$ make") == ("user@host:~/app$ ", "make")
    assert strip_prompt("(venv) $ pip list") == ("(venv) $ ", "pip list")
    assert strip_prompt("PS C:\\Users\\me> Get-Process") == ("PS C:\\Users\\me> ", "Get-Process")
    assert strip_prompt("PS> dir") == ("PS> ", "dir")
    assert strip_prompt("root@db:~# psql") == ("root@db:~# ", "psql")
    assert strip_prompt("# apt update") is None  # a comment, except in console blocks:
    assert strip_prompt("# apt update", root=True) == ("# ", "apt update")
    for text in ("$HOME/bin/x", "$(date)", "${X}", "echo $ 5"):
        assert strip_prompt(text) is None
