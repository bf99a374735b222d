"""Every command the README and the docs site show runs as written on a fresh clone (after `make`, which creates venv/).

Each line of each ```sh block must be a form this project knows: a `make` target the Makefile has
(and variables it reads), `venv/bin/python -m boutique <subcommand>` with arguments its parser
accepts and stacks that exist, another `venv/bin/...` program or script that exists, `pulumi` (with
`config` keys Pulumi.yaml declares), or a tool of the cluster and the shell (`kubectl`, `curl` ...).
A bare `python -m boutique` fails outside the venv (ModuleNotFoundError: pulumi), so it is refused
anywhere in the README, in prose too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import re
import shlex

import pytest
import yaml

from benchmarks import performance
from boutique.__main__ import build_parser
from boutique.program import PROJECT_DIR

README = PROJECT_DIR / "README.md"
# The README and every page of the docs site (the reference pages are generated, and hold no commands).
DOC_PAGES = [README, *sorted((PROJECT_DIR / "docs").rglob("*.md"))]
SH_BLOCK = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)
OPERATORS = {"|", "||", "&&", ";", "&", "$(", "(", ")"}
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
REDIRECTS = {">", ">>", "<", "2>", "2>>"}
# Programs of the cluster, the clouds and the shell: used as their own documentation says.
EXTERNAL = {
    "kubectl", "curl", "aws", "gcloud", "az", "git", "jq", "dig", "openssl", "apt-get", "export", "cd",
    "cat", "echo", "grep", "wc", "head", "tail", "less", "sort", "base64", "sed", "xargs",
}  # fmt: skip
PULUMI_CONFIG_KEY = re.compile(r"^(?:(?P<namespace>[\w-]+):)?(?P<key>[A-Za-z][\w-]*)")
PROVIDER_NAMESPACES = {"kubernetes", "pulumi"}  # providers' own keys, not the program's


def readme_commands(text: str) -> list[str]:
    """The command lines of the ```sh blocks, continuation lines joined, comment lines dropped."""
    commands = []
    for block in SH_BLOCK.findall(text):
        pending = ""
        heredoc_end = None
        for line in block.splitlines():
            if heredoc_end is not None:  # a here-document's body is data, not commands
                heredoc_end = None if line.strip() == heredoc_end else heredoc_end
                continue
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            line = pending + line
            pending = ""
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
                if marker := HEREDOC.search(line):
                    heredoc_end = marker.group(1)
    return commands


def segments(command: str) -> list[list[str]]:
    """The simple commands of a line (split at pipes, `&&`, `;` ...), each as its words."""
    command = HEREDOC.sub("", command).replace("$(", " ; ")  # a substitution is a command of its own
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    parts: list[list[str]] = [[]]
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
        elif token in OPERATORS:
            parts.append([])
        elif token in REDIRECTS or token.endswith(">"):
            skip_next = True  # the file name of a redirection
        else:
            parts[-1].append(token)
    return [p for p in parts if p]


def makefile_targets_and_variables() -> tuple[set[str], set[str]]:
    text = (PROJECT_DIR / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, re.MULTILINE))
    variables = set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*[?:]?=", text, re.MULTILINE))
    return targets, variables


def stacks() -> set[str]:
    return {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in PROJECT_DIR.glob("Pulumi.*.yaml")}


def parse_error(parser, args: list[str]) -> str | None:
    """What argparse says about `args` (None: accepted)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(args)
        except SystemExit as exc:
            return err.getvalue().strip().splitlines()[-1] if exc.code else None
    return None


def check_make(args: list[str]) -> str | None:
    targets, variables = makefile_targets_and_variables()
    for arg in args:
        if "=" in arg:
            if arg.split("=", 1)[0] not in variables:
                return f"the Makefile reads no variable {arg.split('=', 1)[0]}"
        elif arg.startswith("-"):
            return f"make option {arg}: use a target (the README's commands are the plain targets)"
        elif arg not in targets:
            return f"the Makefile has no target {arg!r} (targets: {', '.join(sorted(targets))})"
    return None


def check_boutique(args: list[str]) -> str | None:
    error = parse_error(build_parser(), args)
    if error:
        return error
    parsed = build_parser().parse_args(args)
    named = getattr(parsed, "stack", None)
    for stack in [named] if isinstance(named, str) else named or []:
        if stack not in stacks():
            return f"no stack {stack!r} (Pulumi.{stack}.yaml does not exist)"
    return None


def check_venv_python(args: list[str]) -> str | None:
    if args[:2] == ["-m", "boutique"]:
        return check_boutique(args[2:])
    if args[:1] == ["-m"] and len(args) > 1:
        return None if importlib.util.find_spec(args[1]) else f"no module {args[1]} in the venv or the project"
    if args and args[0].endswith(".py"):
        if not (PROJECT_DIR / args[0]).is_file():
            return f"no script {args[0]}"
        if args[0] == "benchmarks/performance.py":
            return parse_error(performance.build_parser(), args[1:])
        return None
    return "venv/bin/python with neither -m MODULE nor a script"


def check_pulumi(args: list[str]) -> str | None:
    """Stacks named must exist; `pulumi config set|get|rm KEY`: KEY must be one the project declares."""
    named = [b for a, b in itertools.pairwise(args) if a in ("-s", "--stack")]
    named += args[2:3] if args[:2] in (["stack", "select"], ["stack", "init"]) else []
    for stack in named:
        if stack not in stacks():
            return f"no stack {stack!r} (Pulumi.{stack}.yaml does not exist)"
    if args[:1] != ["config"] or len(args) < 2 or args[1] not in ("set", "get", "rm"):
        return None
    options_with_values = {"--type", "--stack", "-s", "--path-separator"}
    words = [a for i, a in enumerate(args[2:], 2) if not a.startswith("-") and args[i - 1] not in options_with_values]
    if not words:
        return "pulumi config without a key"
    match = PULUMI_CONFIG_KEY.match(words[0])
    if not match:
        return f"not a config key: {words[0]}"
    if (match.group("namespace") or "boutique") in PROVIDER_NAMESPACES:
        return None
    if match.group("namespace") not in (None, "boutique"):
        return f"config namespace {match.group('namespace')!r} is neither the project's (boutique) nor a provider's"
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    if match.group("key") not in declared:
        return f"boutique:{match.group('key')} is not declared in Pulumi.yaml"
    return None


def check(words: list[str]) -> str | None:
    """None when `words` (one simple command) is a form the README may show, else why not."""
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words = words[1:]  # VAR=value before the command
    if not words:
        return None  # a plain assignment: its $(...) command is a segment of its own
    program, args = words[0], words[1:]
    if program == "sudo":
        return check(args)
    if program == "make":
        return check_make(args)
    if program == "venv/bin/python":
        return check_venv_python(args)
    if program.startswith("venv/bin/"):
        return None if (PROJECT_DIR / program).exists() else f"{program} is not installed by `make`"
    if program in ("python", "python3", "pip", "pytest", "ruff"):
        return f"bare {program}: outside the venv it lacks the project's packages; use venv/bin/{program}"
    if program == "pulumi":
        return check_pulumi(args)
    if program.startswith(("./", ".ci/")):
        return None if (PROJECT_DIR / program).is_file() else f"no script {program}"
    if program in EXTERNAL:
        return None
    return f"{program}: not a form the README's commands may take (see tests/test_readme_commands.py)"


def test_the_commands_of_the_readme_and_the_docs_are_found():
    commands = [c for page in DOC_PAGES for c in readme_commands(page.read_text())]
    assert len(commands) > 100, "found too few commands in the ```sh blocks of README.md and docs/"
    assert "make test" in readme_commands(README.read_text())


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_every_command_of_the_readme_and_the_docs_is_a_known_form(page):
    commands = readme_commands(page.read_text())
    problems = [f"{command}\n    {why}" for command in commands for s in segments(command) if (why := check(s))]
    assert not problems, f"{page.name} commands that do not run as written:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_the_readme_never_writes_a_bare_python_module_command(page):
    text = page.read_text()
    bare = [
        m.group(0)
        for m in re.finditer(r"(?<![\w/])python3? -m [\w.]+[^`\n]*", text)
        if not text[: m.start()].endswith("bare `")  # the warning against it
    ]
    assert not bare, f"use venv/bin/python (created by `make`): {bare}"


