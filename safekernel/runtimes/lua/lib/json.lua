-- json: JSON (RFC 8259) for sandboxed cells.
--
--   json.encode(value [, opts]) -> string
--       opts.indent     number of spaces (0..16) or a string of spaces/tabs: pretty output
--       opts.sort_keys  sort object keys (default: true when indent is given, false otherwise)
--       opts.max_depth  deepest nesting allowed (default 200)
--       opts.max_size   longest output allowed, in bytes (default 10 MB)
--   json.decode(text [, opts]) -> value
--       opts.max_depth, opts.max_size as above (max_size limits the input)
--   json.null           the value that stands for JSON null (decode produces it, encode accepts it)
--   json.object([t])    marks t (default: a new table) to encode as an object, even when empty
--   json.empty_object   a read-only empty table that encodes as {}
--
-- Lua tables have no array/object distinction, so: a table whose keys are exactly 1..n is an
-- array, a table with string keys is an object, and an empty table is [] unless json.object()
-- marked it (decode marks every object it builds, so '{}' survives a round trip). Integers stay
-- integers, floats are written with the fewest digits that read back exactly.
--
-- The module is loaded as a text chunk into the sandbox's whitelist environment. Everything it
-- uses is captured below, so a cell that later reassigns a global cannot change its behaviour.

local type, next, pcall, error = type, next, pcall, error
local tostring, tonumber = tostring, tonumber
local setmetatable, getmetatable = setmetatable, getmetatable
local rawget, rawequal = rawget, rawequal
local byte, char, find, format = string.byte, string.char, string.find, string.format
local gsub, match, rep, sub = string.gsub, string.match, string.rep, string.sub
local concat, sort = table.concat, table.sort
local mathtype, huge = math.type, math.huge
local utf8char, utf8len, charpattern = utf8.char, utf8.len, utf8.charpattern

local DEFAULT_MAX_DEPTH = 200
-- Nesting is parsed by recursion: past this depth Lua's own stack limit would fail first, with
-- a message that does not say what happened.
local HARD_MAX_DEPTH = 10000
local DEFAULT_MAX_SIZE = 10 * 1024 * 1024
local MAX_INDENT = 16

local json = {}

-- fail(msg) inside, public(name, fn) at the boundary: see errors.lua, which the loader
-- hands to every module
local errors = ...
local fail, public = errors.fail, errors.public

local function read_only(name)
  return {
    __newindex = function()
      error(name .. " is read-only", 2)
    end,
    __tostring = function()
      return name
    end,
    __metatable = name,
  }
end

local null = setmetatable({}, read_only("json.null"))
json.null = null

-- Tables that must encode as objects. Weak keys: marking a table does not keep it alive, and
-- the mark needs no metatable, so json.object() also works on tables that already have one.
local objects = setmetatable({}, { __mode = "k" })

local empty_object = setmetatable({}, read_only("json.empty_object"))
objects[empty_object] = true
json.empty_object = empty_object

function json.object(t)
  if t == nil then
    t = {}
  elseif type(t) ~= "table" then
    error("json.object: expected a table, got " .. type(t), 2)
  end
  objects[t] = true
  return t
end

local OPTIONS = {
  ["json.encode"] = { indent = true, sort_keys = true, max_depth = true, max_size = true },
  ["json.decode"] = { max_depth = true, max_size = true },
}

local function limit_option(opts, key, default, hard_max)
  local v = opts[key]
  if v == nil then
    return default
  end
  if mathtype(v) ~= "integer" or v < 1 or v > hard_max then
    fail(format("opts.%s must be an integer from 1 to %d", key, hard_max))
  end
  return v
end

local function check_options(name, opts)
  return errors.options(opts, OPTIONS[name])
end

local function indent_unit(indent)
  if indent == nil then
    return nil
  end
  if mathtype(indent) == "integer" and indent >= 0 and indent <= MAX_INDENT then
    return rep(" ", indent)
  end
  if type(indent) == "string" and #indent <= MAX_INDENT and not find(indent, "[^ \t]") then
    return indent
  end
  fail(format("opts.indent must be a number of spaces (0 to %d) or a string of spaces/tabs",
    MAX_INDENT))
