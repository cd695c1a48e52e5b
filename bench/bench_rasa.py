"""Measure IntroCoach against the stock ``rasa init`` assistant, in one run.

Four measurements, each taken for both assistants the same way:

* ``training``: wall-clock seconds of ``rasa train`` from scratch (empty
  component cache, output into a temporary folder).
* ``ready``: seconds from starting the server(s) until they answer; the median
  of a few repetitions.
* ``latency``: sequential round trips over the REST channel
  (``/webhooks/rest/webhook``) after a warm-up; p50 and p95 in milliseconds.
* ``nlu``: k-fold cross-validation of the NLU pipeline with
  ``rasa test nlu --cross-validation``; weighted intent F1 (and entity F1 for
  IntroCoach's DIETClassifier).

:func:`run_benchmarks` returns everything as one JSON-ready dict;
``bench/run_all.py`` is the command-line entry point (``make bench``).
Everything runs on loopback, every child process runs in its own process group
and is stopped in a ``finally`` block, and every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from introcoach.model import fingerprint, model_path
from introcoach.settings import PROJECT_ROOT
from introcoach.stack import Stack, ephemeral_settings, free_port

# Set for every child process (and for this one, so the Stack inherits them).
BENCH_ENV: Dict[str, str] = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONUNBUFFERED": "1",
}
# rasa/engine/caching.py: LocalTrainingCache reads the folder from this variable.
CACHE_ENV = "RASA_CACHE_DIRECTORY"

PARTS: Tuple[str, ...] = ("training", "ready", "latency", "nlu")
ASSISTANTS: Tuple[str, ...] = ("introcoach", "baseline")

# Deadlines (seconds). Generous: the machine has 2 cores and may be shared.
TRAIN_TIMEOUT = 1800.0
INIT_TIMEOUT = 1800.0
READY_TIMEOUT = 300.0
CV_TIMEOUT = 3600.0
REQUEST_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

# The targets IntroCoach is held to. ``ratio`` targets compare with the baseline.
TARGETS: Dict[str, Dict[str, Any]] = {
    "training_seconds": {"op": "<=", "value": 180.0, "text": "≤ 180 s"},
    "ready_seconds": {"op": "<=", "value": 40.0, "text": "≤ 40 s"},
    "intent_f1": {"op": ">=", "value": 0.90, "text": "≥ 0.90"},
    "latency_p50_ms": {"op": "ratio<=", "value": 1.5, "text": "≤ 1.5 × baseline"},
}


@dataclass(frozen=True)
class Options:
    """What to run and how much of it."""

    parts: Tuple[str, ...] = PARTS
    messages: int = 200
    warmup: int = 10
    folds: int = 5
    ready_repeats: int = 3
    quick: bool = False
    keep_temp: bool = False
    results_dir: Path = PROJECT_ROOT / "bench" / "results"

    @classmethod
    def quick_run(cls, **overrides: Any) -> Options:
        """A smoke run: fewer messages, 2 folds, one start per assistant."""
        values: Dict[str, Any] = {
            "messages": 40,
            "folds": 2,
            "ready_repeats": 1,
            "quick": True,
        }
        values.update(overrides)
        return cls(**values)


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the result table."""
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


def rasa_executable() -> Path:
    """The ``rasa`` script of the running interpreter's environment."""
    beside = Path(sys.executable).with_name("rasa")
    if beside.exists():
        return beside
    fallback = PROJECT_ROOT / ".venv" / "bin" / "rasa"
    if fallback.exists():
        return fallback
    raise RuntimeError("no `rasa` executable next to this Python nor in .venv/bin")


def child_env(cache_dir: Optional[Path] = None) -> Dict[str, str]:
    """The environment for a child process, with an optional private cache."""
    env = dict(os.environ)
    env.update(BENCH_ENV)
    if cache_dir is not None:
        env[CACHE_ENV] = str(cache_dir)
    return env


