"""Python config files with ``_base_`` inheritance, attribute access, ``--cfg-options`` and dumping.

A config is a ``.py`` file whose top-level variables form a dict. ``_base_`` (a path or list of paths,
relative to the file) names files merged underneath it; a dict with ``_delete_=True`` replaces the base
value instead of being merged into it.
"""
import argparse
import ast
import copy
import keyword
import math
import os.path as osp
import textwrap
import types
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

BASE_KEY = '_base_'
DELETE_KEY = '_delete_'
# The last line of a dumped config: ``__helpers__ = (classes, palette)`` reads the top-level values the original
# files read themselves (helper variables), so a dump keeps that fact; like every ``__`` name it is not a key.
HELPERS_KEY = '__helpers__'
RESERVED_KEYS = ('filename', 'text', 'pretty_text')


class ConfigError(Exception):
    """A config file or config value is unusable; the message names the file, key or value."""


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file, or a ``_base_`` file it names, does not exist."""

    def __str__(self) -> str:  # OSError would format (errno, strerror); show the message as given
        return str(self.args[0]) if self.args else ''


class ConfigAttributeError(ConfigError, AttributeError):
    """Attribute access for a key the config does not have."""


def _convert(value: Any) -> Any:
    """Turn dicts (also inside lists and tuples) into :class:`ConfigDict`."""
    if isinstance(value, dict) and not isinstance(value, ConfigDict):
        return ConfigDict(value)
    if isinstance(value, list):
        return [_convert(v) for v in value]
    if type(value) is tuple:  # exact type: namedtuples are left as they are
        return tuple(_convert(v) for v in value)
    return value


def _to_plain(value: Any) -> Any:
    """Inverse of :func:`_convert`: plain dicts all the way down."""
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    if type(value) is tuple:
        return tuple(_to_plain(v) for v in value)
    return value


class ConfigDict(dict):
    """A dict whose keys are also attributes; nested dicts become ``ConfigDict`` too."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, _convert(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise ConfigAttributeError(f"config has no key '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise ConfigAttributeError(f"config has no key '{name}'") from None

    def update(self, *args, **kwargs) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def copy(self) -> 'ConfigDict':
        return ConfigDict(self)

    def __deepcopy__(self, memo: dict) -> 'ConfigDict':
        out = ConfigDict()
        memo[id(self)] = out
        for k, v in self.items():
            dict.__setitem__(out, copy.deepcopy(k, memo), copy.deepcopy(v, memo))
        return out

    def __reduce__(self):
        return ConfigDict, (dict(self),)

    def to_dict(self) -> dict:
        return _to_plain(self)


# ---------------------------------------------------------------------------------------------- merging


def _strip_delete(value: Any) -> Any:
    """Drop ``_delete_`` keys from dicts nested in ``value`` (they only mean something when merging)."""
    if isinstance(value, dict):
        return {k: _strip_delete(v) for k, v in value.items() if k != DELETE_KEY}
    if isinstance(value, list):
        return [_strip_delete(v) for v in value]
    if type(value) is tuple:
        return tuple(_strip_delete(v) for v in value)
    return value


def _merge(child: dict, base: dict, where: str, prefix: str = '') -> dict:
    """Return ``base`` with ``child`` deep-merged over it; neither input is modified.

    Dicts merge key by key unless the child dict has ``_delete_=True``; anything else replaces.
    """
    out = dict(base)
    for k, v in child.items():
        if k == DELETE_KEY:
            continue
        if isinstance(v, dict) and k in out and not v.get(DELETE_KEY, False):
            if not isinstance(out[k], dict):
                raise ConfigError(
                    f"{where}: key '{prefix}{k}' is a dict but the base value is {type(out[k]).__name__} "
                    f"{out[k]!r}; set {DELETE_KEY}=True in it to replace the base value")
            out[k] = _merge(v, out[k], where, f'{prefix}{k}.')
        else:
            out[k] = _strip_delete(v)
    return out


# ---------------------------------------------------------------------------------------------- reading


