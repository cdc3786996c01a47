-- The REPL behaviour of a cell: compile (a trailing expression becomes the cell's value), run
-- under a traceback handler that shows only the cell's own frames, and show its value as a MIME
-- bundle (render.lua). Completion and inspection read tables raw: they never run user code.
-- Host code: runs with the real globals, captured below before any cell runs.
--
--   local repl = make_repl(api, caps, render, output, docs)
local api, caps, render, output, docs = ...

local env, STOP, ERROR_BOX = api.env, api.STOP, api.ERROR_BOX
local setmetatable = setmetatable
local getmetatable, pairs, pcall, rawequal, rawget, rawlen = getmetatable, pairs, pcall, rawequal, rawget, rawlen
local tostring, type, xpcall, load, next = tostring, type, xpcall, load, next
local m_max, math_type = math.max, math.type
local s_format, s_sub, s_match, s_find = string.format, string.sub, string.match, string.find
local t_concat, t_sort, t_pack = table.concat, table.sort, table.pack
local getinfo, getlocal = debug.getinfo, debug.getlocal

local CELL = "=cell"
local MAX_FRAMES = caps.max_frames
local MAX_ITEMS = caps.max_render_items
-- how far back from the end a cell's trailing expression may start (compiles per try)
local MAX_EXPR_LINES = 60
-- how many __index tables completion follows to find an object's methods
local MAX_INDEX_CHAIN = 8
local cap = render.cap

local repl = {}

------------------------------------------------------------------------------------------
-- Compiling: `x + 1` or a trailing expression statement shows its value, like the lua REPL.
------------------------------------------------------------------------------------------
local function split_lines(code)
  local lines = {}
  for line in (code .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = line end
  return lines
end

-- `return f()` would be a tail call, and a tail call drops the cell's own frame from the
-- traceback; passing the values through a local identity function keeps it. The prefix goes
-- on line 1 and the closing parenthesis after the last line, so every line keeps its number.
local PASS = "local __value = function(...) return ... end "

-- A trailing `assert(...)` is a test, not a value to show: Lua's assert returns its arguments,
-- and a grader would read `assert(f(3))`'s 9 as the cell's score.
local function is_assert(tail)
  return s_match(tail, "^%s*assert%s*[%(\"'{%[]") ~= nil
end

-- compile(code) -> fn, nil, shows_value | nil, message. A cell ending in `;` (IPython's
-- convention) or in an assert call shows no value.
local function compile(code)
  -- only at `;` positions does the pattern look further: linear in the cell's length
  local body = s_match(code, "^(.-);%s*$")
  local quiet = body ~= nil
  if quiet then code = body end
  local fn = load(PASS .. "return __value(" .. code .. "\n)", CELL, "t", env)
  if fn then return fn, nil, not (quiet or is_assert(code)) end
  local plain, err = load(code, CELL, "t", env)
  local lines = split_lines(code)
  local last = #lines
  while last > 1 and s_match(lines[last], "^%s*$") do last = last - 1 end
  for first = last, m_max(2, last - MAX_EXPR_LINES), -1 do
    local tail = t_concat(lines, "\n", first, last)
    if load("return " .. tail, CELL, "t", env) then
      local head = t_concat(lines, "\n", 1, first - 1)
      local both = load(PASS .. head .. "\nreturn __value(" .. tail .. "\n)", CELL, "t", env)
      if both then return both, nil, not (quiet or is_assert(tail)) end
    end
  end
  return plain, err, not quiet
end

------------------------------------------------------------------------------------------
-- Tracebacks: only frames of user chunks (their names start with "="), never the host's.
------------------------------------------------------------------------------------------
local function frame_text(info)
  local where = info.short_src .. ":" .. (info.currentline or "?")
  if info.namewhat ~= "" and info.name then
    return s_format("%s: in %s '%s'", where, info.namewhat, info.name)
  elseif info.what == "main" then
    return where .. ": in main chunk"
  end
  return s_format("%s: in function <%s:%d>", where, info.short_src, info.linedefined or 0)
end

local function traceback_handler(e)
  -- a stop arrives here with hooks off: do nothing that could take time
  if rawequal(e, STOP) then return e end
  local frames = {}
  local level = 2
  while #frames < MAX_FRAMES do
    local info = getinfo(level, "Sln")
    if not info then break end
    if info.what ~= "C" and s_sub(info.source, 1, 1) == "=" then
      frames[#frames + 1] = frame_text(info)
    end
    level = level + 1
  end
  return setmetatable({ err = e, frames = frames }, ERROR_BOX)
end

-- An error value as text: strings as they are, anything else through tostring (runs user
-- __tostring, so this too is called under the cell's limits).
local function error_text(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if type(mt) == "table" and rawget(mt, "__tostring") ~= nil then
    local ok, text = pcall(tostring, e)
    if ok and type(text) == "string" then return text end
  end
  return s_format("(error object is a %s value)", type(e))
end

-- The cell's value as a MIME bundle: every representation of a single value, text only for
-- several (`return a, b`).
local function result_bundle(results)
  local bundle
  if results.n == 2 then
    bundle = render.bundle(results[2])
  else
    bundle = { ["text/plain"] = render.values(results) }
  end
  output.charge(bundle, "the cell's value")
  return bundle
end

------------------------------------------------------------------------------------------
-- What the host calls.
--   run(code) -> "ok", bundle_or_nil | "syntax", message | "error", message, frames_text
------------------------------------------------------------------------------------------
function repl.run(code)
  output.reset()
  local fn, err, shows_value = compile(code)
  if not fn then return "syntax", err end
  local results = t_pack(xpcall(fn, traceback_handler))
  if results[1] then
    if results.n < 2 or not shows_value then return "ok", nil end
    local ok, bundle = pcall(result_bundle, results)
    if ok then return "ok", bundle end
    if rawequal(bundle, STOP) then error(bundle, 0) end
    return "error", cap("could not show the result: " .. error_text(bundle)), ""
  end
  local failure = results[2]
  if type(failure) == "table" and failure.frames then
    return "error", cap(error_text(failure.err)), t_concat(failure.frames, "\n")
  end
  -- memory errors skip the message handler
  return "error", cap(error_text(failure)), ""
end

-- "complete" / "incomplete" / "invalid" for the console's multi-line input.
function repl.is_complete(code)
  if load("return " .. code, CELL, "t", env) or load(code, CELL, "t", env) then return "complete" end
  local _, err = load(code, CELL, "t", env)
  -- like lua.c: the parser ran out of input (the message ends at <eof>), so more may come
  if err and s_sub(err, -5) == "<eof>" then return "incomplete" end
  return "invalid"
end

------------------------------------------------------------------------------------------
-- Completion
------------------------------------------------------------------------------------------
local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
  "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while" }

-- The tables whose fields `value.` / `value:` can reach: the value itself, then each
-- metatable's __index table (how objects find their methods), read raw.
local function field_tables(value)
  if type(value) == "string" then return { env.string } end
  local tables = {}
  for _ = 1, MAX_INDEX_CHAIN do
    if type(value) ~= "table" then break end
    tables[#tables + 1] = value
    local mt = getmetatable(value)
    value = type(mt) == "table" and rawget(mt, "__index") or nil
  end
  return tables
end

local function field(value, name)
  for _, scope in pairs(field_tables(value)) do
    local v = rawget(scope, name)
    if v ~= nil then return v end
  end
  return nil
end

-- The value a dotted path names, read raw from the cell's globals (nil if there is none).
local function lookup(path)
  local value = env
  for part in path:gmatch("[^%.:]+") do
    value = field(value, part)
    if value == nil then return nil end
  end
  return value
end

-- Completion reads at most this many keys of one table, offers at most MAX_MATCHES names,
-- and skips keys longer than MAX_NAME (no one completes such a name; matching it costs).
local MAX_KEYS, MAX_MATCHES, MAX_NAME = 10000, 2000, 256

local function add_names(matches, scope, partial, methods_only)
  local count, n = 0, #partial
  for k, v in next, scope do
    if type(k) == "string" and #k <= MAX_NAME and s_sub(k, 1, n) == partial
      and s_match(k, "^[%a_][%w_]*$") and (not methods_only or type(v) == "function") then
      if #matches >= MAX_MATCHES then return end
      matches[#matches + 1] = k
    end
    count = count + 1
    if count >= MAX_KEYS then return end
  end
end

-- Names that complete `partial` after `path` and `sep` (the host splits the text before the
-- cursor: "string.fo" is "string", ".", "fo"; "pri" is "", "", "pri").
function repl.complete(path, sep, partial)
  local matches = {}
  if sep == "" then
    for _, kw in pairs(KEYWORDS) do
      if s_sub(kw, 1, #partial) == partial then matches[#matches + 1] = kw end
    end
    add_names(matches, env, partial, false)
  elseif path ~= "" and s_find(":.", s_sub(path, -1), 1, true) == nil then
    for _, scope in pairs(field_tables(lookup(path))) do
      add_names(matches, scope, partial, sep == ":")
    end
  end
  t_sort(matches)
  local unique, last = {}, nil
  for _, m in pairs(matches) do
    if m ~= last then unique[#unique + 1] = m end
    last = m
  end
  return t_concat(unique, "\n")
end

------------------------------------------------------------------------------------------
-- Inspection: the doc of a library function, or a summary of a user's value
------------------------------------------------------------------------------------------
-- Library functions and tables by identity, so `f = string.format; f` still finds its doc,
-- and a cell's own `print = ...` does not; constants (math.pi) by their value at start.
local function documented_value(name)
  local maker, method = s_match(name, "^(.-)%(%):([%w_]+)$")
  if not maker then return lookup(name) end
  local ok, object = pcall(lookup(maker))
  return ok and field(object, method) or nil
end

local doc_of, original = {}, {}
for name in pairs(docs) do
  local value = documented_value(name)
  if type(value) == "function" or type(value) == "table" then doc_of[value] = name end
  original[name] = value
end

local function params(fn)
  local names = {}
  for i = 1, 20 do
    local name = getlocal(fn, i)
    if not name then break end
    names[#names + 1] = name
  end
  if getinfo(fn, "u").isvararg then names[#names + 1] = "..." end
  return t_concat(names, ", ")
end

local function table_summary(path, value)
  local count, keys, named = 0, {}, 0
  for k in next, value do
    count = count + 1
    if type(k) == "string" then
      named = named + 1
      if #keys < 12 then keys[#keys + 1] = k end
    end
    if count >= MAX_ITEMS then break end
  end
  t_sort(keys)
  local lines = { s_format("%s: table with %s%d entries (length %d)", path,
    count >= MAX_ITEMS and "at least " or "", count, rawlen(value)) }
  if #keys > 0 then lines[2] = "fields: " .. t_concat(keys, ", ") .. (named > #keys and ", ..." or "") end
  return t_concat(lines, "\n")
end

-- A short description of the value a dotted name refers to. Raw reads only: inspecting
-- never runs user code (no __index, no __tostring).
function repl.inspect(path)
  local value = lookup(path)
  if value ~= nil and doc_of[value] then return docs[doc_of[value]] end
  if value ~= nil and rawequal(value, original[path]) then return docs[path] end
  if value == nil then return nil end
  local kind = type(value)
  if kind == "table" then
    return table_summary(path, value)
  elseif kind == "string" then
    return s_format("%s: string of %d bytes\n%s", path, #value, render.quote(s_sub(value, 1, 200)))
  elseif kind == "function" then
    local info = getinfo(value, "S")
    if info.what == "C" then return path .. ": built-in function" end
    return s_format("%s(%s): function defined at %s:%d", path, params(value), info.short_src,
      info.linedefined)
  elseif kind == "number" then
    return s_format("%s: number (%s)\n%s", path, math_type(value), render.text(value))
  end
  return s_format("%s: %s\n%s", path, kind, tostring(value))
end

return repl
