-- The REPL behaviour of a cell: compile (a trailing expression becomes the cell's value), run
-- under a traceback handler that shows only the cell's own frames, and render values as text.
-- Host code: runs with the real globals, captured below before any cell runs.
--
--   local repl = make_repl(api, caps)
local api, caps = ...

local env, STOP, ERROR_BOX = api.env, api.STOP, api.ERROR_BOX
local setmetatable = setmetatable
local getmetatable, pairs, pcall, rawequal, rawget, rawlen = getmetatable, pairs, pcall, rawequal, rawget, rawlen
local tostring, type, xpcall, load, next = tostring, type, xpcall, load, next
local math_type, huge, m_max = math.type, math.huge, math.max
local s_format, s_sub, s_find, s_gsub, s_byte, s_match, s_rep = string.format, string.sub, string.find, string.gsub, string.byte, string.match, string.rep
local t_concat, t_sort, t_pack = table.concat, table.sort, table.pack
local getinfo = debug.getinfo

local CELL = "=cell"
local MAX_FRAMES = caps.max_frames
local MAX_DEPTH = caps.max_render_depth
local MAX_ITEMS = caps.max_render_items
local MAX_TEXT = caps.max_render_bytes
local LINE_WIDTH = 80
-- how far back from the end a cell's trailing expression may start (compiles per try)
local MAX_EXPR_LINES = 60

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

local function compile(code)
  local fn = load(PASS .. "return __value(" .. code .. "\n)", CELL, "t", env)
  if fn then return fn end
  local plain, err = load(code, CELL, "t", env)
  local lines = split_lines(code)
  local last = #lines
  while last > 1 and s_match(lines[last], "^%s*$") do last = last - 1 end
  for first = last, m_max(2, last - MAX_EXPR_LINES), -1 do
    local tail = t_concat(lines, "\n", first, last)
    if load("return " .. tail, CELL, "t", env) then
      local head = t_concat(lines, "\n", 1, first - 1)
      local both = load(PASS .. head .. "\nreturn __value(" .. tail .. "\n)", CELL, "t", env)
      if both then return both end
    end
  end
  return plain, err
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

------------------------------------------------------------------------------------------
-- Rendering values as text (runs user __tostring: the host calls it under the cell's limits).
------------------------------------------------------------------------------------------
local function quote(s)
  s = s_gsub(s, '[%c"\\]', function(c)
    if c == "\n" then return "\\n" elseif c == "\t" then return "\\t"
    elseif c == "\r" then return "\\r" elseif c == '"' then return '\\"'
    elseif c == "\\" then return "\\\\" end
    return s_format("\\%d", s_byte(c))
  end)
  return '"' .. s .. '"'
end

local function is_identifier(k)
  return type(k) == "string" and s_match(k, "^[%a_][%w_]*$") ~= nil
end

local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local render

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function render_table(t, depth, seen, budget)
  if seen[t] then return "<cycle>" end
  if depth > MAX_DEPTH then return "{...}" end
  seen[t] = true
  -- rawlen and rawget: rendering must not depend on a cell's __len or __index
  local items, n = {}, rawlen(t)
  local count = 0
  for i = 1, n do
    count = count + 1
    if count > MAX_ITEMS then break end
    items[#items + 1] = render(rawget(t, i), depth + 1, seen, budget)
  end
  local keys = {}
  for k in next, t do
    if not (math_type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
    if #keys > MAX_ITEMS then break end
  end
  pcall(t_sort, keys, key_order)
  for _, k in pairs(keys) do
    count = count + 1
    if count > MAX_ITEMS then break end
    local label = is_identifier(k) and k or ("[" .. render(k, depth + 1, seen, budget) .. "]")
    items[#items + 1] = label .. " = " .. render(rawget(t, k), depth + 1, seen, budget)
  end
  seen[t] = nil
  if count > MAX_ITEMS then items[#items + 1] = "..." end
  if #items == 0 then return "{}" end
  local flat = "{" .. t_concat(items, ", ") .. "}"
  if #flat + depth * 2 <= LINE_WIDTH and not s_find(flat, "\n", 1, true) then return flat end
  local pad = s_rep("  ", depth + 1)
  for i = 1, #items do items[i] = pad .. s_gsub(items[i], "\n", "\n  ") end
  return "{\n" .. t_concat(items, ",\n") .. "\n" .. s_rep("  ", depth) .. "}"
end

render = function(v, depth, seen, budget)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if tv == "table" and not has_tostring(v) then return render_table(v, depth, seen, budget) end
  if tv == "number" and math_type(v) == "float" then
    if v ~= v then return "nan" elseif v == huge then return "inf" elseif v == -huge then return "-inf" end
  end
  return tostring(v)
end

local function cap(text)
  if #text > MAX_TEXT then
    return s_sub(text, 1, MAX_TEXT) .. s_format("\n... (%d more bytes not shown)", #text - MAX_TEXT)
  end
  return text
end

function repl.render(v)
  return cap(render(v, 0, {}, nil))
end

local function render_results(results)
  local parts = {}
  for i = 2, results.n do parts[#parts + 1] = render(results[i], 0, {}, nil) end
  return cap(t_concat(parts, ", "))
end

-- An error value as text: strings as they are, anything else through tostring (runs user
-- __tostring, so this too is called under the cell's limits).
local function error_text(e)
  if type(e) == "string" then return e end
  if has_tostring(e) then
    local ok, text = pcall(tostring, e)
    if ok and type(text) == "string" then return text end
  end
  return s_format("(error object is a %s value)", type(e))
end

------------------------------------------------------------------------------------------
-- What the host calls. Results are plain strings for the Python side.
--   run(code) -> "ok", text_or_nil | "syntax", message | "error", message, frames_text
------------------------------------------------------------------------------------------
function repl.run(code)
  local fn, err = compile(code)
  if not fn then return "syntax", err end
  local results = t_pack(xpcall(fn, traceback_handler))
  if results[1] then
    if results.n < 2 then return "ok", nil end
    local ok, text = pcall(render_results, results)
    if ok then return "ok", text end
    return "error", "could not show the result: " .. error_text(text), ""
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

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
  "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while" }

-- Names that complete `prefix` (the text before the cursor, e.g. "string.fo" or "t:ins").
-- Reads tables with rawget/next only, so completion never runs user code.
function repl.complete(before)
  local path, sep, partial = s_match(before, "([%w_%.:]-)([%.:]?)([%w_]*)$")
  local matches = {}
  local scope
  if sep == "" then
    scope = env
    for _, kw in pairs(KEYWORDS) do
      if s_sub(kw, 1, #partial) == partial then matches[#matches + 1] = kw end
    end
  else
    scope = env
    for part in path:gmatch("[^%.:]+") do
      if type(scope) ~= "table" then break end
      scope = rawget(scope, part)
    end
    if type(scope) == "string" then scope = env.string end
  end
  if type(scope) == "table" then
    local count = 0
    for k, v in next, scope do
      if type(k) == "string" and s_sub(k, 1, #partial) == partial and s_match(k, "^[%a_][%w_]*$") then
        if sep ~= ":" or type(v) == "function" then matches[#matches + 1] = k end
      end
      count = count + 1
      if count > 10000 then break end
    end
  end
  t_sort(matches)
  local unique, last = {}, nil
  for _, m in pairs(matches) do
    if m ~= last then unique[#unique + 1] = m end
    last = m
  end
  return t_concat(unique, "\n"), #partial
end

-- A short description of the value a dotted name refers to. Raw reads only: inspecting
-- never runs user code (no __index, no __tostring).
function repl.inspect(path)
  local value = env
  for part in path:gmatch("[^%.:]+") do
    if type(value) ~= "table" then return nil end
    value = rawget(value, part)
  end
  if value == nil then return nil end
  local kind = type(value)
  if kind == "table" then
    local count = 0
    for _ in next, value do
      count = count + 1
      if count >= MAX_ITEMS then break end
    end
    return s_format("%s: table with %s%d entries (length %d)", path,
      count >= MAX_ITEMS and "at least " or "", count, rawlen(value))
  elseif kind == "string" then
    return s_format("%s: string of %d bytes\n%s", path, #value, cap(quote(s_sub(value, 1, 200))))
  elseif kind == "function" then
    local info = getinfo(value, "S")
    if info.what == "C" then return path .. ": built-in function" end
    return s_format("%s: function defined at %s:%d", path, info.short_src, info.linedefined)
  end
  return s_format("%s: %s\n%s", path, kind, tostring(value))
end

return repl
