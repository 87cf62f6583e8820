"""Message contents the callback handler lends to a call, and gives back.

A callback can only change what a chat model sends by changing the message objects themselves (LangChain
passes callbacks the caller's objects and builds the request from them afterwards). So the handler swaps a
message's ``content`` for a marked copy when the call starts and swaps the original back when it ends: the
caller's objects are exactly as before afterwards, whatever happened to the call.

`Loans` is the one registry of those swaps in the process, shared by every handler, so that calls sharing
message objects (a batch over one history, concurrent agents over one state, threads or tasks) never see each
other's markers as their own nor restore each other's:

- every call *holds* all the messages it sends, changed or not, until it ends; a message held by another call
  is frozen for this one: its current content (markers included) is what this call plans on and counts;
- a message goes back to its original content when the last call holding it ends;
- a call ends at ``on_llm_end`` / ``on_llm_error``; for calls that LangChain abandons without either (an
  ``ainvoke`` cancelled while awaiting the provider) also when its task is cancelled, or when the same task or
  thread starts its next single call (a task or thread makes one call at a time, so by then the abandoned
  call's request was built long ago or will never be). Whoever lent can hear of the end (``on_end``): the
  handler drops what it kept of the call then, so an abandoned call leaves nothing behind. The messages also go
  back when the task that started the call finishes, however: its request was built by then, though the call
  may go on in other tasks (a chain streamed with ``astream`` pulls each chunk in a task of its own) and still
  ends at ``on_llm_end``;
- several handlers may follow one call (a handler in the run's callbacks and one a wrapped graph adds): the
  first to lend it holds its messages, the others only follow it (their plans see every message frozen), and
  the call ends when the last of them gives it back.

While a call is in flight, whoever reads its messages sees its markers. What must keep the caller's messages as
the caller left them (a checkpointer, a node cache) reads through `Loans.as_left` / `Loans.read_as_left`: the
same value with every lent message replaced by a copy that has its own content back; the caller's objects are
never touched, and nothing is copied while nothing is lent.

>>> from langchain_core.messages import HumanMessage
>>> import uuid
>>> loans, message, run = Loans(), HumanMessage("Hi"), uuid.uuid4()
>>> _ = loans.lend(run, [message], lambda frozen: {0: [{"type": "text", "text": "Hi", "cache_control": {}}]})
>>> message.content[0]["cache_control"], loans.as_left([message])[0].content
({}, 'Hi')
>>> loans.give_back(run), message.content
(None, 'Hi')
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.messages import BaseMessage
from pydantic import BaseModel

__all__ = ["HELD_ELSEWHERE", "Loans", "loans"]

T = TypeVar("T")
R = TypeVar("R")

#: Why a message cannot take this call's markers.
HELD_ELSEWHERE = "the same message object is in another call in flight: its content is left as that call has it"
_TWICE = "the same message object appears twice in this call"
#: How often `Loans.read_as_left` reads without the lock before it reads under it (a lend or give-back in between
#: makes it read again; under the lock none can happen, but lenders wait for the read).
_OPTIMISTIC_READS = 3


@dataclass
class _Loan:
    message: BaseMessage
    original: Any
    current: Any
    holders: set[UUID] = field(default_factory=set)


@dataclass
class _Call:
    owner: tuple[int, int | None]
    parent: UUID | None
    single: bool
    keys: list[int]
    #: Who follows the call (the first lent it), each with what to call when the call ends unannounced.
    lenders: dict[int, tuple[object, Callable[[], object] | None]] = field(default_factory=dict)


def _owner() -> tuple[int, asyncio.Task[Any] | None]:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop in this thread
        task = None
    return threading.get_ident(), task


class Loans:
    """The registry of message contents lent to calls (use the module's `loans`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loans: dict[int, _Loan] = {}
        self._calls: dict[UUID, _Call] = {}
        #: How many times a message's content was swapped (lent or given back): `read_as_left` compares it
        #: before and after a read to know that no swap happened meanwhile.
        self._swaps = 0

    def lend(
        self,
        run_id: UUID,
        messages: Sequence[BaseMessage],
        plan: Callable[[Mapping[int, str]], T],
        *,
        parent: UUID | None = None,
        single: bool = True,
        lender: object = None,
        on_end: Callable[[], object] | None = None,
    ) -> T:
        """Hold ``messages`` for ``run_id`` and swap in the contents ``plan(frozen)`` returns.

        ``plan`` gets the indexes of messages this call must not change (with the reason) and returns the plan
        (a mapping of message index to new content, or an object whose ``contents`` is one). It runs under the
        registry lock, so no other call changes these messages between planning and writing. ``lender`` (the
        handler) gives the call back by name (`give_back`); ``on_end`` is called if the call ends without that
        (abandoned), under the registry lock: it must not lend or give back. A second lender of the same call
        only follows it: its plan sees every message frozen and nothing is written.
        """
        thread, task = _owner()
        owner = (thread, id(task) if task is not None else None)
        with self._lock:
            followed = self._calls.get(run_id)
            if followed is not None:
                followed.lenders[id(lender)] = (lender, on_end)
                return plan(dict.fromkeys(range(len(messages)), HELD_ELSEWHERE))
            if single:
                self._drop_abandoned(owner, parent)
            frozen: dict[int, str] = {}
            seen: dict[int, int] = {}
            for i, message in enumerate(messages):
                key = id(message)
                if key in seen:
                    frozen[i] = frozen[seen[key]] = _TWICE
                seen[key] = i
                loan = self._loans.get(key)
                if loan is not None and loan.holders:
                    frozen[i] = HELD_ELSEWHERE
            result = plan(frozen)
            found: object = getattr(result, "contents", result)
            contents: Mapping[int, Any] = found if isinstance(found, Mapping) else {}
            call = _Call(owner, parent, single, [], {id(lender): (lender, on_end)})
            self._calls[run_id] = call
            try:
                for i, message in enumerate(messages):
                    key = id(message)
                    loan = self._loans.get(key)
                    if loan is None:
                        loan = self._loans[key] = _Loan(message, message.content, message.content)
                    if run_id not in loan.holders:
                        loan.holders.add(run_id)
                        call.keys.append(key)
                    if i in contents and i not in frozen:
                        loan.current = contents[i]
                        self._swaps += 1  # before the swap, the loan before both: see `read_as_left`
                        message.content = contents[i]
            except BaseException:
                self._give_back(run_id)
                raise
        if task is not None:
            task.add_done_callback(lambda done: self._end(run_id, abandoned=done.cancelled()))
        return result

    def give_back(self, run_id: UUID, lender: object = None) -> None:
        """``lender`` is done with ``run_id``; once every lender is, the call's hold ends and messages no other
        call holds get their original content back (idempotent)."""
        with self._lock:
            call = self._calls.get(run_id)
            if call is None:
                return
            call.lenders.pop(id(lender), None)
            if not call.lenders:
                self._give_back(run_id)

    def _end(self, run_id: UUID, *, abandoned: bool) -> None:
        """The task that started the call finished: its request was built (and sent) by then, so the messages go
        back. The call itself may go on: LangChain streams a chain (``astream``, ``astream_events``) pulling each
        chunk in a task of its own, so the first chunk's task ends long before the call does, and its end
        (``on_llm_end``) still comes. Only a cancelled task (an ``ainvoke`` whose caller went away) abandons the
        call: then whoever follows it hears of the end."""
        with self._lock:
            self._give_back(run_id, notify=abandoned)

    def lenders(self, run_id: UUID) -> list[object]:
        """Who follows ``run_id`` now, the first to lend it first."""
        with self._lock:
            call = self._calls.get(run_id)
            return [lender for lender, _ in call.lenders.values()] if call is not None else []

    def held(self) -> int:
        """How many message objects are lent out now (0 when no call is in flight)."""
        with self._lock:
            return len(self._loans)

    def as_left(self, value: T) -> T:
        """``value`` as the callers left it: every message in it that a call in flight has lent is replaced by a
        copy with its own content (the messages themselves keep the call's markers until it ends).

        The containers on the way to such a message are copied too (dicts, lists, tuples, deques, dataclasses,
        pydantic models, objects with slots such as LangGraph's ``Send``), everything else is shared. When no
        message in ``value`` is lent, ``value`` itself comes back.

        A message lent after this returns is not in the view: to serialize, use `read_as_left`.
        """
        if not self._loans:  # the common case: no call in flight, nothing to look at
            return value
        with self._lock:
            swapped = self._swapped()
        return _as_left(value, swapped, {}) if swapped else value

    def read_as_left(self, read: Callable[[Any], R], value: Any) -> R:
        """``read(self.as_left(value))``, with no message content lent or given back while ``read`` runs: what a
        serializer writes is the value exactly as its callers left it, whichever thread lends meanwhile.

        ``read`` runs again if a content was swapped while it ran (and at last under the registry lock, so it
        must not lend nor give back).
        """
        for _ in range(_OPTIMISTIC_READS):
            swaps = self._swaps
            result = read(self.as_left(value))
            if self._swaps == swaps:
                return result
        with self._lock:
            swapped = self._swapped()
            return read(_as_left(value, swapped, {}) if swapped else value)

    def _swapped(self) -> dict[int, Any]:
        """The caller's content of each lent message that carries another now, by the message's ``id``."""
        return {
            key: loan.original
            for key, loan in self._loans.items()
            if loan.current is not loan.original and loan.message.content is loan.current
        }

    def _give_back(self, run_id: UUID, *, notify: bool = True) -> None:
        call = self._calls.pop(run_id, None)
        if call is None:
            return
        for key in call.keys:
            loan = self._loans.get(key)
            if loan is None:
                continue
            loan.holders.discard(run_id)
            if loan.holders:
                continue
            # Give the original back unless someone else replaced the content meanwhile (theirs wins). Count the
            # swap before it and drop the loan after it: `as_left` trusts a message with no loan to be as left.
            if loan.current is not loan.original and loan.message.content is loan.current:
                self._swaps += 1
                loan.message.content = loan.original
            del self._loans[key]
        if not notify:
            return
        for _, on_end in call.lenders.values():  # those that did not give it back: it ended without them
            if on_end is not None:
                on_end()

    def _drop_abandoned(self, owner: tuple[int, int | None], parent: UUID | None) -> None:
        stale = [run for run, call in self._calls.items() if call.owner == owner and call.single and run != parent]
        for run in stale:
            self._give_back(run)


_ATOMS = (str, bytes, int, float, type(None))


def _as_left(value: Any, swapped: Mapping[int, Any], memo: dict[int, Any]) -> Any:
    """``value`` with the messages in ``swapped`` replaced by copies carrying their caller's content; what holds
    none of them comes back as it is (``memo``: what each container became, so a shared one is copied once)."""
    if isinstance(value, _ATOMS):
        return value
    key = id(value)
    if isinstance(value, BaseMessage):
        if key in swapped:
            return value.model_copy(update={"content": swapped[key]})
        return value
    if key in memo:
        return memo[key]
    memo[key] = value  # a container that holds itself stops here
    result = memo[key] = _rebuilt(value, swapped, memo)
    return result


def _rebuilt(value: Any, swapped: Mapping[int, Any], memo: dict[int, Any]) -> Any:
    # A shallow copy of a container keeps its type (an OrderedDict, a namedtuple, a frozen dataclass); only
    # the items that changed are set on it, so serializers write it as they would have written the original.
    if isinstance(value, dict):
        return _rebuilt_dict(value, swapped, memo)
    if isinstance(value, (list, tuple, deque)):
        return _rebuilt_sequence(value, swapped, memo)
    if isinstance(value, BaseModel):
        changed = {k: new for k, item in value if (new := _as_left(item, swapped, memo)) is not item}
        return value.model_copy(update=changed) if changed else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f.name for f in dataclasses.fields(value)]
    else:
        fields = [s for c in type(value).__mro__ for s in getattr(c, "__slots__", ()) if not s.startswith("__")]
    return _with_attributes(value, fields, swapped, memo)