def test_the_quick_start_says_make_creates_the_venv():
    quick_start = README.read_text().split("\n## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "`make`" in quick_start and "`venv/`" in quick_start
    assert "venv/bin/python -m boutique" in quick_start


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("python -m boutique graph", "bare python"),
        ("make render STACK=dev", None),
        ("make deploy", "no target 'deploy'"),
        ("make render STAK=dev", "no variable STAK"),
        ("venv/bin/python -m boutique render --stack dev --out build/dev", None),
        ("venv/bin/python -m boutique render --stack staging --out build/x", "no stack 'staging'"),
        ("venv/bin/python -m boutique graph --fmt dot", "unrecognized arguments"),
        ("venv/bin/python -m boutique diff --stack dev --stack prod | wc -l -L", None),
        ("venv/bin/python benchmarks/performance.py --repeat 5", None),
        ("venv/bin/python benchmarks/performance.py --rounds 5", "unrecognized arguments"),
        ("pulumi config set --path 'boutique:canaries.frontend.weight' 10", None),
        ("pulumi config set boutique:replica 2", "boutique:replica is not declared"),
        ("pulumi config set boutiqe:replicas 2", "neither the project's"),
        ("pulumi config set --secret kubernetes:context prod", None),
        ("pulumi stack select qa", "no stack 'qa'"),
        ("pulumi preview -s prod --policy-pack policy", None),
        ("kubectl -n monitoring port-forward svc/grafana 3000:80", None),
        ("terraform apply", "not a form"),
    ],
)
def test_the_check_knows_good_commands_from_bad(command, problem):
    found = [why for s in segments(command) if (why := check(s))]
    if problem is None:
        assert not found
    else:
        assert found and problem in found[0], found
