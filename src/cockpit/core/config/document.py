"""Read a YAML document that may be hostile: bounded in size, depth and alias expansion.

``read_text`` reads at most ``MAX_FILE_BYTES`` (``/dev/zero`` or a huge file cannot
exhaust memory), decodes UTF-8 with or without the byte-order mark some editors write
(dropped, so an env file's first variable is read) and names the line of an undecodable
byte. ``parse_yaml`` composes the node graph (LibYAML never expands aliases there: an
alias is a second reference to its anchor's node), then builds the values from it in one
pass over its distinct nodes, which:

* counts the nodes the aliases add once expanded (a "billion laughs" anchor bomb adds
  ten to the power of its levels) without expanding them, and stops past a cap;
* refuses an alias inside its own anchor (a recursive value), nesting past a cap (the
  code that walks values later is recursive), keys that are lists or mappings, tags
  other than the plain ones, and scalars that cannot be built (``2024-13-45``);
* reports a key repeated in one mapping at the repetition, naming the first line;
* applies merge keys (``<<: *defaults``) as the YAML spec says: keys given win, then
  the sources in their order.

``LineMap`` gives the line of any path of keys and indexes, composing the nodes again
only when a problem is reported.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

from cockpit.core.boundary import bound, show_controls
from cockpit.core.errors import ConfigError

#: LibYAML's parser when PyYAML has it: ~10x faster than the pure-Python one (~20 ms
#: of start-up for the demo profile); same nodes, marks and values.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Largest file read (a profile of 80,000 small actions is ~4 MB; parsing takes ~100x
#: the file's size in memory).
MAX_FILE_BYTES = 8 * 1024 * 1024
#: Most nodes that aliases may add to a document once expanded.
MAX_ALIAS_NODES = 100_000
#: Deepest nesting of mappings and sequences.
MAX_DEPTH = 64
#: Most problems reported before reading stops.
MAX_PROBLEMS = 100

Path_ = tuple[str | int, ...]


class UnreadableText(Exception):
    """A file that is not bounded UTF-8 text: ``line`` (1-based) and what is wrong."""

    def __init__(self, line: int, message: str, *, too_large: bool = False) -> None:
        super().__init__(f"{line}: {message}")
        self.line = line
        self.message = message
        self.too_large = too_large


def read_text(path: Path, *, limit: int | None = None) -> str:
    """The UTF-8 text of ``path``, a leading byte-order mark dropped.

    ``FileNotFoundError`` when it does not exist; ``UnreadableText`` when it cannot be
    read, is larger than ``limit`` bytes (default ``MAX_FILE_BYTES``), or is not UTF-8.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise UnreadableText(1, "is a directory, not a file") from None
    except OSError as exc:
        raise UnreadableText(1, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UnreadableText(1, f"larger than {_size(limit)}: not read", too_large=True)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableText(1, "UTF-16 text: save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableText(
            line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)"
        ) from None


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):g} MiB" if count >= 1024 * 1024 else f"{count} bytes"


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class LineMap:
    """Maps a path of keys/indexes inside the document to its 1-based line.

    The node graph is composed again from the text on the first question, so that a valid
    profile does not keep it (it takes ~50x the file's size) while it is validated.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._root: yaml.Node | None = None
        self._keys: dict[int, dict[Any, tuple[yaml.Node, yaml.Node]]] = {}

    @property
    def root(self) -> yaml.Node | None:
        if self._root is None:
            loader = _Loader(self.text)
            try:
                self._root = loader.get_single_node()
            finally:
                loader.dispose()
        return self._root

    def line_of(self, path: Path_) -> int:
        """Line of the deepest part of ``path`` found in the document.

        Parts that name nothing (pydantic's union tags such as ``http``) are skipped.
        """
        node = self.root
        if node is None:
            return 1
        line = _line(node)
        for part in path:
            if isinstance(node, yaml.MappingNode):
                found = self._pairs(node).get(part) if isinstance(part, str) else None
                if found is None:
                    continue
                line, node = _line(found[0]), found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    continue
                node = node.value[part]
                line = _line(node)
        return line

    def _pairs(self, node: yaml.MappingNode) -> dict[Any, tuple[yaml.Node, yaml.Node]]:
        """The mapping's first (key, value) nodes by key text, built once per mapping."""
        pairs = self._keys.get(id(node))
        if pairs is None:
            pairs = {}
            for k, v in node.value:
                if isinstance(k.value, str):
                    pairs.setdefault(k.value, (k, v))
            self._keys[id(node)] = pairs
        return pairs


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_OPEN = object()  # a collection whose children are being built
_MERGED = object()  # a ``<<`` key
_Scalar = yaml.ScalarNode


class _Loader(_SafeLoader):  # type: ignore[misc,valid-type]
    """The safe loader with a quicker ``resolve`` (the parser calls it for every node).

    Same tags as ``BaseResolver.resolve`` for a loader without path resolvers, as the safe
    loaders are: a plain scalar is matched against the implicit resolvers of its first
    character, anything else takes its kind's default tag.
    """

    _implicit = _SafeLoader.yaml_implicit_resolvers

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self._implicit.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


class _Builder:
    """Builds Python values from the node graph, counting the nodes aliases add.

    An alias of a collection is the same node reached twice: its value is shared (as
    PyYAML shares it) and its expanded size is added to ``added``, which is capped, so a
    bomb is refused after work proportional to the file, not to its expansion.
    """

    def __init__(self, loader: Any, file: str) -> None:
        self.loader = loader  # constructs the rare scalars that are not strings
        self.file = file
        self.count = 0  # nodes built, aliases expanded
        self.added = 0  # nodes aliases added
        self.built: dict[int, Any] = {}  # id(collection node) -> (value, expanded size)
        self.problems: list[str] = []
        self.dollars = 0  # strings holding a '$' built so far
        #: ids of the lists and mappings holding, at any depth, a string with a '$'
        self.with_dollar: set[int] = set()

    def fail(self, line: int, message: str) -> ConfigError:
        return ConfigError([*self.problems, f"{self.file}:{line}: {message}"])

    def build(self, node: yaml.Node, depth: int, line: int) -> Any:
        """The value of ``node``; ``line`` is where it is referred to (an alias's line)."""
        if isinstance(node, yaml.ScalarNode):
            self.count += 1
            if node.tag != _STR:
                return self._scalar(node)
            if "$" in node.value:
                self.dollars += 1
            return node.value
        key = id(node)
        done = self.built.get(key)
        if done is not None:
            if done is _OPEN:
                raise self.fail(line, "a YAML alias refers to its own anchor (a recursive value)")
            value, size = done
            if id(value) in self.with_dollar:
                self.dollars += 1
            self.added += size
            self.count += size
            if self.added > MAX_ALIAS_NODES:
                raise self.fail(
                    line, f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes (anchor bomb?)"
                )
            return value
        if depth > MAX_DEPTH:
            raise self.fail(_line(node), f"nested deeper than {MAX_DEPTH} levels")
        self.built[key] = _OPEN
        before = self.count
        dollars = self.dollars
        if node.tag == _SEQ and isinstance(node, yaml.SequenceNode):
            value = self._sequence(node, depth)
        elif node.tag == _MAP and isinstance(node, yaml.MappingNode):
            value = self._mapping(node, depth)
        else:
            raise self.fail(_line(node), f"unsupported YAML tag {node.tag!r}")
        self.count += 1
        self.built[key] = (value, self.count - before)
        if self.dollars != dollars:
            self.with_dollar.add(id(value))
        return value

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        """A number, boolean, null, date... (``2024-13-45`` or a 5000-digit int is refused)."""
        try:
            return self.loader.construct_object(node)
        except (ValueError, TypeError, OverflowError) as exc:
            tag = node.tag.rsplit(":", 1)[-1]
            what = bound(show_controls(str(exc)), 120)
            raise self.fail(_line(node), f"cannot read this {tag} value: {what}") from None

    # ``_sequence`` and ``_mapping`` build plain strings inline, the bulk of any profile:
    # a call per node less is a third of the time of a profile of 80,000 actions.

    def _sequence(self, node: yaml.SequenceNode, depth: int) -> list[Any]:
        at = _line(node)  # an alias in a list is known only as its anchor's node
        value = []
        for item in node.value:
            if item.__class__ is _Scalar and item.tag == _STR:
                text = item.value
                self.count += 1
                if "$" in text:
                    self.dollars += 1
                value.append(text)
            else:
                value.append(self.build(item, depth + 1, at))
        return value

    def _mapping(self, node: yaml.MappingNode, depth: int) -> dict[Any, Any]:
        value: dict[Any, Any] = {}
        merged: list[dict[Any, Any]] = []
        firsts: dict[str, int] | None = None  # built at the first duplicate
        for key_node, value_node in node.value:
            if key_node.__class__ is _Scalar and key_node.tag == _STR:
                key = key_node.value
                self.count += 1
            else:
                key = self._key(key_node, value_node, depth, merged)
                if key is _MERGED:
                    continue
            if key in value:
                firsts = self._duplicate(node, key_node, firsts)
                continue
            if value_node.__class__ is _Scalar and value_node.tag == _STR:
                text = value_node.value
                self.count += 1
                if "$" in text:
                    self.dollars += 1
                value[key] = text
            else:
                value[key] = self.build(value_node, depth + 1, key_node.start_mark.line + 1)
        for source in merged:
            for key, item in source.items():
                value.setdefault(key, item)
        return value

    def _key(
        self, key_node: yaml.Node, value_node: yaml.Node, depth: int, merged: list[dict]
    ) -> Any:
        """A key that is not a plain string; ``_MERGED`` for ``<<`` (its sources join
        ``merged``: keys given in the mapping itself win)."""
        line = _line(key_node)
        if not isinstance(key_node, yaml.ScalarNode):
            raise self.fail(line, "a mapping key must be a plain value, not a list or mapping")
        if key_node.tag == _MERGE:
            sources = self.build(value_node, depth + 1, line)
            for source in sources if isinstance(sources, list) else [sources]:
                if not isinstance(source, dict):
                    raise self.fail(line, "'<<' merges mappings only")
                merged.append(source)
            return _MERGED
        key = self.build(key_node, depth + 1, line)
        try:
            hash(key)
        except TypeError:
            raise self.fail(line, f"unusable mapping key {key!r}") from None
        return key

    def _duplicate(
        self, node: yaml.MappingNode, key_node: yaml.Node, firsts: dict[str, int] | None
    ) -> dict[str, int]:
        """Report a repeated key; ``firsts`` maps the mapping's keys to their first line."""
        if firsts is None:
            firsts = {}
            for k, _ in node.value:
                if isinstance(k.value, str):
                    firsts.setdefault(k.value, _line(k))
        line = _line(key_node)
        shown = bound(show_controls(str(key_node.value)), 80)
        first = firsts.get(key_node.value, line) if isinstance(key_node.value, str) else line
        self.problems.append(
            f"{self.file}:{line}: duplicate key {shown!r} (first at line {first})"
        )
        if len(self.problems) >= MAX_PROBLEMS:
            raise self.fail(line, f"more than {MAX_PROBLEMS} problems: fix these first")
        return firsts


def parse_yaml(text: str, file: str) -> tuple[Any, LineMap, set[int]]:
    """The document's value, its line map, and the ids of its lists and mappings that hold
    a string with a ``$`` (the only ones ``${VAR}`` expansion must visit).

    ``ConfigError`` with ``FILE:LINE`` for anything wrong.
    """
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ConfigError([f"{file}:1: the file is empty"])
            builder = _Builder(loader, file)
            data = builder.build(node, 1, _line(node))
            if builder.problems:
                raise ConfigError(builder.problems)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ConfigError([f"{file}:{line}: invalid YAML: {what}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{file}:1: invalid YAML: {exc}"]) from None
    return data, LineMap(text), builder.with_dollar
