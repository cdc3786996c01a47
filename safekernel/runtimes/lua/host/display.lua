-- What cells get for rich output and input: `display` (a callable table), `clear_output`, and
-- `input`. Host code: runs once with the real globals; everything it uses is captured below.
--
--   local out = make_display(api, caps, host, render, json)
--   out.bundle_size(bundle) -> bytes       out.charge(bundle, what)   (per-cell output budget)
--   out.reset()                            (the host calls it when a cell starts)
--
-- `host` holds the Python callbacks: display(bundle, id, update, width, height),
-- clear_output(wait), input(prompt, password) -> {ok, value_or_message}.
-- The kernel checks everything again (MIME types, sizes, image bytes, JSON); the checks here
-- are there to give the cell a clear error at its own line, and to keep frames under the cap.
local api, caps, host, render, json = ...

local env = api.env
local error, next, pcall, rawequal, tostring, type = error, next, pcall, rawequal, tostring, type
local getmetatable, setmetatable = getmetatable, setmetatable
local math_type = math.type
local t_pack, t_unpack = table.pack, table.unpack
local s_format, s_sub, s_gsub = string.format, string.sub, string.gsub
-- through the sandbox's `guarded`, like every callback: no Python exception reaches a cell
local guarded = api.guarded
local host_display, host_clear_output = guarded(host.display), guarded(host.clear_output)
local host_input = guarded(host.input)
local json_encode = json.encode

local MAX_OUTPUT = caps.max_display_bytes
local MAX_CELL_OUTPUT = caps.max_cell_display_bytes
local JSON_DEPTH = caps.max_json_depth
local MAX_ID = 200
local PLAIN_PREVIEW = 10000

-- Errors raised inside carry this metatable; public() re-raises them at the cell's line and
-- lets anything else (a stop, a memory error) pass through untouched.
local Failure = { __tostring = function(e) return e.msg end }

local function fail(what, message)
  error(setmetatable({ msg = what .. ": " .. message }, Failure), 0)
end

local function public(fn)
  return function(...)
    local results = t_pack(pcall(fn, ...))
    if results[1] then return t_unpack(results, 2, results.n) end
    local e = results[2]
    if type(e) == "table" and getmetatable(e) == Failure then error(e.msg, 2) end
    error(e, 0)
  end
end

local out = {}
local used = 0

function out.reset()
  used = 0
end

local function megabytes(n)
  return s_format("%.1f MB", n / (1024 * 1024))
end

function out.bundle_size(bundle)
  local size = 0
  for _, v in next, bundle do size = size + #v end
  return size
end

-- Refuse an output over the per-output or per-cell cap, before it is copied to the host.
function out.charge(bundle, what)
  local size = out.bundle_size(bundle)
  if size > MAX_OUTPUT then
    fail(what, s_format("the output is %s, over the %s cap for one output; show a smaller "
      .. "part of it", megabytes(size), megabytes(MAX_OUTPUT)))
  end
  if used + size > MAX_CELL_OUTPUT then
    fail(what, s_format("this cell's rich output would pass %s; show less, or split it over "
      .. "several cells", megabytes(MAX_CELL_OUTPUT)))
  end
  used = used + size
end

------------------------------------------------------------------------------------------
-- Options: {id = "x"}, {id = "x", update = true}, and width/height for images
------------------------------------------------------------------------------------------
local ALLOWED = { id = true, update = true, width = true, height = true }

local function options(what, opts, image)
  if opts == nil then return nil, false end
  if type(opts) ~= "table" then
    fail(what, s_format("options must be a table like {id = \"plot1\"}, not a %s", type(opts)))
  end
  for k in next, opts do
    if not ALLOWED[k] or (not image and (k == "width" or k == "height")) then
      fail(what, s_format("unknown option %s (use id and update%s)", tostring(k),
        image and ", width, height" or ""))
    end
  end
  local id, update = opts.id, opts.update
  if id ~= nil then
    if math_type(id) == "integer" then id = tostring(id) end
    if type(id) ~= "string" or id == "" or #id > MAX_ID then
      fail(what, "id must be a non-empty string (at most 200 bytes)")
    end
  end
  if update ~= nil and type(update) ~= "boolean" then fail(what, "update must be true or false") end
  if update and id == nil then fail(what, "update = true needs the id of the output to replace") end
  for _, side in next, { "width", "height" } do
    local v = opts[side]
    if v ~= nil and (math_type(v) ~= "integer" or v < 1 or v > 10000) then
      fail(what, side .. " must be a whole number of pixels between 1 and 10000")
    end
  end
  return id, update == true, opts.width, opts.height
end

