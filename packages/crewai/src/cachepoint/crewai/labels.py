"""Who is calling: the ledger labels of the LLM call in progress (``agent``, ``task``, ``crew``).

CrewAI passes the calling agent and task to every ``BaseLLM.call`` / ``acall`` (``from_agent``, ``from_task``);
the provider classes hand them on to their own helpers but not to the SDK client, where usage is read. The
wrapped ``call`` puts the labels in a context variable for the duration of the call, which follows the call
into threads CrewAI starts with ``asyncio.to_thread`` and into the tasks it awaits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["call_labels", "current_labels", "labels_for"]

_LABELS: ContextVar[Mapping[str, str] | None] = ContextVar("cachepoint_crewai_labels", default=None)
# Positions of from_task / from_agent in BaseLLM.call(messages, tools, callbacks, available_functions, from_task,
# from_agent, response_model).
_TASK_ARG, _AGENT_ARG = 4, 5
_TASK_LABEL_CHARS = 60


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _template(obj: Any, field: str) -> Any:
    """``obj.<field>`` as written, before a kickoff's inputs were put in: CrewAI rewrites an agent's role and a task's
    description with each ``kickoff(inputs=...)`` and keeps the template as ``_original_<field>`` (what it names
    them by itself, in their ``key``). Labelled with the rewritten text, a crew run per request would make a
    ledger series, and a metric label value, per request."""
    # Private: CrewAI 1.14-1.15 keeps the template in no public field (`key` hashes it); absent, the field as it is
    original = getattr(obj, f"_original_{field}", None)
    return original if isinstance(original, str) else getattr(obj, field, None)


def _task_label(task: Any) -> str | None:
    name = _text(getattr(task, "name", None))
    if name:
        return name
    description = _text(_template(task, "description"))
    if description is None:
        return None
    first = description.splitlines()[0].strip()
    return first if len(first) <= _TASK_LABEL_CHARS else first[: _TASK_LABEL_CHARS - 1] + "…"


def labels_for(agent: Any, task: Any) -> dict[str, str]:
    """The labels of a call made for ``agent`` and ``task`` (either may be ``None``): ``agent`` is the agent's
    role, ``task`` the task's name (else the first line of its description, shortened), ``crew`` the name of
    the crew the agent (or the task's agent) belongs to. A role or description a kickoff's inputs were written
    into is labelled as its template (``"{topic} researcher"``), the same for every run.

    >>> from types import SimpleNamespace as NS
    >>> crew = NS(name="research")
    >>> labels_for(NS(role="Researcher", crew=crew), NS(name=None, description="Find three sources.\\nCite them."))
    {'agent': 'Researcher', 'task': 'Find three sources.', 'crew': 'research'}
    >>> labels_for(NS(role="AI researcher", _original_role="{topic} researcher"), None)
    {'agent': '{topic} researcher'}
    """
    labels: dict[str, str] = {}
    role = _text(_template(agent, "role"))
    if role:
        labels["agent"] = role
    task_label = _task_label(task) if task is not None else None
    if task_label:
        labels["task"] = task_label
    crew = getattr(agent, "crew", None) if agent is not None else None
    if crew is None and task is not None:
        crew = getattr(getattr(task, "agent", None), "crew", None)
    crew_name = _text(getattr(crew, "name", None))
    if crew_name:
        labels["crew"] = crew_name
    return labels


@contextmanager
def call_labels(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Iterator[None]:
    """Label the LLM call made with ``call(*args, **kwargs)`` for as long as it runs."""
    task = kwargs.get("from_task", args[_TASK_ARG] if len(args) > _TASK_ARG else None)
    agent = kwargs.get("from_agent", args[_AGENT_ARG] if len(args) > _AGENT_ARG else None)
    token = _LABELS.set(labels_for(agent, task))
    try:
        yield
    finally:
        _LABELS.reset(token)


def current_labels() -> dict[str, str]:
    """The labels of the call in progress (empty outside one).

    >>> current_labels()
    {}
    """
    return dict(_LABELS.get() or {})