end

---------------------------------------------------------------------------------------------------
-- encode

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for b = 0, 31 do
  ESCAPES[char(b)] = ESCAPES[char(b)] or format("\\u%04x", b)
end
ESCAPES["\127"] = "\\u007f"

-- Returns the JSON text of a Lua string, or nil and the byte position of invalid UTF-8.
local function quote(s)
  local ok, bad = utf8len(s)
  if not ok then
    return nil, bad
  end
  return '"' .. gsub(s, '[%c"\\]', ESCAPES) .. '"'
end

-- The shortest of %.15g/%.16g/%.17g that reads back as the same float: 0.1 stays "0.1".
local function float_text(x)
  local s
  for digits = 15, 17 do
    s = format("%." .. digits .. "g", x)
    if tonumber(s) == x then
      break
    end
  end
  if not find(s, "[.eEn]") then
    s = s .. ".0" -- still a float when decoded again
  end
  return s
end

local function number_text(x)
  if mathtype(x) == "integer" then
    return format("%d", x)
  end
  if x ~= x then
    return nil, "NaN"
  end
  if x == huge or x == -huge then
    return nil, x > 0 and "inf" or "-inf"
  end
  return float_text(x)
end

-- Where a value sits, as Lua indexing from the argument: value.users[3].name. A deep path keeps
-- its first and last few steps.
local PATH_STEPS_SHOWN = 6

local function step_text(k)
  if type(k) == "string" and find(k, "^[%a_][%w_]*$") then
    return "." .. k
  elseif type(k) == "string" then
    return format("[%q]", k)
  end
  return format("[%s]", tostring(k))
end

local function path_text(path, depth)
  local parts, n = { "value" }, 1
  for i = 1, depth do
    if depth <= 2 * PATH_STEPS_SHOWN or i <= PATH_STEPS_SHOWN or i > depth - PATH_STEPS_SHOWN then
      n = n + 1
      parts[n] = step_text(path[i])
    elseif i == PATH_STEPS_SHOWN + 1 then
      n = n + 1
      parts[n] = "..."
    end
  end
  return concat(parts)
end

local function describe_key(k)
  if type(k) == "string" then
    return format("%q", k)
  end
  return format("[%s]", tostring(k))
end