local function send(what, bundle, opts, image)
  local id, update, width, height = options(what, opts, image)
  out.charge(bundle, what)
  host_display(bundle, id, update, width, height)
end

local function need_string(what, v)
  if type(v) == "number" then return tostring(v) end
  if type(v) ~= "string" then
    fail(what, s_format("expected a string, got %s", v == nil and "nil" or "a " .. type(v)))
  end
  return v
end

local function preview(s)
  if #s > PLAIN_PREVIEW then return s_sub(s, 1, PLAIN_PREVIEW) .. "…" end
  return s
end

------------------------------------------------------------------------------------------
-- display
------------------------------------------------------------------------------------------
local display = {}

local function text_kind(name, mime, plain)
  display[name] = public(function(s, opts)
    local what = "display." .. name
    s = need_string(what, s)
    if #s > MAX_OUTPUT then send(what, { [mime] = s }, opts) end -- fails with the size
    send(what, { [mime] = s, ["text/plain"] = plain(s) }, opts)
  end)
end

text_kind("html", "text/html", function() return "<HTML output>" end)
text_kind("markdown", "text/markdown", preview)
text_kind("latex", "text/latex", preview)
text_kind("svg", "image/svg+xml", function() return "<SVG image>" end)

local function image_kind(name, mime)
  display[name] = public(function(bytes, opts)
    local what = "display." .. name
    if type(bytes) ~= "string" then
      fail(what, s_format("expected the image's bytes as a string, got %s",
        bytes == nil and "nil" or "a " .. type(bytes)))
    end
    send(what, { [mime] = bytes, ["text/plain"] = s_format("<%s image, %d bytes>",
      name == "png" and "PNG" or "JPEG", #bytes) }, opts, true)
  end)
end

image_kind("png", "image/png")
image_kind("jpeg", "image/jpeg")

display.json = public(function(value, opts)
  local ok, text = pcall(json_encode, value, { max_depth = JSON_DEPTH, max_size = MAX_OUTPUT })
  if not ok then
    if type(text) ~= "string" then error(text, 0) end -- a stop or memory error
    fail("display.json", (s_gsub(text, "^json%.encode: ", "")))
  end
  send("display.json", { ["application/json"] = text, ["text/plain"] = preview(text) }, opts)
end)

-- display.table(rows [, {columns = {...}, id = ...}]): an array of records as an HTML table,
-- with the columns in the order given (by default: every field, sorted by name).
display.table = public(function(rows, opts)
  local columns
  if type(opts) == "table" and opts.columns ~= nil then
    columns = opts.columns
    if type(columns) ~= "table" then fail("display.table", "columns must be a list of names") end
    for _, c in next, columns do
      if type(c) ~= "string" then fail("display.table", "columns must be a list of names") end
    end
    local rest = {}
    for k, v in next, opts do if k ~= "columns" then rest[k] = v end end
    opts = rest
  end
  if type(rows) ~= "table" then
    fail("display.table", s_format("expected a list of records, got %s", type(rows)))
  end
  local html = render.records_html(rows, columns)
  if html == nil then
    fail("display.table", "expected a list of records like {{name = \"Ada\", born = 1815}, ...}")
  end
  send("display.table", { ["text/html"] = html, ["text/plain"] = render.text(rows) }, opts)
end)

-- display(value [, opts]): every representation the value has; a string shows as it is
local show = public(function(_, value, opts)
  if type(value) == "string" then
    send("display", { ["text/plain"] = value }, opts)
    return
  end
  local ok, bundle = pcall(render.bundle, value)
  if not ok then
    if type(bundle) ~= "string" then error(bundle, 0) end -- a stop or memory error
    fail("display", "could not show the value: " .. bundle)
  end
  send("display", bundle, opts)
end)

setmetatable(display, {
  __call = show,
  __metatable = "the display table is protected",
})
env.display = display

function env.clear_output(wait)
  if wait ~= nil and type(wait) ~= "boolean" then
    error("clear_output: wait must be true or false (true: clear when the next output comes)", 2)
  end
  host_clear_output(wait == true)
end

------------------------------------------------------------------------------------------
-- input
------------------------------------------------------------------------------------------
env.input = public(function(prompt, opts)
  if prompt == nil then prompt = "" end
  prompt = need_string("input", prompt)
  local password = false
  if opts ~= nil then
    if type(opts) ~= "table" then fail("input", "options must be a table like {password = true}") end
    for k in next, opts do
      if k ~= "password" then fail("input", "unknown option " .. tostring(k) .. " (use password)") end
    end
    password = opts.password == true
  end
  local reply = host_input(prompt, password)
  if not reply[1] then fail("input", reply[2]) end
  return reply[2]
end)

return out