def _read_py(path: str) -> Tuple[dict, str]:
    """Execute the config file at ``path`` in a fresh namespace; return its variables and its text."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        code = compile(text, path, 'exec')
    except SyntaxError as e:
        line = (e.text or '').strip()
        raise ConfigError(f'syntax error in config {path}, line {e.lineno}: {e.msg}'
                          + (f'\n    {line}' if line else '')) from e
    namespace: Dict[str, Any] = {'__file__': path, '__name__': '__mmseg_config__'}
    try:
        exec(code, namespace)
    except Exception as e:
        raise ConfigError(f'error while executing config {path}: {type(e).__name__}: {e}') from e
    drop = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)
    values = {k: v for k, v in namespace.items() if not k.startswith('__') and not isinstance(v, drop)}
    return values, text


def _file2dict(path: str, chain: Tuple[str, ...] = ()) -> Tuple[dict, List[Tuple[str, str]]]:
    """Resolve ``path`` and its ``_base_`` files; return the merged dict and ``(file, text)`` of every file read.

    ``chain`` holds the files that led here (each names the next in ``_base_``), for cycle detection.
    """
    if path in chain:
        cycle = ' -> '.join(chain[chain.index(path):] + (path,))
        raise ConfigError(f'cyclic _base_ inheritance: {cycle}')
    if not path.endswith('.py'):
        raise ConfigError(f'only .py config files are supported, got {path}')
    values, text = _read_py(path)
    bases = values.pop(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f'{path}: {BASE_KEY} must be a path or a list of paths, got {bases!r}')

    merged: dict = {}
    owner: Dict[str, str] = {}  # top-level key -> base file that defined it
    texts: List[Tuple[str, str]] = []
    for base in bases:
        base_path = osp.abspath(osp.join(osp.dirname(path), osp.expanduser(base)))
        if not osp.isfile(base_path):
            raise ConfigFileNotFoundError(
                f"{path}: {BASE_KEY} file '{base}' not found (looked for {base_path})")
        base_dict, base_texts = _file2dict(base_path, chain + (path,))
        for key in base_dict:
            if key in owner:
                raise ConfigError(
                    f"{path}: duplicate key '{key}' among bases: defined in both {owner[key]} and {base_path}")
            owner[key] = base_path
        merged.update(base_dict)
        seen = {f for f, _ in texts}
        texts.extend(t for t in base_texts if t[0] not in seen)  # a file shared by two bases is shown once
    merged = _merge(values, merged, path)
    texts.append((path, text))
    return merged, texts


# ---------------------------------------------------------------------------------------------- writing


def _is_identifier(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


class _Formatter:
    """Writes values as Python literals that ``exec`` reads back to equal values."""

    width = 100

    def __init__(self, strict: bool, use_dict_call: bool = True):
        self.strict = strict
        self.use_dict_call = use_dict_call

    def scalar(self, v: Any, path: str) -> str:
        if isinstance(v, float) and not math.isfinite(v):
            return f"float('{v}')"
        if v is None or isinstance(v, (bool, int, float, str, bytes, complex)):
            return repr(v)
        if self.strict:
            raise ConfigError(f"cannot dump key '{path}': {type(v).__name__} value {v!r} is not a Python literal")
        return repr(v)

    def items(self, v: Any, path: str, indent: int) -> Tuple[str, str, List[str]]:
        """Opening bracket, closing bracket and the formatted entries of a container."""
        if isinstance(v, dict):
            as_call = self.use_dict_call and all(_is_identifier(k) for k in v)
            parts = []
            for k, x in v.items():
                val = self.fmt(x, f'{path}.{k}' if path else str(k), indent)
                parts.append(f'{k}={val}' if as_call else f'{self.fmt(k, path)}: {val}')
            return ('dict(', ')', parts) if as_call else ('{', '}', parts)
        parts = [self.fmt(x, f'{path}.{i}', indent) for i, x in enumerate(v)]
        if isinstance(v, list):
            return '[', ']', parts
        return '(', ')', parts

    def fmt(self, v: Any, path: str, indent: int = 0) -> str:
        if not isinstance(v, (dict, list)) and type(v) is not tuple:
            return self.scalar(v, path)
        open_, close, parts = self.items(v, path, indent + 4)
        one_tuple = type(v) is tuple and len(parts) == 1
        inline = open_ + ', '.join(parts) + (',' if one_tuple else '') + close
        if len(inline) + indent <= self.width and '\n' not in inline:
            return inline
        pad = ' ' * (indent + 4)
        return open_ + '\n' + ''.join(f'{pad}{p},\n' for p in parts) + ' ' * indent + close


def names_read(text: str) -> set:
    """Every name the config source reads (``len(classes)``, ``crop_size=crop_size``): its helper variables."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _format_config(cfg: dict, strict: bool, helpers: Sequence[str] = ()) -> str:
    bad = [k for k in cfg if not _is_identifier(k)]
    if bad:
        raise ConfigError(f'cannot write config: top-level key {bad[0]!r} is not a Python identifier')
    # a top-level variable named ``dict`` would shadow the builtin the ``dict(...)`` form calls
    fmt = _Formatter(strict, use_dict_call='dict' not in cfg)
    text = ''.join(f'{k} = {fmt.fmt(v, k)}\n' for k, v in cfg.items())
    if helpers:
        names = textwrap.fill(', '.join(helpers) + ',', _Formatter.width - 4, initial_indent='    ',
                              subsequent_indent='    ', break_on_hyphens=False)
        text += ('# helper variables: values the original config read itself (not keys)\n'
                 f'{HELPERS_KEY} = (\n{names}\n)\n')
    return text