local function encode(value, opts)
  opts = check_options("json.encode", opts)
  local max_depth = limit_option(opts, "max_depth", DEFAULT_MAX_DEPTH, HARD_MAX_DEPTH)
  local max_size = limit_option(opts, "max_size", DEFAULT_MAX_SIZE, 1 << 40)
  local unit = indent_unit(opts.indent)
  local sort_keys = opts.sort_keys
  if sort_keys == nil then
    sort_keys = unit ~= nil
  elseif type(sort_keys) ~= "boolean" then
    fail("opts.sort_keys must be true or false")
  end

  local buf, n, size = {}, 0, 0
  local path, on_path = {}, {}
  local newlines = {} -- newlines[d]: "\n" and the indentation of depth d, built once

  local function emit(s)
    size = size + #s
    if size > max_size then
      fail(format("output is larger than max_size (%d bytes)", max_size))
    end
    n = n + 1
    buf[n] = s
  end

  -- "what" at the path of the value being encoded, then an optional hint.
  local function failure(what, depth, hint)
    local where = depth > 0 and " at " .. path_text(path, depth) or ""
    fail(what .. where .. (hint and "; " .. hint or ""))
  end

  local function newline(depth)
    local s = newlines[depth]
    if not s then
      s = "\n" .. rep(unit, depth)
      newlines[depth] = s
    end
    emit(s)
  end

  local encode_value

  local function encode_string(s, depth)
    local text, bad = quote(s)
    if not text then
      failure("string is not valid UTF-8", depth, format("byte %d is invalid", bad))
    end
    emit(text)
  end

  -- Returns "array" (with its length), "object" or "empty" after checking every key.
  local function classify(t, depth)
    local count, string_key, int_key, other = 0, nil, nil, nil
    for k in next, t do
      if type(k) == "string" then
        string_key = string_key or k
      elseif mathtype(k) == "integer" and k > 0 then
        count = count + 1
        int_key = int_key or k
      else
        other = k
        break
      end
    end
    local forced = objects[t]
    if other ~= nil then
      local key = mathtype(other) and "[" .. tostring(other) .. "]" or "of type " .. type(other)
      failure("cannot encode a table key " .. key, depth,
        "arrays start at index 1 and object keys must be strings")
    elseif forced then
      return "object"
    elseif string_key and int_key then
      failure(format("table has both array items and string keys (%s and %s)",
        describe_key(int_key), describe_key(string_key)), depth,
        "use json.object(t) to encode it as an object")
    elseif string_key then
      return "object"
    elseif count == 0 then
      return "empty"
    end
    for i = 1, count do -- a hole, if any, is at or before count (pigeonhole)
      if rawget(t, i) == nil then
        failure("array has a hole", depth,
          format("index %d is missing (use json.null for null items)", i))
      end
    end
    return "array", count
  end

  local function encode_array(t, count, depth)
    emit("[")
    for i = 1, count do
      if i > 1 then
        emit(",")
      end
      if unit then
        newline(depth + 1)
      end
      path[depth + 1] = i
      encode_value(rawget(t, i), depth + 1)
    end
    if unit then
      newline(depth)
    end
    emit("]")
  end

  local function object_keys(t, depth)
    local keys, original, count = {}, {}, 0
    for k in next, t do
      local name = k
      if type(k) ~= "string" then
        name = format("%d", k) -- integer keys of a json.object() table
        if rawget(t, name) ~= nil then
          failure(format("duplicate key %q", name), depth,
            format("both [%q] and [%s] are set", name, name))
        end
      end
      count = count + 1
      keys[count] = name
      original[name] = k
    end
    if sort_keys then
      sort(keys)
    end
    return keys, original, count
  end

  local function encode_object(t, depth)
    local keys, original, count = object_keys(t, depth)
    local colon = unit and ": " or ":"
    emit("{")
    for i = 1, count do
      local name = keys[i]
      if i > 1 then
        emit(",")
      end
      if unit then
        newline(depth + 1)
      end
      path[depth + 1] = original[name]
      encode_string(name, depth + 1)
      emit(colon)
      encode_value(rawget(t, original[name]), depth + 1)
    end
    if unit and count > 0 then
      newline(depth)
    end
    emit("}")
  end

  local function encode_table(t, depth)
    if on_path[t] then
      failure("cannot encode a table that contains itself", depth)
    end
    if depth >= max_depth then
      failure(format("nesting is deeper than max_depth (%d)", max_depth), depth)
    end
    local kind, count = classify(t, depth)
    on_path[t] = true
    if kind == "array" then
      encode_array(t, count, depth)
    elseif kind == "object" then
      encode_object(t, depth)
    else
      emit("[]")
    end
    on_path[t] = nil
  end

  function encode_value(v, depth)
    local tv = type(v)
    if tv == "string" then
      encode_string(v, depth)
    elseif tv == "number" then
      local text, bad = number_text(v)
      if not text then
        failure("cannot encode " .. bad, depth, "JSON has no NaN or infinity")
      end
      emit(text)
    elseif tv == "boolean" then
      emit(v and "true" or "false")
    elseif v == nil or rawequal(v, null) then
      emit("null")
    elseif tv == "table" then
      encode_table(v, depth)
    else
      failure("cannot encode a value of type " .. tv, depth)
    end
  end

  encode_value(value, 0)
  return concat(buf)
end

json.encode = public("json.encode", encode)

---------------------------------------------------------------------------------------------------
-- decode

