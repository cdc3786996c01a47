"""json.lua, the JSON module cells get: loaded into a whitelist environment like the sandbox's.

`tests.lua_env.Sandbox` rebuilds just enough of it (a whitelist env,
`load(src, "=json", "t", env)`) to test the module on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.lua_env import LUA_DIR, WHITELIST_FUNCTIONS, WHITELIST_LIBRARIES, Sandbox, lua54


@pytest.fixture
def lua() -> Sandbox:
    return Sandbox("json")


@pytest.fixture
def encode(lua: Sandbox) -> Callable[[str], str]:
    """Encode the value of a Lua expression."""
    return lambda expr: lua.run(f"return json.encode({expr})")


# --- encode ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        ("nil", "null"),
        ("json.null", "null"),
        ("true", "true"),
        ("false", "false"),
        ("42", "42"),
        ("-7", "-7"),
        ("math.mininteger", "-9223372036854775808"),
        ("1.5", "1.5"),
        ("0.1", "0.1"),
        ("3.0", "3.0"),
        ("-0.0", "-0.0"),
        ("1e300", "1e+300"),
        ('"hi"', '"hi"'),
    ],
)
def test_encode_scalars(encode: Callable[[str], str], expr: str, text: str) -> None:
    assert encode(expr) == text


def test_floats_are_written_with_enough_digits_to_read_back_exactly(lua: Sandbox) -> None:
    values = "{0.1 + 0.2, 1/3, 2^-1074, 1.7976931348623157e308, 123456.789e-10, -2.5e-5}"
    same = lua.run(f"""
        local values = {values}
        local back = json.decode(json.encode(values))
        for i, v in ipairs(values) do
          if back[i] ~= v or math.type(back[i]) ~= "float" then return false end
        end
        return true
    """)
    assert same is True


def test_integers_stay_integers_and_floats_stay_floats_through_a_round_trip(lua: Sandbox) -> None:
    types = lua.run("""
        local back = json.decode(json.encode({1, 2.0, -3, 1e3, 2^53}))
        local t = {}
        for i, v in ipairs(back) do t[i] = math.type(v) end
        return table.concat(t, " ")
    """)
    assert types == "integer float integer float float"


def test_strings_escape_quotes_backslashes_and_every_control_character(lua: Sandbox) -> None:
    text = lua.run(r"""
        local chars = {}
        for b = 0, 31 do chars[#chars + 1] = string.char(b) end
        return json.encode('say "hi" \\ ' .. table.concat(chars) .. "\127/")
    """)
    assert "\\u0000" in text
    assert '\\"hi\\"' in text
    assert all(ord(c) >= 0x20 for c in text)
    assert json.loads(text) == 'say "hi" \\ ' + "".join(map(chr, range(32))) + "\x7f/"


def test_valid_utf8_passes_through_unescaped(encode: Callable[[str], str]) -> None:
    assert encode('"héllo → 世界 😀"') == '"héllo → 世界 😀"'


def test_invalid_utf8_is_refused_with_the_byte_position(lua: Sandbox) -> None:
    message = lua.error(r'return json.encode({name = "ab\xff"})')
    assert "json.encode: string is not valid UTF-8 at value.name" in message
    assert "byte 3" in message


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        ("{1, 2, 3}", "[1,2,3]"),
        ("{}", "[]"),
        ("json.object()", "{}"),
        ("json.empty_object", "{}"),
        ("{a = 1}", '{"a":1}'),
        ("json.object({[2] = 'b'})", '{"2":"b"}'),
        ("{{}, {x = {}}}", '[[],{"x":[]}]'),
        ("{1, json.null, 3}", "[1,null,3]"),
    ],
)
def test_tables_encode_as_arrays_or_objects(
    encode: Callable[[str], str], expr: str, text: str
) -> None:
    assert encode(expr) == text


def test_json_object_works_on_a_table_that_already_has_a_metatable(lua: Sandbox) -> None:
    text = lua.run("""
        local t = setmetatable({}, {__index = function() return 1 end})
        return json.encode(json.object(t))
    """)
    assert text == "{}"


def test_empty_objects_survive_a_round_trip(lua: Sandbox) -> None:
    lua.env.text = '{"a": {}, "b": []}'
    text = lua.run("return json.encode(json.decode(text), {sort_keys = true})")
    assert text == '{"a":{},"b":[]}'


def test_json_null_and_json_empty_object_are_read_only(lua: Sandbox) -> None:
    assert "json.null is read-only" in lua.error("json.null.x = 1")
    assert "json.empty_object is read-only" in lua.error("json.empty_object.x = 1")
    assert lua.run("return tostring(json.null)") == "json.null"


def test_array_with_a_hole_is_refused_naming_the_missing_index(lua: Sandbox) -> None:
    message = lua.error("return json.encode({items = {1, 2, nil, 4}})")
    assert "json.encode: array has a hole at value.items" in message
    assert "index 3 is missing" in message
    assert "json.null" in message


def test_table_with_array_items_and_string_keys_is_refused_with_a_hint(lua: Sandbox) -> None:
    message = lua.error("return json.encode({1, 2, name = 'x'})")
    assert "both array items and string keys" in message
    assert "json.object(t)" in message


@pytest.mark.parametrize("key", ["0", "-1", "1.5", "true"])
def test_keys_that_are_neither_array_indexes_nor_strings_are_refused(
    lua: Sandbox, key: str
) -> None:
    message = lua.error(f"return json.encode({{[{key}] = 1}})")
    assert "json.encode: cannot encode a table key" in message


@pytest.mark.parametrize(
    ("expr", "name"), [("0/0", "NaN"), ("math.huge", "inf"), ("-math.huge", "-inf")]
)
def test_nan_and_infinity_are_refused(lua: Sandbox, expr: str, name: str) -> None:
    message = lua.error(f"return json.encode({{x = {{{expr}}}}})")
    assert f"json.encode: cannot encode {name} at value.x[1]" in message
    assert "JSON has no NaN or infinity" in message


def test_functions_are_refused_with_their_path(lua: Sandbox) -> None:
    message = lua.error('return json.encode({a = {["b c"] = {function() end}}})')
    assert 'cannot encode a value of type function at value.a["b c"][1]' in message


def test_a_table_that_contains_itself_is_refused(lua: Sandbox) -> None:
    message = lua.error("local t = {name = 'loop'} t.child = {t} return json.encode(t)")
    assert "json.encode: cannot encode a table that contains itself at value.child[1]" in message


def test_a_table_shared_by_two_branches_is_not_a_cycle(encode: Callable[[str], str]) -> None:
    assert encode("(function() local s = {1} return {s, {s}} end)()") == "[[1],[[1]]]"


def test_encode_refuses_nesting_deeper_than_max_depth(lua: Sandbox) -> None:
    def nest(n: int) -> str:
        return f"local v = {{}} local c = v for i = 1, {n} do c[1] = {{}} c = c[1] end "

    assert lua.run(nest(199) + "return #json.encode(v)") == 400
    message = lua.error(nest(200) + "return json.encode(v)")
    assert "nesting is deeper than max_depth (200)" in message
    assert lua.run(nest(500) + "return #json.encode(v, {max_depth = 501})") == 1002


def test_encode_refuses_output_larger_than_max_size(lua: Sandbox) -> None:
    message = lua.error("return json.encode({string.rep('x', 100)}, {max_size = 50})")
    assert "output is larger than max_size (50 bytes)" in message


def test_indent_pretty_prints_with_sorted_keys(lua: Sandbox) -> None:
    text = lua.run(
        "return json.encode({b = {1, 2}, a = {}, c = {x = json.object()}}, {indent = 2})"
    )
    assert text == '{\n  "a": [],\n  "b": [\n    1,\n    2\n  ],\n  "c": {\n    "x": {}\n  }\n}'


def test_sort_keys_also_works_without_indent(encode: Callable[[str], str]) -> None:
    assert encode("{c = 1, a = 2, b = 3}, {sort_keys = true}") == '{"a":2,"b":3,"c":1}'


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ("{indnet = 2}", 'unknown option "indnet"'),
        ("{indent = 'x'}", "opts.indent must be"),
        ("{max_depth = 0}", "opts.max_depth must be an integer"),
        ("{sort_keys = 'yes'}", "opts.sort_keys must be true or false"),
        ("'pretty'", "opts must be a table"),
    ],
)
def test_bad_options_are_refused(lua: Sandbox, opts: str, message: str) -> None:
    assert message in lua.error(f"return json.encode({{}}, {opts})")


# --- decode ----------------------------------------------------------------------------------


def test_decode_builds_lua_values(lua: Sandbox) -> None:
    result = lua.run("""
        local v = json.decode(' {"n": 1, "f": 2.5, "s": "x", "t": true, "nil": null,'
          .. ' "a": [1, [2]]} ')
        return v.n, v.f, v.s, v.t, v["nil"] == json.null, v.a[2][1], math.type(v.n)
    """)
    assert result == (1, 2.5, "x", True, True, 2, "integer")


def test_decode_keeps_null_array_items_so_lengths_stay_right(lua: Sandbox) -> None:
    assert lua.run("local a = json.decode('[null, 2, null]') return #a, a[1] == json.null") == (
        3,
        True,
    )


def test_decode_unicode_escapes_including_surrogate_pairs(lua: Sandbox) -> None:
    text = lua.run(r"""return json.decode([["\u0041\u00e9\u4e16\ud83d\ude00\n\t\/\\\""]])""")
    assert text == 'Aé世😀\n\t/\\"'


def test_decode_passes_raw_utf8_through(lua: Sandbox) -> None:
    assert lua.run("""return json.decode('"héllo 世界"')""") == "héllo 世界"


@pytest.mark.parametrize("escape", [r"\ud800", r"\udc00", r"\ud800\u0041", r"\ud800x"])
def test_decode_refuses_unpaired_surrogates(lua: Sandbox, escape: str) -> None:
    message = lua.error(f"""return json.decode([["{escape}"]])""")
    assert "unpaired surrogate" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2 x]", "json.decode: unexpected character 'x' at position 7; expected ',' or ']'"),
        ("[1,]", "unexpected character ']' at position 4; expected a value"),
        ('{"a" 1}', "unexpected character '1' at position 6; expected ':'"),
        ("{a: 1}", "unexpected character 'a' at position 2; expected a string key"),
        ('{"a": 1,}', "unexpected character '}' at position 9; expected a string key"),
        ("[1] 2", "unexpected character '2' at position 5; expected end of input"),
        ("", "unexpected end of input at position 1; expected a value"),
        ("[1, 2", "unexpected end of input at position 6; expected ',' or ']'"),
        ('"abc', "unterminated string at position 1"),
        ('"a\nb"', "unescaped control character U+000A in string at position 3"),
        (r'"\x"', "invalid escape '\\x' in string at position 2"),
        (r'"\u12G4"', "invalid \\u escape (expected 4 hex digits) at position 2"),
        ("01", "invalid number (leading zero) at position 1"),
        ("1.", "invalid number (digits expected after '.') at position 2"),
        ("1e+", "invalid number (digits expected in the exponent) at position 2"),
        ("-", "invalid number at position 1"),
        (".5", "unexpected character '.' at position 1"),
        ("True", "unexpected word 'True' at position 1; expected a value (JSON literals are"),
        ("NaN", "unexpected word 'NaN' at position 1"),
        ("'single'", "unexpected character ''' at position 1"),
        ('{\n  "a": 1,\n  "b": tru\n}', "unexpected word 'tru' at position 20 (line 3, column 8)"),
    ],
)
def test_decode_errors_say_what_is_wrong_and_where(lua: Sandbox, text: str, message: str) -> None:
    lua.env.text = text
    assert message in lua.error("return json.decode(text)")


def test_decode_refuses_invalid_utf8_with_its_position(lua: Sandbox) -> None:
    assert "invalid UTF-8 at position 3" in lua.error(r"""return json.decode('"a\xff"')""")


def test_decode_skips_a_utf8_byte_order_mark(lua: Sandbox) -> None:
    assert lua.run(r"""return json.decode("\xEF\xBB\xBF[7]")[1]""") == 7


def test_decode_refuses_nesting_deeper_than_max_depth(lua: Sandbox) -> None:
    assert lua.run("return #json.decode(string.rep('[', 200) .. string.rep(']', 200))") == 1
    message = lua.error("return json.decode(string.rep('[', 201) .. string.rep(']', 201))")
    assert "nesting is deeper than max_depth (200) at position 201" in message
    deep = "string.rep('[', 5000) .. string.rep(']', 5000)"
    assert lua.run(f"return #json.decode({deep}, {{max_depth = 5000}})") == 1


def test_decode_stops_early_on_hostile_deep_nesting(lua: Sandbox) -> None:
    message = lua.error("return json.decode(string.rep('[', 10 * 1024 * 1024))")
    assert "nesting is deeper than max_depth (200)" in message


def test_decode_refuses_input_larger_than_max_size(lua: Sandbox) -> None:
    message = lua.error("return json.decode('[' .. string.rep(' ', 100) .. ']', {max_size = 64})")
    assert "input is 102 bytes, larger than max_size (64 bytes)" in message


def test_decode_handles_long_strings_with_many_escapes_in_linear_time(lua: Sandbox) -> None:
    # Quadratic string building would not finish: 3 MB of escapes in one string.
    ok = lua.run(r"""
        local s = string.rep('a\n"\\', 750000)
        return json.decode(json.encode(s)) == s
    """)
    assert ok is True


def test_decode_refuses_a_non_string(lua: Sandbox) -> None:
    assert "json.decode: expected a string, got table" in lua.error("return json.decode({})")


def test_round_trip_matches_python_json(lua: Sandbox) -> None:
    doc = {
        "name": "Ada",
        "tags": ["a", "b"],
        "n": 3,
        "ratio": 0.25,
        "nested": {"ok": True, "none": None, "empty": {}},
    }
    lua.env.text = json.dumps(doc)
    text = lua.run("return json.encode(json.decode(text))")
    assert json.loads(text) == doc


# --- how errors surface and what the module may touch ------------------------------------------


def test_errors_are_reported_at_the_line_of_the_cell_that_called(lua: Sandbox) -> None:
    message = lua.error("local a = 1\nlocal v = json.decode('[')\nreturn v")
    assert message.startswith("cell:2: json.decode: unexpected end of input")


def test_errors_raised_by_the_host_during_a_call_pass_through_unchanged(lua: Sandbox) -> None:
    # A time limit arrives as an error from a hook; the module must not rewrap or swallow it.
    same = lua.lua.execute(
        """
        local env = ...
        local sentinel = setmetatable({}, {__tostring = function() return "limit" end})
        local big = {}
        for i = 1, 100000 do big[i] = {i, "x"} end
        debug.sethook(function() error(sentinel, 0) end, "", 10000)
        local ok, err = pcall(env.json.encode, big)
        debug.sethook()
        return ok, rawequal(err, sentinel)
        """,
        lua.env,
    )
    assert same == (False, True)


def test_module_ignores_later_changes_to_globals(lua: Sandbox) -> None:
    text = lua.run("""
        string.format, string.find, string.gsub, table.concat, table.sort = nil
        pairs, next, type, pcall, error, setmetatable, getmetatable = nil
        math.type, utf8.len, utf8.char = nil
        return json.encode(json.decode([[{"b": [1.5, "\u00e9"], "a": null}]]), {sort_keys = true})
    """)
    assert text == '{"a":null,"b":[1.5,"é"]}'


def test_module_reads_only_whitelisted_globals_and_only_while_loading() -> None:
    lua = lua54.LuaRuntime(register_eval=False, register_builtins=False)
    audit = lua.execute(
        """
        local functions, libraries, source, errors_source = ...
        local allowed, seen = {}, {}
        for _, name in ipairs(functions) do allowed[name] = _G[name] end
        for _, name in ipairs(libraries) do allowed[name] = _G[name] end
        local env = setmetatable({}, {
          __index = function(_, k) seen[#seen + 1] = k return allowed[k] end,
          __newindex = function(_, k) error("module wrote global " .. tostring(k)) end,
        })
        local errors = assert(load(errors_source, "=errors", "t", env))()
        local mod = assert(load(source, "=json", "t", env))(errors)
        local at_load = #seen
        mod.decode(mod.encode({a = {1, 2.5, "x", mod.null}}, {indent = 1}))
        pcall(mod.decode, "[1,")
        return table.concat(seen, " "), at_load == #seen
        """,
        lua.table_from(WHITELIST_FUNCTIONS),
        lua.table_from(WHITELIST_LIBRARIES),
        (LUA_DIR / "json.lua").read_text(encoding="utf-8"),
        (LUA_DIR / "errors.lua").read_text(encoding="utf-8"),
    )
    names, nothing_after_load = audit
    assert set(names.split()) <= set(WHITELIST_FUNCTIONS) | set(WHITELIST_LIBRARIES)
    assert nothing_after_load
