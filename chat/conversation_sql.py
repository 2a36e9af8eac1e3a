"""The conversation row in plain SQL, for the store drivers that skip SQLAlchemy's per-call work
(``chat.sqlite_inline``, ``chat.postgres_direct``). Only the placeholder style differs between them
(``?`` or ``$n``), so both get their statements from here and mean the same thing.

``update`` takes the conditions the service writes as SQLAlchemy expressions (``col(...) == value``,
``!=``, ``.is_(None)``) and turns each into SQL with a bound value; anything else is refused with
``UnsupportedCondition`` rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BinaryExpression, BindParameter, Column, Null
from sqlalchemy.sql import operators

from core.models import Conversation, ConversationState

Mark = Callable[[int], str]  # the placeholder for the n-th (1-based) value


def qmark(_n: int) -> str:
    return "?"


def dollar(n: int) -> str:
    return f"${n}"


COLUMNS: tuple[str, ...] = tuple(c.name for c in Conversation.__table__.columns)  # type: ignore[attr-defined]
# Only these may be looked up by: each is the primary key or unique.
LOOKUP_COLUMNS = frozenset({"id", "token_hash", "start_key"})


def loaded(values: dict[str, Any]) -> Conversation:
    """A conversation read from the database, built as SQLAlchemy builds the objects it loads: the row's
    values go straight into the instance, without ``__init__``. SQLModel's ``__init__`` sets each field
    through SQLAlchemy's instrumentation, about 0.3-0.4 ms of CPU a row on the development machine
    against 0.02 ms here, and every ``store.get`` paid it (a start, an assignment, the console's
    conversation body: a burst of 50 starts spent tens of milliseconds in it). The object behaves the
    same: equal, same dump, its attributes set as usual."""
    conversation: Conversation = Conversation._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    conversation.__dict__.update(values)
    object.__setattr__(conversation, "__pydantic_fields_set__", set(values))
    object.__setattr__(conversation, "__pydantic_extra__", None)
    return conversation


def _defaults() -> tuple[dict[str, Any], dict[str, Callable[[], Any]]]:
    """The model's plain defaults (immutable values, copied as they are) and its default factories."""
    plain: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name in COLUMNS:
        field = Conversation.model_fields[name]
        if field.default_factory is not None:
            factories[name] = field.default_factory  # type: ignore[assignment]
        elif not field.is_required():
            plain[name] = field.default
    return plain, factories


_PLAIN_DEFAULTS, _DEFAULT_FACTORIES = _defaults()
_REQUIRED = frozenset(COLUMNS) - _PLAIN_DEFAULTS.keys() - _DEFAULT_FACTORIES.keys()
_COLUMN_SET = frozenset(COLUMNS)


def new_conversation(**values: Any) -> Conversation:
    """A new conversation, as ``Conversation(**values)`` makes it but built as ``loaded`` builds one (a
    burst of starts makes fifty at once). The values come from validated frames, so nothing is checked
    here but that every column without a default is given and no other is."""
    if not _REQUIRED <= values.keys() or not values.keys() <= _COLUMN_SET:
        missing = sorted(_REQUIRED - values.keys())
        unknown = sorted(values.keys() - _COLUMN_SET)
        raise TypeError(f"a new conversation: missing {missing}, unknown {unknown}")
    row = {name: factory() for name, factory in _DEFAULT_FACTORIES.items() if name not in values}
    row.update(_PLAIN_DEFAULTS)
    row.update(values)
    return loaded({name: row[name] for name in COLUMNS})


@dataclass(frozen=True, slots=True)
class IfUnset:
    """A value for ``update`` that is set only where the column is still NULL (``COALESCE``): the first
    answer's time, kept by every later assignment of the same chat."""

    value: Any


class UnsupportedCondition(TypeError):
    """A condition the plain-SQL update cannot express: a column compared with a value, or IS NULL."""


def select_by(column: str, mark: Mark) -> str:
    if column not in LOOKUP_COLUMNS:
        raise UnsupportedCondition(f"conversations are not looked up by {column!r}")
    return f"SELECT {', '.join(COLUMNS)} FROM conversation WHERE {column} = {mark(1)}"  # noqa: S608 - names from the model


def select_away_before(mark: Mark) -> str:
    """Open conversations whose visitor went away before a time (the scheduler asks every tick): two
    range seeks in ``ix_conversation_state_away``, whatever the number of conversations kept or open."""
    open_states = ", ".join(f"'{state.value}'" for state in (ConversationState.QUEUED, ConversationState.ASSIGNED))
    return (
        f"SELECT {', '.join(COLUMNS)} FROM conversation "  # noqa: S608 - names from the model, states from the enum
        f"WHERE state IN ({open_states}) AND visitor_away_since < {mark(1)}"
    )


def insert(mark: Mark) -> str:
    marks = ", ".join(mark(i) for i in range(1, len(COLUMNS) + 1))
    return f"INSERT INTO conversation ({', '.join(COLUMNS)}) VALUES ({marks})"  # noqa: S608 - names from the model


def update(
    conversation_id: str,
    conditions: tuple[object, ...],
    values: dict[str, Any],
    mark: Mark,
    *,
    returning: bool = False,
) -> tuple[str, list[Any]]:
    """``UPDATE conversation SET … WHERE id = … AND <conditions>`` and its values, in order; with
    ``returning``, the row as the update left it comes back (``RETURNING``: SQLite 3.35, PostgreSQL)."""
    args: list[Any] = []
    sets = []
    for name, value in values.items():
        if name not in COLUMNS:
            raise UnsupportedCondition(f"conversation has no column {name!r}")
        if isinstance(value, IfUnset):
            args.append(value.value)
            sets.append(f"{name} = COALESCE({name}, {mark(len(args))})")
        else:
            args.append(value)
            sets.append(f"{name} = {mark(len(args))}")
    if not sets:
        raise UnsupportedCondition("nothing to set")
    args.append(conversation_id)
    where = [f"id = {mark(len(args))}", *(_condition(c, args, mark) for c in conditions)]
    sql = f"UPDATE conversation SET {', '.join(sets)} WHERE {' AND '.join(where)}"  # noqa: S608 - names checked
    return (f"{sql} RETURNING {', '.join(COLUMNS)}" if returning else sql), args


def _condition(condition: object, args: list[Any], mark: Mark) -> str:
    if not isinstance(condition, BinaryExpression) or not isinstance(condition.left, Column):
        raise UnsupportedCondition(repr(condition))
    name, op, right = condition.left.name, condition.operator, condition.right
    if name not in COLUMNS:
        raise UnsupportedCondition(f"conversation has no column {name!r}")
    if isinstance(right, Null):
        if op is operators.is_:
            return f"{name} IS NULL"
        if op is operators.is_not:
            return f"{name} IS NOT NULL"
    elif isinstance(right, BindParameter) and right.value is not None:
        if op is operators.eq or op is operators.ne:
            args.append(right.value)
            return f"{name} {'=' if op is operators.eq else '<>'} {mark(len(args))}"
    raise UnsupportedCondition(repr(condition))