local UNESCAPES = {
  [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f", [110] = "\n", [114] = "\r",
  [116] = "\t",
}
local LITERALS = { ["true"] = true, ["false"] = false, ["null"] = null }
-- Everything a JSON string may not hold unescaped, plus the two characters that end a run.
local STRING_SPECIAL = '["\\\0-\31]'

local function decode(text, opts)
  opts = check_options("json.decode", opts)
  if type(text) ~= "string" then
    fail("expected a string, got " .. type(text))
  end
  local max_depth = limit_option(opts, "max_depth", DEFAULT_MAX_DEPTH, HARD_MAX_DEPTH)
  local max_size = limit_option(opts, "max_size", DEFAULT_MAX_SIZE, 1 << 40)
  local len = #text
  if len > max_size then
    fail(format("input is %d bytes, larger than max_size (%d bytes)", len, max_size))
  end

  -- Only called on the way to an error: counting lines costs one pass over the text.
  local function fail_at(pos, msg, expected)
    local line, line_start = 1, 1
    local nl = find(text, "\n", 1, true)
    while nl and nl < pos do
      line, line_start = line + 1, nl + 1
      nl = find(text, "\n", nl + 1, true)
    end
    local where = format(" at position %d", pos)
    if line > 1 then
      where = where .. format(" (line %d, column %d)", line, pos - line_start + 1)
    end
    fail(msg .. where .. (expected and "; expected " .. expected or ""))
  end

  local function unexpected(pos, expected)
    if pos > len then
      fail_at(pos, "unexpected end of input", expected)
    end
    local word = match(text, "^%a[%w_]*", pos)
    if word and #word > 1 then
      if #word > 20 then
        word = sub(word, 1, 20) .. "..."
      end
      if expected == "a value" then
        expected = "a value (JSON literals are true, false and null)"
      end
      fail_at(pos, format("unexpected word '%s'", word), expected)
    end
    local c = match(text, "^" .. charpattern, pos)
    local shown = byte(c) < 32 and format("U+%04X", byte(c)) or "'" .. c .. "'"
    fail_at(pos, "unexpected character " .. shown, expected)
  end

  local ok, bad = utf8len(text)
  if not ok then
    fail_at(bad, "invalid UTF-8")
  end

  local function skip(pos)
    return find(text, "[^ \t\r\n]", pos) or len + 1
  end

  -- \uXXXX at pos (the backslash); returns the UTF-8 text and the position after the escape.
  local function unicode_escape(pos)
    local hex = match(text, "^%x%x%x%x", pos + 2)
    if not hex then
      fail_at(pos, "invalid \\u escape (expected 4 hex digits)")
    end
    local cp = tonumber(hex, 16)
    if cp >= 0xDC00 and cp <= 0xDFFF then
      fail_at(pos, "invalid \\u escape (unpaired surrogate \\u" .. hex .. ")")
    elseif cp >= 0xD800 and cp <= 0xDBFF then
      local low = match(text, "^\\u(%x%x%x%x)", pos + 6)
      local lo = low and tonumber(low, 16)
      if not lo or lo < 0xDC00 or lo > 0xDFFF then
        fail_at(pos, "invalid \\u escape (unpaired surrogate \\u" .. hex .. ")")
      end
      return utf8char(0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)), pos + 12
    end
    return utf8char(cp), pos + 6
  end

  -- pos is at the opening quote; returns the string and the position after the closing quote.
  -- Runs between escapes are cut with one sub() each and joined once: linear in the length.
  local function parse_string(pos)
    local i, parts, n = pos + 1, nil, 0
    while true do
      local j = find(text, STRING_SPECIAL, i)
      if not j then
        fail_at(pos, "unterminated string")
      end
      local c = byte(text, j)
      if c == 34 then
        if not parts then
          return sub(text, i, j - 1), j + 1
        end
        parts[n + 1] = sub(text, i, j - 1)
        return concat(parts), j + 1
      elseif c == 92 then
        parts = parts or {}
        n = n + 1
        parts[n] = sub(text, i, j - 1)
        local e = byte(text, j + 1)
        n = n + 1
        if UNESCAPES[e] then
          parts[n], i = UNESCAPES[e], j + 2
        elseif e == 117 then
          parts[n], i = unicode_escape(j)
        else
          fail_at(j, "invalid escape '\\" .. (e and char(e) or "") .. "' in string")
        end
      else
        fail_at(j, format("unescaped control character U+%04X in string", c))
      end
    end
  end

  local function parse_number(pos)
    local _, last = find(text, "^-?%d+", pos)
    if not last then
      fail_at(pos, "invalid number")
    end
    local digits = byte(text, pos) == 45 and pos + 1 or pos
    if byte(text, digits) == 48 and last > digits then
      fail_at(pos, "invalid number (leading zero)")
    end
    local _, frac = find(text, "^%.%d+", last + 1)
    if frac then
      last = frac
    elseif byte(text, last + 1) == 46 then
      fail_at(last + 1, "invalid number (digits expected after '.')")
    end
    local _, exp = find(text, "^[eE][-+]?%d+", last + 1)
    if exp then
      last = exp
    elseif find(text, "^[eE]", last + 1) then
      fail_at(last + 1, "invalid number (digits expected in the exponent)")
    end
    -- "12" becomes an integer, "12.0" and "1e2" floats; integers past 2^63 become floats.
    return tonumber(sub(text, pos, last)), last + 1
  end

  local parse_value

  local function parse_array(pos, depth)
    if depth >= max_depth then
      fail_at(pos, format("nesting is deeper than max_depth (%d)", max_depth))
    end
    local arr, n = {}, 0
    pos = skip(pos + 1)
    if byte(text, pos) == 93 then
      return arr, pos + 1
    end
    while true do
      n = n + 1
      arr[n], pos = parse_value(pos, depth + 1)
      pos = skip(pos)
      local c = byte(text, pos)
      if c == 93 then
        return arr, pos + 1
      elseif c ~= 44 then
        unexpected(pos, "',' or ']'")
      end
      pos = pos + 1
    end
  end

  local function parse_object(pos, depth)
    if depth >= max_depth then
      fail_at(pos, format("nesting is deeper than max_depth (%d)", max_depth))
    end
    local obj = {}
    objects[obj] = true
    pos = skip(pos + 1)
    if byte(text, pos) == 125 then
      return obj, pos + 1
    end
    while true do
      if byte(text, pos) ~= 34 then
        unexpected(pos, "a string key in double quotes")
      end
      local key
      key, pos = parse_string(pos)
      pos = skip(pos)
      if byte(text, pos) ~= 58 then
        unexpected(pos, "':'")
      end
      obj[key], pos = parse_value(pos + 1, depth + 1)
      pos = skip(pos)
      local c = byte(text, pos)
      if c == 125 then
        return obj, pos + 1
      elseif c ~= 44 then
        unexpected(pos, "',' or '}'")
      end
      pos = skip(pos + 1)
    end
  end

  function parse_value(pos, depth)
    pos = skip(pos)
    local c = byte(text, pos)
    if c == 34 then
      return parse_string(pos)
    elseif c == 123 then
      return parse_object(pos, depth)
    elseif c == 91 then
      return parse_array(pos, depth)
    elseif c == 45 or (c and c >= 48 and c <= 57) then
      return parse_number(pos)
    end
    local word = match(text, "^%a+", pos)
    if word and LITERALS[word] ~= nil then
      return LITERALS[word], pos + #word
    end
    unexpected(pos, "a value")
  end

  local start = sub(text, 1, 3) == "\239\187\191" and 4 or 1 -- a UTF-8 byte order mark
  local value, pos = parse_value(start, 0)
  pos = skip(pos)
  if pos <= len then
    unexpected(pos, "end of input")
  end
  return value
end

json.decode = public("json.decode", decode)

return json
