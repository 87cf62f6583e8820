"""Developer sessions. `nox` alone runs the tests of every package, lint and typecheck.

Every session installs from `uv.lock` (`uv sync --locked`) into its own environment, so each adapter is tested
in an environment holding only what it declares: CrewAI pins its own SDK versions, LangChain does not.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
# tests-lowest adds well under a minute (one more CrewAI environment, installed once, reused afterwards).
nox.options.sessions = ["tests", "tests-lowest", "lint", "typecheck"]
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).parent
PACKAGES = ["core", "langchain", "langgraph", "crewai"]
# What each package's tests install besides the package: core's optional features and the real SDKs; for the
# adapters their extras (the provider integrations; CrewAI's own extras pin the SDKs its native providers use).
TEST_EXTRAS = {
    "core": ["--all-extras", "--group=sdk"],
    "langchain": ["--all-extras", "--group=sdk", "--group=langchain-tests", "--group=vertex"],
    "langgraph": ["--all-extras"],
    "crewai": ["--all-extras"],
}
# Adapters whose tests also run on the lowest releases of the frameworks their pyproject allows.
LOWEST = ["langchain", "langgraph", "crewai"]
# Workspace packages an adapter depends on besides core (not on PyPI: the lowest sessions install them from here).
WORKSPACE_DEPS = {"langgraph": ["langchain"]}
# Test-only groups an adapter's tests need besides `test` (also in the lowest-versions sessions).
TEST_GROUPS = {"langchain": ["--group=langchain-tests", "--group=vertex"]}


def _sync(session: nox.Session, *args: str) -> None:
    """Install exactly what the lock file says into this session's environment."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-default-groups",
        f"--python={session.virtualenv.location}",
        *args,
        env={
            "UV_PROJECT_ENVIRONMENT": session.virtualenv.location,
            # The workspace declares a conflict between a package and a group (pyproject.toml `conflicts`).
            "UV_PREVIEW_FEATURES": "package-conflicts",
        },
    )


@nox.session
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests in an environment with only that package (and its dependencies)."""
    # --no-editable: test the wheel users get (py.typed, namespace layout), not a link to the source tree.
    _sync(session, f"--package=cachepoint-{package}", "--no-editable", "--group=test", *TEST_EXTRAS.get(package, []))
    session.run("pytest", f"tests/{package}", *session.posargs, env={"PYTHONHASHSEED": "0"})


@nox.session(name="tests-lowest")
@nox.parametrize("package", LOWEST)
def tests_lowest(session: nox.Session, package: str) -> None:
    """One adapter's tests against the lowest releases of its direct dependencies (the bottom of the range its
    pyproject declares), while `tests` runs the newest the lock holds: both ends, the way OpenTelemetry's
    instrumentations test the versions they declare.

    `uv sync --locked` can only install the lock, so this session resolves afresh with `uv pip install
    --resolution lowest-direct`: the package with all its extras (lowest) and the test tools.
    """
    extras = _extras(ROOT / "packages" / package / "pyproject.toml")
    session.run_install(
        "uv",
        "pip",
        "install",
        f"--python={session.virtualenv.location}",
        "--resolution=lowest-direct",
        "--reinstall-package=cachepoint-core",
        f"--reinstall-package=cachepoint-{package}",
        *(f"--reinstall-package=cachepoint-{dep}" for dep in WORKSPACE_DEPS.get(package, [])),
        str(ROOT / "packages" / "core"),
        *(str(ROOT / "packages" / dep) for dep in WORKSPACE_DEPS.get(package, [])),
        f"{ROOT / 'packages' / package}[{','.join(extras)}]",
        "--group=test",
        *TEST_GROUPS.get(package, []),
        "opentelemetry-sdk>=1.30",
    )
    session.run("uv", "pip", "list", f"--python={session.virtualenv.location}", silent=False)
    session.run("pytest", f"tests/{package}", *session.posargs, env={"PYTHONHASHSEED": "0"})


def _extras(pyproject: Path) -> list[str]:
    return sorted(nox.project.load_toml(pyproject)["project"].get("optional-dependencies", {}))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree."""
    _sync(session, "--only-group=lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
@nox.parametrize("package", PACKAGES)
def typecheck(session: nox.Session, package: str) -> None:
    """mypy --strict over one package's sources, in an environment holding that package with all its extras
    (CrewAI's pinned SDKs cannot share an environment with the LangChain integrations: pyproject `conflicts`)."""
    _sync(session, f"--package=cachepoint-{package}", "--all-extras", "--group=typecheck", "--group=test")
    session.run("mypy", str(ROOT / "packages" / package / "src"))


# Benchmarks that need CrewAI, which cannot share an environment with LangChain (pyproject `conflicts`).
CREWAI_BENCHMARKS = ["bench_adapters_crewai.py"]


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark in benchmarks/ and print ratios against same-process baselines (``-- --quick`` for a
    short run of each); the CrewAI ones follow in their own environment (`bench-crewai`)."""
    _sync(session, "--package=cachepoint-core", "--all-extras", "--group=bench")
    for script in sorted(ROOT.glob("benchmarks/bench_*.py")):
        if script.name not in CREWAI_BENCHMARKS:
            session.run("python", str(script), *session.posargs)
    session.notify("bench-crewai", posargs=session.posargs)


@nox.session(name="bench-crewai")
def bench_crewai(session: nox.Session) -> None:
    """The benchmarks that need CrewAI, in an environment with cachepoint-crewai and its extras."""
    _sync(session, "--package=cachepoint-crewai", "--all-extras")
    for name in CREWAI_BENCHMARKS:
        session.run("python", str(ROOT / "benchmarks" / name), *session.posargs)


@nox.session
@nox.parametrize("package", PACKAGES)
def examples(session: nox.Session, package: str) -> None:
    """Run every example script end to end (they default to local stores and the emulator).

    An adapter's examples (``examples/<package>_*.py``) run in that package's environment, the rest in core's.
    """
    adapters = tuple(f"{name}_" for name in PACKAGES if name != "core")
    if package == "core":
        scripts = [s for s in sorted(ROOT.glob("examples/*.py")) if not s.name.startswith(adapters)]
    else:
        scripts = sorted(ROOT.glob(f"examples/{package}_*.py"))
    if not scripts:
        session.skip(f"no examples for {package}")
    # Core's examples need only core; an adapter's need the SDKs of the providers they show (its extras).
    _sync(session, f"--package=cachepoint-{package}", *([] if package == "core" else ["--all-extras"]))
    for script in scripts:
        session.run("python", str(script))


@nox.session
def demo(session: nox.Session) -> None:
    """The README's main command: `cachepoint analyze` on a shipped trace of a support agent."""
    _sync(session, "--package=cachepoint-core", "--no-editable")
    trace = ROOT / "examples" / "traces" / "support_agent.jsonl.xz"
    # nox pipes the command's output, so rich would fall back to 80 plain columns: pass the terminal on.
    env = {}
    if sys.stdout.isatty():
        env = {"COLUMNS": str(shutil.get_terminal_size().columns), "FORCE_COLOR": "1"}
    session.run("cachepoint", "analyze", str(trace), *session.posargs, env=env)