def _tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _stop_group(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """TERM the process group, then KILL it after ``timeout`` seconds."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(5)


def run_bounded(
    command: Sequence[str],
    cwd: Path,
    env: Dict[str, str],
    timeout: float,
    log_path: Path,
) -> float:
    """Run a command to completion in its own process group; time it.

    Args:
        command: The command line.
        cwd: Working directory.
        env: Its environment.
        timeout: Seconds before the whole process group is killed.
        log_path: Where stdout and stderr go.

    Returns:
        Wall-clock seconds from start to exit.

    Raises:
        RuntimeError: On a non-zero exit or the deadline; holds the log's end.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        started = time.monotonic()
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"{command[1] if len(command) > 1 else command[0]} did not finish "
                f"in {timeout:.0f} s:\n{_tail(log_path)}"
            ) from None
        finally:
            _stop_group(process)
        seconds = time.monotonic() - started
    if returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:3])} exited {returncode}:\n{_tail(log_path)}"
        )
    return seconds


# --------------------------------------------------------------------------- setup


def create_baseline(work: Path) -> Path:
    """Write the stock assistant with ``rasa init --no-prompt``; returns its folder.

    ``rasa init --no-prompt`` also trains a model (into ``<folder>/models``); it
    is kept only as a fallback for the server measurements when ``training`` is
    not run. Its cache goes to a private folder, never ``.rasa`` here.
    """
    folder = work / "baseline"
    folder.mkdir()  # with --no-prompt, rasa init refuses a folder that is missing
    cache = Path(tempfile.mkdtemp(prefix="cache-init-", dir=work))
    log("creating the baseline with `rasa init --no-prompt` (it trains once)...")
    seconds = run_bounded(
        [str(rasa_executable()), "init", "--no-prompt", "--init-dir", str(folder)],
        cwd=work,
        env=child_env(cache),
        timeout=INIT_TIMEOUT,
        log_path=work / "logs" / "baseline-init.log",
    )
    shutil.rmtree(cache, ignore_errors=True)
    log(f"baseline created in {seconds:.0f} s")
    return folder


