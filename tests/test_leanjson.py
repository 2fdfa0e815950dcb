"""The hot path's JSON reader and writer match the json module."""
import json
import subprocess
import sys

import pytest

from minioci import leanjson

DOCS = ['{"a": [1, 2.5, "x\\u00e9", true, null], "b": {}}', " [ ] ", '"\\ud83d\\ude00"', "-0.5e3",
        '{"nested": {"deep": [[[{}]]]}}']


@pytest.mark.parametrize("text", DOCS)
def test_loads_matches_json(text):
    assert leanjson.loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ['{"a": 1,}', "[1,2", '{"a":1} x', "", '"\\x"', "NaN", "[Infinity]"])
def test_bad_json_raises_value_error_with_position(text):
    with pytest.raises(ValueError):
        leanjson.loads(text)


def test_error_message_is_jsons():
    with pytest.raises(ValueError, match=r"line 1 column 9"):
        leanjson.loads('{"a": 1,}')


def test_dumps_is_compact_and_sorted():
    obj = {"b": [1, "é", None, True], "a": {"z": 1.5}}
    assert leanjson.dumps(obj) == json.dumps(obj, sort_keys=True, separators=(",", ":"))


def test_does_not_import_re_or_json():
    code = (f"import sys; sys.path[:0] = {[p for p in sys.path if p]!r}\n"
            "import minioci.leanjson as j; j.loads('{\"a\": [1]}'); j.dumps({'a': 1})\n"
            "print(sorted(m for m in ('re', 'json', 'enum') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_deep_nesting_is_a_value_error_not_a_recursion_error():
    with pytest.raises(ValueError, match="nested too deeply"):
        leanjson.loads("[" * 100000 + "]" * 100000)