def _rebuilt_dict(value: dict[Any, Any], swapped: Mapping[int, Any], memo: dict[int, Any]) -> dict[Any, Any]:
    changed = {k: new for k, item in value.items() if (new := _as_left(item, swapped, memo)) is not item}
    if not changed:
        return value
    clone = copy.copy(value)
    clone.update(changed)
    return clone


def _rebuilt_sequence(
    value: list[Any] | tuple[Any, ...] | deque[Any], swapped: Mapping[int, Any], memo: dict[int, Any]
) -> Any:
    items = [_as_left(item, swapped, memo) for item in value]
    if all(new is old for new, old in zip(items, value, strict=True)):
        return value
    if isinstance(value, tuple):
        make = getattr(type(value), "_make", None)  # a namedtuple
        return make(items) if make is not None else type(value)(items)
    clone = copy.copy(value)
    clone.clear()
    clone.extend(items)
    return clone


def _with_attributes(value: Any, names: Sequence[str], swapped: Mapping[int, Any], memo: dict[int, Any]) -> Any:
    """A dataclass or an object with slots (LangGraph's ``Send``), copied if one of its attributes changed."""
    changed: dict[str, Any] = {}
    for name in names:
        item = getattr(value, name, _UNSET)
        if item is not _UNSET and (new := _as_left(item, swapped, memo)) is not item:
            changed[name] = new
    if not changed:
        return value
    clone = copy.copy(value)
    for name, new in changed.items():
        object.__setattr__(clone, name, new)  # also a frozen dataclass: the clone is ours
    return clone


_UNSET = object()


#: The process-wide registry every `CachepointCallbackHandler` lends through.
loans = Loans()