# ---------------------------------------------------------------------------------------------- Config


def _set_path(node: Any, parts: Sequence[str], value: Any, done: str) -> Any:
    """Return ``node`` with ``value`` set at the dotted path ``parts``; ``done`` is the path walked so far."""
    key, rest = parts[0], parts[1:]
    here = f'{done}.{key}' if done else key
    if isinstance(node, (list, tuple)):
        if not key.isdigit():
            raise ConfigError(f"cannot set '{here}': '{done}' is a {type(node).__name__}, index it with an integer")
        idx = int(key)
        if idx >= len(node):
            raise ConfigError(f"cannot set '{here}': index {idx} is out of range for '{done}' "
                              f"(a {type(node).__name__} of length {len(node)})")
        items = list(node)
        items[idx] = _set_path(items[idx], rest, value, here) if rest else _assign(items[idx], value, here)
        return type(node)(items) if type(node) is tuple else items
    if isinstance(node, dict):
        out = ConfigDict(node)
        if rest:
            out[key] = _set_path(out.get(key, ConfigDict()), rest, value, here)
        else:
            out[key] = _assign(out.get(key), value, here)
        return out
    raise ConfigError(f"cannot set '{here}': '{done}' is {type(node).__name__} {node!r}, not a dict or list")


def _assign(old: Any, new: Any, path: str) -> Any:
    if isinstance(new, dict) and isinstance(old, dict) and not new.get(DELETE_KEY, False):
        return _merge(new, old, 'merge_from_dict', f'{path}.')
    return _strip_delete(new)


