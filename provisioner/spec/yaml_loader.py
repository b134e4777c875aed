"""YAML for cluster specs: a SafeLoader that stays fast and bounded on hostile input.

A spec is a few KB, so anything far bigger, deeper or more repetitive is refused with a
``yaml.MarkedYAMLError`` (the loader turns it into one ``file:line`` message) instead of
a RecursionError, a MemoryError or minutes of work. Choices an operator may notice:

- merge keys (``<<: *defaults``) work; a key given explicitly wins over a merged one;
- dates are read as text (no spec field is a date; ``name: 2024-02-30`` is just a name);
- numbers longer than ``MAX_NUMBER_CHARS`` characters are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

if TYPE_CHECKING:
    from yaml._yaml import Mark as LibyamlMark

#: Largest spec accepted, in bytes (a cluster spec is a few KB).
MAX_SPEC_BYTES = 1024 * 1024
#: Deepest nesting of lists and mappings, after aliases are expanded (a spec needs ~6).
MAX_DEPTH = 50
#: Most values (scalars, lists, mappings) after aliases and merge keys are expanded.
MAX_VALUES = 250_000
#: Longest integer or float literal, in characters.
MAX_NUMBER_CHARS = 64

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class SpecYamlError(yaml.MarkedYAMLError):
    """A limit of this module was hit; carries the position where it was noticed."""

    def __init__(self, problem: str, mark: yaml.Mark | LibyamlMark | None) -> None:
        # libyaml's marks (FastSpecLoader) work as yaml.Mark does; the stubs name only that one.
        super().__init__(problem=problem, problem_mark=mark)  # type: ignore[arg-type]


class _DepthLimitedComposer(Composer):
    """Refuses nesting deeper than MAX_DEPTH while composing (before any recursion limit)."""

    _depth = 0
    #: Whether any alias was met; without one the tree is no bigger than the file.
    aliases_seen = False
    # Provided by the parser each loader combines this composer with (Parser or CParser).
    check_event: Callable[..., bool]
    peek_event: Callable[[], yaml.Event]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases_seen = True
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise SpecYamlError(f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _SpecConstructor(SafeConstructor):
    """SafeConstructor minus the surprises: duplicate keys, unhashable keys, dates, huge ints."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise ConstructorError(
                    None,
                    None,
                    f"a key must be a plain value (text or number), not a {type(key).__name__}",
                    key_node.start_mark,
                ) from None
            if key in seen:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {short_repr(key)} (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        _refuse_long_number(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        _refuse_long_number(node)
        return super().construct_yaml_float(node)

    def construct_yaml_timestamp_as_text(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))


def _refuse_long_number(node: yaml.ScalarNode) -> None:
    if len(node.value) > MAX_NUMBER_CHARS:
        raise ConstructorError(
            None,
            None,
            f"a number of {len(node.value)} characters (at most {MAX_NUMBER_CHARS}); "
            "quote it if it is text",
            node.start_mark,
        )


for _tag, _construct in (
    ("tag:yaml.org,2002:int", _SpecConstructor.construct_yaml_int),
    ("tag:yaml.org,2002:float", _SpecConstructor.construct_yaml_float),
    (_TIMESTAMP, _SpecConstructor.construct_yaml_timestamp_as_text),
):
    # The stubs want a whole loader class here; this constructor is a part of two loaders.
    _SpecConstructor.add_constructor(_tag, _construct)  # type: ignore[type-var]


class _SpecResolver(Resolver):
    """The YAML 1.1 implicit types, except that dates stay text."""


_SpecResolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}


class SpecLoader(Reader, Scanner, Parser, _DepthLimitedComposer, _SpecConstructor, _SpecResolver):
    """Pure-Python loader (exact character marks; used to edit a spec file in place)."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _SpecConstructor.__init__(self)
        _SpecResolver.__init__(self)


try:  # libyaml parses about 6x faster; composing stays in Python for the depth limit
    from yaml._yaml import CParser as _CParser

    class FastSpecLoader(_DepthLimitedComposer, _CParser, _SpecConstructor, _SpecResolver):
        """libyaml events, composed and constructed with the limits above."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            _SpecConstructor.__init__(self)
            _SpecResolver.__init__(self)

except ImportError:  # pragma: no cover - PyYAML built without libyaml
    FastSpecLoader = SpecLoader  # type: ignore[misc,assignment]


def compose(text: str, loader: type = FastSpecLoader) -> tuple[yaml.Node | None, Any]:
    """The node tree and the constructed data, or a YAMLError naming the first limit hit."""
    instance = loader(text)
    try:
        node = instance.get_single_node()
        if node is None:
            return None, None
        if instance.aliases_seen:
            check_expansion(node)
        return node, instance.construct_document(node)
    finally:
        instance.dispose()


def check_expansion(root: yaml.Node) -> None:
    """Refuse alias bombs and recursive aliases before anything expands them.

    Counts values and depth as if every alias (and merge key) were copied out, memoized per
    node so the walk itself stays linear in the size of the file.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    in_progress: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            in_progress.discard(key)
            if size[key] > MAX_VALUES:
                raise SpecYamlError(
                    f"aliases expand to more than {MAX_VALUES} values (an alias bomb?)",
                    node.start_mark,
                )
            if depth[key] > MAX_DEPTH:
                raise SpecYamlError(
                    f"aliases nest values more than {MAX_DEPTH} levels deep", node.start_mark
                )
            continue
        if key in size:
            continue
        if key in in_progress:
            raise SpecYamlError("an alias refers to the value that contains it", node.start_mark)
        in_progress.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters, safe for any value (huge ints, deep lists)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of {value.bit_length()} bits>"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"<a {type(value).__name__}>"
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, str) else len(text)
    return f"{text[: limit - 1]}… ({size} characters)"
