"""JSON for the hot path, without importing `json`.

`import json` pulls in `re` (with enum and friends), about 9 ms here, on every
container start.  The C scanner and encoder behind `json` live in `_json` and
need none of that; this module drives them directly.  Errors fall back to the
real `json` module, so messages (line and column) are the standard ones.
"""
import _json


def _constant(name):
    # json.loads accepts NaN and Infinity; a config must not.
    raise ValueError(f"{name} is not valid JSON")


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo = {}


_scan = _json.make_scanner(_Context)
_WS = " \t\n\r"


def loads(text):
    """Parse `text` like json.loads; raise ValueError with json's message."""
    start = len(text) - len(text.lstrip(_WS))
    try:
        value, end = _scan(text, start)
        if text[end:].strip(_WS):
            raise ValueError("extra data")
        return value
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except (StopIteration, ValueError, SystemError):
        # SystemError: the C scanner raises json.decoder.JSONDecodeError only
        # when json.decoder is already imported, and fails oddly otherwise.
        import json
        json.loads(text)   # raises json.JSONDecodeError with line and column
        raise              # not reached: json accepted what the scanner refused


def _unsupported(obj):
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


_encode = _json.make_encoder(None, _unsupported, _json.encode_basestring_ascii,
                             None, ":", ",", True, False, False)


def dumps(obj):
    """Compact JSON with sorted keys, as json.dumps(obj, sort_keys=True,
    separators=(",", ":")) would write it."""
    return "".join(_encode(obj, 0))
