-- Showing values: as text (the text/plain of a cell's value or of print-like output) and as a
-- MIME bundle (every representation a value has; the frontend picks the richest).
-- Host code: runs with the real globals, captured below before any cell runs.
--
--   local render = make_render(caps)
--   render.text(v) -> string                 render.values(packed) -> string
--   render.bundle(v) -> {[mime] = string}     render.records_html(rows [, columns]) -> string|nil
--
-- Rendering runs user metamethods (__tostring, __html, ...), so the host only calls it while a
-- cell's limits are armed, and every walk is capped in depth, items and bytes.
local caps = ...

local getmetatable, next, pcall, rawequal, rawget, rawlen = getmetatable, next, pcall, rawequal, rawget, rawlen
local tostring, type, error = tostring, type, error
local math_type, huge = math.type, math.huge
local s_format, s_sub, s_find, s_gsub, s_byte, s_match, s_rep = string.format, string.sub, string.find, string.gsub, string.byte, string.match, string.rep
local t_concat, t_sort = table.concat, table.sort

local MAX_DEPTH = caps.max_render_depth
local MAX_ITEMS = caps.max_render_items
local MAX_TEXT = caps.max_render_bytes
local MAX_ROWS = caps.max_table_rows
local MAX_COLUMNS = caps.max_table_columns
local MAX_CELL = 200 -- characters shown of one table cell
local LINE_WIDTH = 80

local render = {}

------------------------------------------------------------------------------------------
-- Text
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
render.quote = quote

local function is_identifier(k)
  return type(k) == "string" and s_match(k, "^[%a_][%w_]*$") ~= nil
end

local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

-- the metatable's own field, read raw: a cell's __index on the metatable must not matter
local function meta(v, name)
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return nil end
  return rawget(mt, name)
end

local text

local function text_table(t, depth, seen)
  if seen[t] then return "<cycle>" end
  if depth > MAX_DEPTH then return "{...}" end
  seen[t] = true
  -- rawlen and rawget: rendering must not depend on a cell's __len or __index
  local items, n = {}, rawlen(t)
  local count = 0
  for i = 1, n do
    count = count + 1
    if count > MAX_ITEMS then break end
    items[#items + 1] = text(rawget(t, i), depth + 1, seen)
  end
  local keys = {}
  for k in next, t do
    if not (math_type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
    if #keys > MAX_ITEMS then break end
  end
  pcall(t_sort, keys, key_order)
  for _, k in next, keys do
    count = count + 1
    if count > MAX_ITEMS then break end
    local label = is_identifier(k) and k or ("[" .. text(k, depth + 1, seen) .. "]")
    items[#items + 1] = label .. " = " .. text(rawget(t, k), depth + 1, seen)
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

text = function(v, depth, seen)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if tv == "table" and meta(v, "__tostring") == nil then return text_table(v, depth, seen) end
  if tv == "number" and math_type(v) == "float" then
    if v ~= v then return "nan" elseif v == huge then return "inf" elseif v == -huge then return "-inf" end
  end
  local s = tostring(v)
  if type(s) ~= "string" then error("'__tostring' must return a string", 0) end
  return s
end

local function cap(s)
  if #s > MAX_TEXT then
    return s_sub(s, 1, MAX_TEXT) .. s_format("\n... (%d more bytes not shown)", #s - MAX_TEXT)
  end
  return s
end
render.cap = cap

function render.text(v)
  return cap(text(v, 0, {}))
end

-- the values of `return a, b, c` (a table.pack result, from index 2), shown together
function render.values(results)
  local parts = {}
  for i = 2, results.n do parts[#parts + 1] = text(results[i], 0, {}) end
  return cap(t_concat(parts, ", "))
end

------------------------------------------------------------------------------------------
-- HTML tables for arrays of records: {{name = "Ada", born = 1815}, {name = "Alan", ...}}
------------------------------------------------------------------------------------------
local HTML_ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }

local function html_escape(s)
  return (s_gsub(s, '[&<>"]', HTML_ESCAPES))
end
render.html_escape = html_escape

local function cell_text(v)
  local s = type(v) == "string" and v or text(v, MAX_DEPTH - 1, {})
  if #s > MAX_CELL then s = s_sub(s, 1, MAX_CELL) .. "…" end
  return html_escape(s)
end

-- The column names of an array of records, sorted, or nil when `rows` is not one: a
-- non-empty sequence of plain tables (no metatable) keyed by strings.
local function record_columns(rows)
  if type(rows) ~= "table" or getmetatable(rows) ~= nil then return nil end
  local n = rawlen(rows)
  if n == 0 then return nil end
  for k in next, rows do -- keys other than 1..n: not a plain array
    if not (math_type(k) == "integer" and k >= 1 and k <= n) then return nil end
  end
  local seen, columns = {}, {}
  for i = 1, n < MAX_ROWS and n or MAX_ROWS do
    local row = rawget(rows, i)
    if type(row) ~= "table" or getmetatable(row) ~= nil then return nil end
    local fields = 0
    for k in next, row do
      if type(k) ~= "string" then return nil end
      fields = fields + 1
      if not seen[k] then
        seen[k] = true
        columns[#columns + 1] = k
        if #columns > MAX_COLUMNS then return nil end
      end
    end
    if fields == 0 then return nil end
  end
  t_sort(columns)
  return columns
end

-- `columns` (optional) is the caller's own order; rows beyond MAX_ROWS are counted, not shown.
function render.records_html(rows, columns)
  columns = columns or record_columns(rows)
  if columns == nil then return nil end
  local n = rawlen(rows)
  local out = { '<table class="safekernel-records">', "<thead><tr>" }
  for _, c in next, columns do out[#out + 1] = "<th>" .. html_escape(c) .. "</th>" end
  out[#out + 1] = "</tr></thead><tbody>"
  for i = 1, n < MAX_ROWS and n or MAX_ROWS do
    local row = rawget(rows, i)
    out[#out + 1] = "<tr>"
    for _, c in next, columns do
      local v = type(row) == "table" and rawget(row, c) or nil
      out[#out + 1] = "<td>" .. (v == nil and "" or cell_text(v)) .. "</td>"
    end
    out[#out + 1] = "</tr>"
  end
  out[#out + 1] = "</tbody></table>"
  if n > MAX_ROWS then
    out[#out + 1] = s_format("<p>… %d more rows not shown</p>", n - MAX_ROWS)
  end
  return t_concat(out)
end

------------------------------------------------------------------------------------------
-- MIME bundles
------------------------------------------------------------------------------------------
local METAMETHODS = {
  { "__html", "text/html" },
  { "__markdown", "text/markdown" },
  { "__svg", "image/svg+xml" },
  { "__latex", "text/latex" },
}

-- Every representation of v: text/plain always, plus one per rich metamethod it has, or an
-- HTML table for an array of records. A metamethod that fails or returns a non-string is an
-- error the cell sees (with the metamethod's name), not a silently missing output.
function render.bundle(v)
  local bundle = { ["text/plain"] = render.text(v) }
  if type(v) ~= "table" then return bundle end
  for _, pair in next, METAMETHODS do
    local method = meta(v, pair[1])
    if method ~= nil then
      local s = method(v)
      if type(s) ~= "string" then
        error(s_format("'%s' must return a string (got %s)", pair[1], type(s)), 0)
      end
      bundle[pair[2]] = s
    end
  end
  if getmetatable(v) == nil then bundle["text/html"] = render.records_html(v) end
  return bundle
end

return render