def _newest_model(folder: Path) -> Optional[Path]:
    models = sorted(folder.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


# ------------------------------------------------------------------------ training


def train(name: str, project: Path, work: Path) -> Tuple[float, Path]:
    """``rasa train`` from scratch: empty private cache, output into ``work``.

    Args:
        name: ``introcoach`` or ``baseline`` (names the model and the logs).
        project: The assistant's folder (config.yml, domain.yml, data/).
        work: The run's temporary folder.

    Returns:
        Wall-clock seconds and the trained model's path.
    """
    out = work / "models" / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cache = Path(tempfile.mkdtemp(prefix=f"cache-train-{name}-", dir=work))
    command = [
        str(rasa_executable()),
        "train",
        "--config",
        str(project / "config.yml"),
        "--domain",
        str(project / "domain.yml"),
        "--data",
        str(project / "data"),
        "--out",
        str(out),
        "--fixed-model-name",
        f"{name}-bench",
    ]
    try:
        seconds = run_bounded(
            command,
            cwd=project,
            env=child_env(cache),
            timeout=TRAIN_TIMEOUT,
            log_path=work / "logs" / f"train-{name}.log",
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    model = out / f"{name}-bench.tar.gz"
    if not model.exists():
        raise RuntimeError(f"rasa train finished but wrote no {model.name}")
    return seconds, model


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A running assistant, as the benchmark sees it."""

    name: str
    rest_url: str
    ready_seconds: float
    #: Sent as ``Authorization: Bearer`` with every message. IntroCoach's REST
    #: channel requires it; the baseline's stock channel ignores it (it gets a
    #: random one of the same length, so the requests stay the same size).
    rest_token: str = ""


def _get_json(url: str, timeout: float = 2.0) -> Optional[Dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read().decode() or "{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None


@contextmanager
def introcoach_server(model: Path, work: Path, label: str) -> Iterator[Server]:
    """Start IntroCoach (action server + Rasa) with :class:`Stack`; always stop it.

    The ready time runs from just before ``Stack.start()`` until
    ``wait_ready()`` returns, i.e. until both servers answer.
    """
    stack = Stack(
        ephemeral_settings(), model, log_dir=work / "logs" / label, extra_env=BENCH_ENV
    )
    started = time.monotonic()
    try:
        stack.start()
        stack.wait_ready(timeout=READY_TIMEOUT)
        ready = time.monotonic() - started
        yield Server(
            "introcoach",
            f"{stack.settings.rasa_url}/webhooks/rest/webhook",
            ready,
            stack.settings.rest_token,
        )
    finally:
        stack.stop()


@contextmanager
def baseline_server(
    model: Path, project: Path, work: Path, label: str
) -> Iterator[Server]:
    """Start the stock assistant with ``rasa run``; always stop its process group.

    Ready means ``GET /status?token=...`` returns a ``model_file``.
    """
    port = free_port()
    token = secrets.token_urlsafe(24)
    log_path = work / "logs" / label / "rasa.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(rasa_executable()),
        "run",
        "--enable-api",
        "--auth-token",
        token,
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        str(model),
        "--credentials",
        "credentials.yml",
        "--endpoints",
        "endpoints.yml",
    ]
    status_url = f"http://127.0.0.1:{port}/status?token={token}"
    process: Optional[subprocess.Popen] = None
    started = time.monotonic()
    try:
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                cwd=project,
                env=child_env(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = started + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the baseline server exited ({process.returncode}):\n"
                    + _tail(log_path)
                )
            body = _get_json(status_url)
            if body and body.get("model_file"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"baseline not ready after {READY_TIMEOUT:.0f} s:\n"
                    + _tail(log_path)
                )
            time.sleep(0.25)
        ready = time.monotonic() - started
        yield Server(
            "baseline",
            f"http://127.0.0.1:{port}/webhooks/rest/webhook",
            ready,
            secrets.token_urlsafe(24),
        )
    finally:
        if process is not None:
            _stop_group(process)


# --------------------------------------------------------------------------- latency

# Scripted practice conversations: (persona for IntroCoach's session metadata,
# messages). Each ends with a goodbye, which makes IntroCoach score the whole
# conversation (action_give_feedback), the slowest turn it has.
CONVERSATIONS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    (
        "dana",
        (
            "Hi there!",
            "I'm good, thanks. How are you holding up?",
            "I'm Sam, I work as a peer support specialist at Hope Center.",
            "What do you do here?",
            "Which hospital are you with?",
            "What do you like to do when you're not at work?",
            "I love gardening, I grow tomatoes on my balcony.",
            "Have you been to any good sessions so far?",
            "Could we swap contact details? I'd like to stay in touch.",
            "It was great meeting you, I have to run to my next session. Bye!",
        ),
    ),
    (
        "marcus",
        (
            "Hello",
            "Hi Marcus, I'm Jordan Lee, a case manager with County Reentry Services.",
            "How many houses do you run?",
            "What are you into outside of work?",
            "I play pickup basketball every Sunday morning.",
            "How was your trip in?",
            "That makes sense, thanks for explaining.",
            "Do you have a card? I'd love to refer people to you.",
            "Nice talking with you, see you around!",
        ),
    ),
    (
        "priya",
        (
            "Good morning!",
            "How's the conference going for you?",
            "My name is Alex, I'm a recovery coach at Bridgeway Clinic.",
            "What does your job involve day to day?",
            "Tell me about Harbor County Behavioral Health.",
            "Do you have any hobbies?",
            "I go hiking most weekends, the coast trails are my favourite.",
            "Is it always this rainy here?",
            "Yes, definitely.",
            "Well, I should let you go. Take care!",
        ),
    ),
    (
        "kevin",
        (
            "Hey, nice to meet you",
            "I'm Taylor and I'm a peer specialist at Riverside Recovery.",
            "So what do you do?",
            "What kind of people is Northstar hiring?",
            "What do you do for fun?",
            "I ride my bike to work every day, cycling keeps me sane.",
            "Did you catch the baseball game last night?",
            "No, not really.",
            "Can I connect with you on LinkedIn?",
            "Thanks so much, goodbye!",
        ),
    ),
    (
        "rosa",
        (
            "hiya",
            "How are you today?",
            "I'm Chris, I do family peer support for a county program.",
            "What's your role at Families Forward?",
            "Which sessions are you looking forward to?",
            "I cook a lot, mostly Mexican food with my kids.",
            "Do you follow soccer?",
            "Thank you, that's kind.",
            "Great to meet you, enjoy the rest of the conference. Bye!",
        ),
    ),
    (
        "walter",
        (
            "Good afternoon",
            "Hi Walter, I'm Morgan, I coordinate peer services at Lakeside Health.",
            "What does the certification board do?",
            "How long have you been on the board?",
            "What are your interests outside work?",
            "I love fishing too, I go out on the lake whenever I can.",
            "How did you get here, did you fly?",
            "That's interesting.",
            "See you later!",
        ),
    ),
)


def message_plan(count: int, skip: int = 0) -> List[Tuple[int, str, str, bool, bool]]:
    """The scripted messages, cycling through the conversations.

    Args:
        count: How many messages.
        skip: How many messages of the cycle to skip first (the warm-up's).

    Returns:
        ``(conversation number, persona, text, first message, last message)``
        tuples; a new conversation number means a new sender id. The last
        message of each conversation is its goodbye.
    """
    plan: List[Tuple[int, str, str, bool, bool]] = []
    number = 0
    while len(plan) < skip + count:
        persona, texts = CONVERSATIONS[number % len(CONVERSATIONS)]
        for position, text in enumerate(texts):
            last = position == len(texts) - 1
            plan.append((number, persona, text, position == 0, last))
        number += 1
    return plan[skip : skip + count]


def _post(url: str, body: Dict[str, Any], token: str = "") -> Tuple[int, Any, float]:
    """POST JSON with the REST token; returns status, parsed reply and milliseconds."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
        },
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    elapsed = (time.perf_counter() - started) * 1000.0
    try:
        parsed = json.loads(raw.decode() or "null")
    except ValueError:
        parsed = None
    return status, parsed, elapsed


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100), like numpy's default."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def measure_latency(server: Server, messages: int, warmup: int) -> Dict[str, Any]:
    """Sequential REST round trips: ``warmup`` unmeasured, then ``messages`` timed.

    Both assistants get the same requests (but for the token's value). The
    first message of each conversation carries ``{"persona_id": ...}``
    metadata, which IntroCoach's session start reads and the baseline ignores.
    """
    run_id = secrets.token_hex(3)
    plan = message_plan(warmup + messages)
    timings: List[float] = []
    errors = empty = feedback = goodbyes = scored_goodbyes = 0
    for position, (number, persona, text, first, goodbye) in enumerate(plan):
        body: Dict[str, Any] = {"sender": f"bench-{run_id}-{number}", "message": text}
        if first:
            body["metadata"] = {"persona_id": persona}
        status, replies, elapsed = _post(server.rest_url, body, server.rest_token)
        if status != 200 or not isinstance(replies, list):
            if position >= warmup:
                errors += 1
            continue
        if position < warmup:
            continue
        timings.append(elapsed)
        if not replies:
            empty += 1
        scored = sum(
            1
            for reply in replies
            if isinstance(reply.get("custom"), dict)
            and reply["custom"].get("type") == "introcoach.feedback"
        )
        feedback += scored
        goodbyes += goodbye
        scored_goodbyes += bool(goodbye and scored)
    if not timings:
        raise RuntimeError(f"no successful requests to {server.name} ({errors} errors)")
    return {
        "messages": len(timings),
        "warmup": warmup,
        "conversations": len({n for n, *_ in plan[warmup:]}),
        "p50_ms": round(percentile(timings, 50), 1),
        "p95_ms": round(percentile(timings, 95), 1),
        "mean_ms": round(statistics.fmean(timings), 1),
        "max_ms": round(max(timings), 1),
        "errors": errors,
        "empty_replies": empty,
        "feedback_replies": feedback,
        "goodbyes": goodbyes,
        "goodbyes_scored": scored_goodbyes,
    }


# ------------------------------------------------------------------------------ NLU


def _shown(path: Path) -> str:
    """A path relative to the project when it is inside it."""
    if path.is_relative_to(PROJECT_ROOT):
        return str(path.relative_to(PROJECT_ROOT))
    return str(path)


def _weighted_f1(report_path: Path) -> Optional[float]:
    if not report_path.exists():
        return None
    report = json.loads(report_path.read_text())
    weighted = report.get("weighted avg") or {}
    value = weighted.get("f1-score")
    return None if value is None else round(float(value), 4)


def cross_validate(
    name: str, project: Path, folds: int, work: Path, keep: Path
) -> Dict[str, Any]:
    """``rasa test nlu --cross-validation``; weighted F1 from the test-fold reports.

    In Rasa 3.6 the cross-validation writes the pooled test-fold reports to
    ``<out>/intent_report.json`` and ``<out>/<extractor>_report.json``. They
    are copied to ``keep`` (``bench/results/nlu/<name>/``) for reading later.
    """
    out = work / "nlu" / name
    cache = Path(tempfile.mkdtemp(prefix=f"cache-nlu-{name}-", dir=work))
    command = [
        str(rasa_executable()),
        "test",
        "nlu",
        "--nlu",
        "data/nlu.yml",
        "--config",
        "config.yml",
        "--cross-validation",
        "--folds",
        str(folds),
        "--out",
        str(out),
        "--no-plot",
    ]
    try:
        seconds = run_bounded(
            command,
            cwd=project,
            env=child_env(cache),
            timeout=CV_TIMEOUT,
            log_path=work / "logs" / f"nlu-{name}.log",
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    intent_report = out / "intent_report.json"
    if not intent_report.exists():
        raise RuntimeError(f"rasa test nlu wrote no {intent_report.name} in {out}")
    entity_report = out / "DIETClassifier_report.json"
    keep.mkdir(parents=True, exist_ok=True)
    for report in (intent_report, entity_report):
        if report.exists():
            shutil.copy2(report, keep / report.name)
    intents = json.loads(intent_report.read_text())
    summaries = ("accuracy", "macro avg", "weighted avg", "micro avg")
    labels = [k for k in intents if k not in summaries]
    return {
        "folds": folds,
        "seconds": round(seconds, 1),
        "intent_f1": _weighted_f1(intent_report),
        "intent_accuracy": round(float(intents.get("accuracy", 0.0)), 4)
        if "accuracy" in intents
        else None,
        "intents_evaluated": len(labels),
        "entity_f1": _weighted_f1(entity_report),
        "reports": _shown(keep),
    }


# ------------------------------------------------------------------------ machine


def machine_info() -> Dict[str, Any]:
    """CPU, cores, RAM, OS, Python and Rasa versions, date (UTC) and load."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb: Optional[float] = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
                os_name = f"{pretty} ({platform.release()})"
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "ram_gb": ram_gb,
        "os": os_name,
        "python": platform.python_version(),
        "rasa": version("rasa"),
        "rasa_sdk": version("rasa-sdk"),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --------------------------------------------------------------------------- the run


def _median(values: List[float]) -> float:
    return round(statistics.median(values), 2)


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def _attempt(errors: Dict[str, str], key: str, step: Callable[[], Any]) -> Any:
    """Run one measurement; on failure record the error and carry on."""
    try:
        return step()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one failed figure must not lose the rest
        errors[key] = f"{type(exc).__name__}: {exc}"
        log(f"FAILED {key}: {exc}")
        traceback.print_exc(file=sys.stderr)
        return None


def run_benchmarks(options: Options) -> Dict[str, Any]:
    """Run the selected measurements for both assistants.

    Returns:
        A JSON-ready dict: ``machine``, ``options``, ``introcoach``,
        ``baseline``, ``ratios``, ``targets`` and ``errors`` (step -> message).
    """
    os.environ.update(BENCH_ENV)
    results: Dict[str, Any] = {
        "machine": machine_info(),
        "options": {
            "parts": list(options.parts),
            "quick": options.quick,
            "messages": options.messages,
            "warmup": options.warmup,
            "folds": options.folds,
            "ready_repeats": options.ready_repeats,
        },
        "introcoach": {"training_inputs_fingerprint": fingerprint()},
        "baseline": {},
    }
    errors: Dict[str, str] = {}
    work = Path(tempfile.mkdtemp(prefix="introcoach-bench-"))
    log(f"working folder: {work}")
    projects: Dict[str, Path] = {"introcoach": PROJECT_ROOT}
    models: Dict[str, Optional[Path]] = {"introcoach": None, "baseline": None}
    try:
        baseline = _attempt(errors, "baseline.create", lambda: create_baseline(work))
        if baseline is not None:
            projects["baseline"] = baseline

        if "training" in options.parts:
            for name in ASSISTANTS:
                if name not in projects:
                    continue
                if name == "baseline":
                    # Drop the model `rasa init` trained, so both are timed alike.
                    shutil.rmtree(projects[name] / "models", ignore_errors=True)
                log(f"training {name} from scratch...")
                trained = _attempt(
                    errors,
                    f"{name}.training",
                    partial(train, name, projects[name], work),
                )
                if trained is not None:
                    seconds, models[name] = trained
                    results[name]["training_seconds"] = round(seconds, 1)
                    log(f"{name}: trained in {seconds:.1f} s")

        if "ready" in options.parts or "latency" in options.parts:
            if models["introcoach"] is None:
                models["introcoach"] = _attempt(
                    errors, "introcoach.model", partial(_project_model, work)
                )
            if models["baseline"] is None and "baseline" in projects:
                models["baseline"] = _newest_model(projects["baseline"] / "models")
                if models["baseline"] is None:
                    errors["baseline.model"] = "no baseline model to serve"
            for name, model in models.items():
                if model is not None:
                    results[name]["server_model"] = _describe_model(model, work)
            _servers(options, projects, models, work, results, errors)

        if "nlu" in options.parts:
            for name in ASSISTANTS:
                if name not in projects:
                    continue
                log(f"{name}: NLU cross-validation, {options.folds} folds...")
                nlu = _attempt(
                    errors,
                    f"{name}.nlu",
                    partial(
                        cross_validate,
                        name,
                        projects[name],
                        options.folds,
                        work,
                        options.results_dir / "nlu" / name,
                    ),
                )
                if nlu is not None:
                    results[name]["nlu"] = nlu
                    log(
                        f"{name}: intent F1 {nlu['intent_f1']} ({nlu['seconds']:.0f} s)"
                    )
    finally:
        if options.keep_temp:
            log(f"kept the working folder (logs, models): {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["ratios"] = _ratios(results)
    results["targets"] = evaluate_targets(results)
    results["errors"] = errors
    return results


def _describe_model(model: Path, work: Path) -> str:
    """Which model the servers ran: this run's training, or a stored one."""
    if model.is_relative_to(work):
        return "trained in this run"
    return _shown(model)


def _project_model(work: Path) -> Path:
    """The project's model for the current inputs (``make bench`` trains it first).

    When there is none (run directly after the data changed), one is trained
    into ``work`` with the same deadline as the timed training, not into
    ``models/``.
    """
    path = model_path()
    if path.exists():
        return path
    log("no model matches the current data; training one (untimed)...")
    return train("introcoach", PROJECT_ROOT, work)[1]


def _servers(
    options: Options,
    projects: Dict[str, Path],
    models: Dict[str, Optional[Path]],
    work: Path,
    results: Dict[str, Any],
    errors: Dict[str, str],
) -> None:
    """Start each assistant ``ready_repeats`` times, alternating between them.

    When latency is selected it is measured on the last start, after the ready
    time was taken, so the servers are not started once more just for it.
    """
    repeats = options.ready_repeats if "ready" in options.parts else 1
    ready: Dict[str, List[float]] = {name: [] for name in ASSISTANTS}
    for repeat in range(repeats):
        last = repeat == repeats - 1
        for name in ASSISTANTS:
            model = models.get(name)
            if model is None:
                continue
            label = f"server-{name}-{repeat + 1}"

            def one_start(
                n: str = name,
                m: Path = model,
                lbl: str = label,
                number: int = repeat + 1,
                final: bool = last,
            ) -> None:
                context = (
                    introcoach_server(m, work, lbl)
                    if n == "introcoach"
                    else baseline_server(m, projects[n], work, lbl)
                )
                with context as server:
                    ready[n].append(server.ready_seconds)
                    log(
                        f"{n}: ready in {server.ready_seconds:.1f} s"
                        f" (start {number}/{repeats})"
                    )
                    if final and "latency" in options.parts:
                        log(
                            f"{n}: {options.warmup} warm-up +"
                            f" {options.messages} messages over REST..."
                        )
                        latency = measure_latency(
                            server, options.messages, options.warmup
                        )
                        results[n]["latency"] = latency
                        log(
                            f"{n}: p50 {latency['p50_ms']} ms,"
                            f" p95 {latency['p95_ms']} ms"
                        )

            _attempt(errors, f"{name}.server#{repeat + 1}", one_start)
    if "ready" in options.parts:
        for name, values in ready.items():
            if values:
                results[name]["ready"] = {
                    "median_seconds": _median(values),
                    "runs_seconds": [round(v, 2) for v in values],
                }


def _ratios(results: Dict[str, Any]) -> Dict[str, Optional[float]]:
    intro, base = results["introcoach"], results["baseline"]
    return {
        "training_seconds": _ratio(
            intro.get("training_seconds"), base.get("training_seconds")
        ),
        "ready_seconds": _ratio(
            (intro.get("ready") or {}).get("median_seconds"),
            (base.get("ready") or {}).get("median_seconds"),
        ),
        "latency_p50_ms": _ratio(
            (intro.get("latency") or {}).get("p50_ms"),
            (base.get("latency") or {}).get("p50_ms"),
        ),
        "latency_p95_ms": _ratio(
            (intro.get("latency") or {}).get("p95_ms"),
            (base.get("latency") or {}).get("p95_ms"),
        ),
    }


def figures(side: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """One assistant's headline numbers, flat, ``None`` where not measured."""
    return {
        "training_seconds": side.get("training_seconds"),
        "ready_seconds": (side.get("ready") or {}).get("median_seconds"),
        "latency_p50_ms": (side.get("latency") or {}).get("p50_ms"),
        "latency_p95_ms": (side.get("latency") or {}).get("p95_ms"),
        "intent_f1": (side.get("nlu") or {}).get("intent_f1"),
        "entity_f1": (side.get("nlu") or {}).get("entity_f1"),
    }


def evaluate_targets(results: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """IntroCoach against each target: ``met`` is True, False or None (not measured)."""
    intro = figures(results["introcoach"])
    ratios = results.get("ratios") or _ratios(results)
    verdicts: Dict[str, Dict[str, Any]] = {}
    for key, target in TARGETS.items():
        op, limit = target["op"], target["value"]
        value = ratios.get(key) if op.startswith("ratio") else intro.get(key)
        met: Optional[bool] = None
        if value is not None:
            met = value >= limit if op == ">=" else value <= limit
        verdicts[key] = {"target": target["text"], "value": value, "met": met}
    return verdicts


def _summary(message: str) -> str:
    """First line of an error, plus its last line when that is the log's end."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0]
    return f"{lines[0]} … {lines[-1]}"


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(results: Dict[str, Any]) -> str:
    """The results as a markdown table, with the machine and run below it."""
    intro, base = figures(results["introcoach"]), figures(results["baseline"])
    ratios, targets = results["ratios"], results["targets"]
    opts = results["options"]
    rows = [
        ("Training time, from scratch (s)", "training_seconds", 1),
        (f"Start to ready, median of {opts['ready_repeats']} (s)", "ready_seconds", 1),
        (f"REST latency p50, {opts['messages']} msgs (ms)", "latency_p50_ms", 1),
        (f"REST latency p95, {opts['messages']} msgs (ms)", "latency_p95_ms", 1),
        (f"Intent F1, weighted, {opts['folds']}-fold CV", "intent_f1", 3),
        (f"Entity F1, weighted, {opts['folds']}-fold CV (DIET)", "entity_f1", 3),
    ]
    lines = [
        "| Measure | IntroCoach | Baseline (`rasa init`) | IntroCoach / baseline"
        " | Target | Met |",
        "|---|---:|---:|---:|---|:---:|",
    ]
    for label, key, digits in rows:
        verdict = targets.get(key)
        met = (
            "–"
            if not verdict or verdict["met"] is None
            else ("yes" if verdict["met"] else "**no**")
        )
        lines.append(
            f"| {label} | {_fmt(intro[key], digits)} | {_fmt(base[key], digits)} "
            f"| {_fmt(ratios.get(key), 2)} | {verdict['target'] if verdict else ''}"
            f" | {met} |"
        )
    m = results["machine"]
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; {m['os']}; "
        f"Python {m['python']}, Rasa {m['rasa']}; {m['date']}; "
        f"load average {m['load_average_at_start'][0]} at start, "
        f"{m.get('load_average_at_end', ['?'])[0]} at end.",
    ]
    if opts["quick"]:
        lines.append(
            "**Quick smoke run**: fewer messages, folds and starts;"
            " not comparable with a full run."
        )
    latency = results["introcoach"].get("latency") or {}
    if latency:
        lines.append(
            f"IntroCoach latency run: {latency['conversations']} conversations, "
            f"{latency['goodbyes_scored']} of {latency['goodbyes']} goodbyes scored,"
            f" {latency['errors']} errors."
        )
    if results.get("errors"):
        lines.append("")
        lines.append("Failed steps:")
        for key, message in results["errors"].items():
            lines.append(f"- `{key}`: {_summary(message)}")
    return "\n".join(lines) + "\n"