class Config:
    """A resolved config: a :class:`ConfigDict` plus the file it came from.

    Keys are reachable as attributes (``cfg.model.backbone.type``) and items (``cfg['model']``).
    """

    def __init__(self, cfg_dict: Optional[dict] = None, filename: Optional[str] = None,
                 text: Optional[str] = None):
        if cfg_dict is None:
            cfg_dict = {}
        if not isinstance(cfg_dict, dict):
            raise ConfigError(f'cfg_dict must be a dict, got {type(cfg_dict).__name__}')
        for key in RESERVED_KEYS:
            if key in cfg_dict:
                raise ConfigError(f"config {filename or '<dict>'} uses the reserved key '{key}'")
        if text is None:
            text = ''
            if filename is not None and osp.isfile(filename):
                with open(filename, encoding='utf-8') as f:
                    text = f.read()
        object.__setattr__(self, '_cfg_dict', ConfigDict(cfg_dict))
        object.__setattr__(self, '_filename', None if filename is None else str(filename))
        object.__setattr__(self, '_text', text)

    @classmethod
    def fromfile(cls, filename: str) -> 'Config':
        """Read and resolve the Python config at ``filename`` (with its ``_base_`` files)."""
        path = osp.abspath(osp.expanduser(str(filename)))
        if not osp.isfile(path):
            raise ConfigFileNotFoundError(f'config file not found: {filename}')
        cfg_dict, texts = _file2dict(path)
        text = '\n'.join(f'# ---- {f} ----\n{t.rstrip()}\n' for f, t in texts)
        return cls(cfg_dict, filename=str(filename), text=text)

    # -- properties and dict-like access
    @property
    def filename(self) -> Optional[str]:
        return self._filename

    @property
    def text(self) -> str:
        """Contents of every file the config was read from, bases first (for logs)."""
        return self._text

    @property
    def pretty_text(self) -> str:
        """The resolved config as Python source that :meth:`fromfile` reads back to the same dict."""
        return _format_config(self._cfg_dict, strict=False, helpers=self.helper_keys)

    @property
    def helper_keys(self) -> List[str]:
        """Top-level keys that the config's own files read (``classes`` in ``num_classes=len(classes)``).

        A dump lists them on its last line, so a config read back from its dump reports the same keys.
        """
        read = names_read(self._text)
        return [k for k in self._cfg_dict if k in read]

    def __getattr__(self, name: str) -> Any:
        cfg_dict = self.__dict__.get('_cfg_dict')
        if cfg_dict is None or name.startswith('__'):
            raise ConfigAttributeError(name)
        return getattr(cfg_dict, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in RESERVED_KEYS:
            raise ConfigError(f"'{name}' is a reserved config attribute and cannot be set")
        self._cfg_dict[name] = value

    def __delattr__(self, name: str) -> None:
        delattr(self._cfg_dict, name)

    def __getitem__(self, key: str) -> Any:
        return self._cfg_dict[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._cfg_dict[key] = value

    def __delitem__(self, key: str) -> None:
        del self._cfg_dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._cfg_dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._cfg_dict)

    def __len__(self) -> int:
        return len(self._cfg_dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return self._cfg_dict == other._cfg_dict
        return isinstance(other, dict) and self._cfg_dict == other

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    def __repr__(self) -> str:
        return f'Config (path: {self._filename}): {self._cfg_dict.to_dict()!r}'

    def get(self, key: str, default: Any = None) -> Any:
        return self._cfg_dict.get(key, default)

    def keys(self):
        return self._cfg_dict.keys()

    def values(self):
        return self._cfg_dict.values()

    def items(self):
        return self._cfg_dict.items()

    def to_dict(self) -> dict:
        return self._cfg_dict.to_dict()

    # -- pickling and copying
    def __getstate__(self) -> Tuple[ConfigDict, Optional[str], str]:
        return self._cfg_dict, self._filename, self._text

    def __setstate__(self, state: Tuple[ConfigDict, Optional[str], str]) -> None:
        for name, value in zip(('_cfg_dict', '_filename', '_text'), state):
            object.__setattr__(self, name, value)

    def __copy__(self) -> 'Config':
        return Config(self._cfg_dict, self._filename, self._text)

    def __deepcopy__(self, memo: dict) -> 'Config':
        out = Config.__new__(Config)
        memo[id(self)] = out
        out.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return out

    # -- changing and writing
    def merge_from_dict(self, options: Dict[str, Any]) -> None:
        """Set values by dotted key, e.g. ``{'model.backbone.depths': [1, 1, 1, 1]}``.

        Missing dict keys are created; an integer component indexes into a list
        (``'data.train.pipeline.1.img_scale'``). A dict value is deep-merged into an existing dict.
        """
        new = self._cfg_dict
        for full_key, value in options.items():
            parts = str(full_key).split('.')
            if any(p == '' for p in parts):
                raise ConfigError(f"invalid option key '{full_key}': empty component")
            new = _set_path(new, parts, value, '')
        object.__setattr__(self, '_cfg_dict', ConfigDict(new))

    def dump(self, file: str) -> None:
        """Write the resolved config to ``file`` (a ``.py``) so that :meth:`fromfile` reads back an equal dict."""
        if not str(file).endswith('.py'):
            raise ConfigError(f'can only dump to a .py file, got {file}')
        # format first: a failure leaves ``file`` untouched
        text = _format_config(self._cfg_dict, strict=True, helpers=self.helper_keys)
        with open(file, 'w', encoding='utf-8') as f:
            f.write(text)


# ---------------------------------------------------------------------------------------------- argparse

_PAIRS = {'(': ')', '[': ']'}


def _split_top(text: str, option: str) -> List[str]:
    """Split ``text`` on commas that are not inside brackets or quotes.

    A quote only opens a quoted string at the start of an item, so ``it's`` stays a plain word.
    """
    parts, depth, quote, start, item_start = [], [], None, 0, True
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote, item_start = None, False
            continue
        if ch.isspace():
            continue
        if ch in '\'"' and item_start:
            quote = ch
        elif ch in _PAIRS:
            depth.append(_PAIRS[ch])
        elif ch in ')]':
            if not depth or depth.pop() != ch:
                raise ValueError(f"unbalanced '{ch}' in {option!r}")
        elif ch == ',' and not depth:
            parts.append(text[start:i])
            start = i + 1
        item_start = ch in ',(['
    if depth or quote:
        raise ValueError(f'unclosed bracket or quote in {option!r}')
    parts.append(text[start:])
    return parts


def _quoted(text: str) -> bool:
    return len(text) >= 2 and text[0] in '\'"' and text[-1] == text[0] and text[0] not in text[1:-1]


def _wrapped(text: str) -> bool:
    """True when the first character's bracket closes at the very last character."""
    if not text or text[0] not in _PAIRS or text[-1] != _PAIRS[text[0]]:
        return False
    try:
        return len(_split_top(text[1:-1], text)) >= 1
    except ValueError:
        return False


def _parse_scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ('true', 'false'):
        return text.lower() == 'true'
    if text == 'None':
        return None
    return text


def parse_option_value(text: str) -> Any:
    """Parse one ``--cfg-options`` value: int, float, bool, None, list, tuple (nested) or string."""
    text = text.strip()
    if _wrapped(text):
        inner = text[1:-1].strip()
        items = [] if inner == '' else _split_top(inner, text)
        if items and items[-1].strip() == '':  # trailing comma, as in ``(1,)``
            items = items[:-1]
        values = [parse_option_value(x) for x in items]
        return tuple(values) if text[0] == '(' else values
    if _quoted(text):
        return text[1:-1]  # quoted: always a string, kept verbatim
    parts = _split_top(text, text)
    if len(parts) > 1:
        if parts[-1].strip() == '':  # trailing comma: ``1,`` is ``[1]``
            parts = parts[:-1]
        return [parse_option_value(x) for x in parts]
    return _parse_scalar(text)


class DictAction(argparse.Action):
    """argparse action turning ``KEY=VALUE`` words into a dict, for ``--cfg-options``.

    ``VALUE`` is an int, float, bool (``True``/``False``), ``None``, a list (``[a,b]`` or ``a,b``), a tuple
    (``(a,b)``), nested brackets (``[(1,2),(3,4)]``) or a string (anything else, or anything in quotes).
    """

    def __init__(self, option_strings, dest, nargs='+', **kwargs):
        super().__init__(option_strings, dest, nargs=nargs, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        options = {}
        for item in values if isinstance(values, list) else [values]:
            key, sep, val = item.partition('=')
            if not sep or not key.strip():
                raise argparse.ArgumentError(self, f"expected KEY=VALUE, got '{item}'")
            try:
                options[key.strip()] = parse_option_value(val)
            except ValueError as e:
                raise argparse.ArgumentError(self, f"cannot parse value of '{key}': {e}") from None
        setattr(namespace, self.dest, options)
