-- plot: small SVG charts for sandboxed cells.
--
--   plot.line([xs,] ys [, opts])        plot.scatter([xs,] ys [, opts])
--   plot.bar([labels,] values [, opts]) plot.hist(values [, opts])
--   plot.figure([opts]) -> fig; fig:line(...), fig:scatter(...), fig:bar(...), fig:hist(...)
--       add to the same axes and return fig, so calls chain.
--
-- Several series: ys (or values) is either one list of numbers or a list of lists, one per
-- series. xs is optional (default 1, 2, ..., n); it is one list shared by every series or a list
-- of lists, one per series. Bars of several series are grouped per category; histograms of
-- several series share their bins and overlap.
--   plot.line({ys1, ys2}, {labels = {"a", "b"}})
--   plot.scatter({xs1, xs2}, {ys1, ys2}, {labels = {"a", "b"}})
--   plot.bar({"2023", "2024"}, {{1, 2}, {3, 4}}, {labels = {"apples", "pears"}})
--
-- opts for the figure: title, xlabel, ylabel, width, height (pixels, default 640 x 400),
--   xlim, ylim ({lo, hi}), legend (true, false, "best", "outside", "upper right", "upper left",
--   "lower right", "lower left"), grid (default true). They are fields of the figure too:
--   fig.title = "..." works before it is drawn.
-- opts for a call's series: label (one series) or labels (one per series, shown in a legend),
--   color (one colour for all, or a list, one per series: "red", "#4e79a7", "rgb(1,2,3)");
--   line: linewidth, marker (true: draw the points); scatter: size (radius in pixels);
--   hist: bins (a count, default Sturges' rule, or a list of edges), density (true: area 1).
--
-- A figure displays itself: its metatable has __svg (the SVG text) and __tostring (a summary);
-- fig:svg() returns the SVG text. NaN and infinite values are skipped (a line breaks there).
-- A figure holds at most 100,000 points (or bars); a histogram counts up to 1,000,000 values.
-- Data is copied when added, so changing a list afterwards does not change the figure.
--
-- The module is loaded as a text chunk into the sandbox's whitelist environment; everything it
-- uses is captured below, so later changes to globals by a cell do not reach it.

local type, next, pcall, error = type, next, pcall, error
local tostring, tonumber = tostring, tonumber
local setmetatable, getmetatable, rawget, rawlen = setmetatable, getmetatable, rawget, rawlen
local find, format, gsub, sub = string.find, string.format, string.gsub, string.sub
local concat = table.concat
local abs, ceil, floor, log = math.abs, math.ceil, math.floor, math.log
local max, min, huge, mathtype = math.max, math.min, math.huge, math.type
local sin, cos, rad, pi = math.sin, math.cos, math.rad, math.pi
local utf8codes, utf8len, utf8char, utf8offset = utf8.codes, utf8.len, utf8.char, utf8.offset

local DEFAULT_WIDTH, DEFAULT_HEIGHT = 640, 400
local MIN_SIDE, MAX_SIDE = 160, 4000
-- Each drawn point costs ~40 bytes of SVG: 100k points stay within a few MB of output.
local MAX_POINTS = 100000
-- A histogram draws only its bins, so it may count more values.
local MAX_HIST_VALUES = 1000000
local MAX_BINS = 1000
local MAX_TEXT = 120 -- characters kept of a title or label
-- Pixel coordinates are clamped so a far-away value cannot print as a 300-digit number.
local MAX_PIXEL = 1e6

-- Tableau 10: distinct, colour-blind-friendly hues that stay readable on white.
local PALETTE = {
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
}
local FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
local INK, LABEL_INK, TICK_INK = "#262626", "#404040", "#5c5c5c"
local GRID_INK, SPINE_INK = "#e9e9e9", "#9a9a9a"
local TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE = 15, 12.5, 11, 11.5
local TICK_LEN, TICK_PAD = 4, 4

local plot = {}
local Figure = {} -- methods
local FigureMT = { __index = Figure, __name = "plot.figure" }
-- Series and categories live here rather than in the figure, so a cell can set fig.title
-- but cannot corrupt what render() walks. Weak keys: a figure's data dies with it.
local state = setmetatable({}, { __mode = "k" })

---------------------------------------------------------------------------------------------------
-- fail(msg) inside, public(name, fn) at the boundary: see errors.lua, which the loader
-- hands to every module
local errors = ...
local fail, public = errors.fail, errors.public

local function a_type(v)
  return v == nil and "nil" or "a " .. type(v)
end

local function is_finite(v)
  return v == v and v ~= huge and v ~= -huge
end

-- Whether [lo, hi] is wide enough to put ticks on: a few digits above float precision at its
-- magnitude, and well clear of the smallest floats (where a step would underflow to zero).
local function wide_enough(lo, hi)
  return hi - lo > max(abs(lo), abs(hi)) * 1e-12 and hi - lo > 1e-290
end

---------------------------------------------------------------------------------------------------
-- text

local XML_ESCAPES = {
  ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;",
}

local function xml(s)
  return (gsub(s, "[&<>\"']", XML_ESCAPES))
end

-- Valid UTF-8 without the control characters XML 1.0 forbids, at most MAX_TEXT characters.
local function clean_text(v, what)
  if type(v) == "number" then
    v = mathtype(v) == "float" and v == floor(v) and abs(v) < 1e15 and format("%d", v)
      or tostring(v)
  elseif type(v) ~= "string" then
    fail(format("%s must be a string, got %s", what, a_type(v)))
  end
  local parts, n, i = {}, 0, 1
  while true do -- each invalid byte becomes U+FFFD; utf8.len stops at the first one
    local ok, bad = utf8len(v, i)
    if ok then
      n = n + 1
      parts[n] = sub(v, i)
      break
    end
    parts[n + 1], parts[n + 2], n = sub(v, i, bad - 1), utf8char(0xFFFD), n + 2
    i = bad + 1
  end
  local s = gsub(concat(parts), "[\0-\8\11\12\14-\31\127]", "")
  s = gsub(s, "[\t\r\n]", " ")
  if utf8len(s) > MAX_TEXT then
    s = sub(s, 1, utf8offset(s, MAX_TEXT) - 1) .. "…"
  end
  return s
end

-- Rough advance widths (in ems), on the wide side of common sans-serif fonts (DejaVu Sans):
-- enough to size margins and legends without measuring glyphs.
local NARROW, WIDE = "[%.,:;!|'ijltfrI%(%)%[%] ]", "[mwMW@%%]"
local BOLD = 1.2

local function text_width(s, size)
  local w = 0
  for _, cp in utf8codes(s) do
    if cp >= 0x2E80 then
      w = w + 1.0 -- CJK and other full-width scripts
    elseif cp >= 128 then
      w = w + 0.7
    else
      local c = utf8char(cp)
      if find(c, NARROW) then
        w = w + 0.33
      elseif find(c, WIDE) then
        w = w + 0.92
      elseif find(c, "%u") then
        w = w + 0.7
      elseif find(c, "%d") then
        w = w + 0.62
      else
        w = w + 0.6
      end
    end
  end
  return w * size
end

-- s, cut with an ellipsis where needed to fit in `room` pixels.
local function fit_text(s, size, room)
  if text_width(s, size) <= room then
    return s
  end
  local n = utf8len(s)
  while n > 1 and text_width(sub(s, 1, utf8offset(s, n) - 1) .. "…", size) > room do
    n = n - 1
  end
  return sub(s, 1, utf8offset(s, n) - 1) .. "…"
end

local COLOR_FORMS = { "^#%x%x%x$", "^#%x%x%x%x%x%x$", "^#%x%x%x%x%x%x%x%x$", "^%a+$",
  "^rgba?%([%d%.%%, ]+%)$", "^hsla?%([%d%.%%, deg]+%)$" }

local function check_color(c, what)
  if type(c) == "string" and #c <= 40 then
    for _, form in next, COLOR_FORMS do
      if find(c, form) then
        return c
      end
    end
  end
  fail(format("%s must be a colour like \"red\", \"#4e79a7\" or \"rgb(78,121,167)\", got %s",
    what, type(c) == "string" and format("%q", sub(c, 1, 40)) or a_type(c)))
end

---------------------------------------------------------------------------------------------------
-- arguments and options

local FIGURE_OPTIONS = { title = "text", xlabel = "text", ylabel = "text", width = "side",
  height = "side", xlim = "limits", ylim = "limits", legend = "legend", grid = "boolean" }
local SERIES_OPTIONS = {
  line = { label = true, labels = true, color = true, linewidth = true, marker = true },
  scatter = { label = true, labels = true, color = true, size = true },
  bar = { label = true, labels = true, color = true },
  hist = { label = true, labels = true, color = true, bins = true, density = true },
}
local LEGEND_PLACES = { best = true, outside = true, ["upper right"] = true,
  ["upper left"] = true, ["lower right"] = true, ["lower left"] = true }

local function check_figure_option(key, v)
  local kind = FIGURE_OPTIONS[key]
  if v == nil then
    return nil
  elseif kind == "text" then
    return clean_text(v, key)
  elseif kind == "side" then
    if type(v) ~= "number" or not (v >= MIN_SIDE and v <= MAX_SIDE) then
      fail(format("%s must be a number of pixels from %d to %d", key, MIN_SIDE, MAX_SIDE))
    end
    return v
  elseif kind == "limits" then
    local lo, hi = type(v) == "table" and rawget(v, 1), type(v) == "table" and rawget(v, 2)
    if type(lo) ~= "number" or type(hi) ~= "number" or not (is_finite(lo) and is_finite(hi))
      or lo >= hi then
      fail(key .. " must be {lo, hi} with finite numbers lo < hi")
    elseif not is_finite(hi - lo) or not wide_enough(lo, hi) then
      fail(key .. " is too wide or too narrow to draw")
    end
    return { lo, hi }
  elseif kind == "legend" then
    if v == true then
      return "best"
    elseif v ~= false and not LEGEND_PLACES[v] then
      fail("legend must be true, false, \"best\", \"outside\", \"upper right\", \"upper left\", "
        .. "\"lower right\" or \"lower left\"")
    end
    return v
  elseif type(v) ~= "boolean" then
    fail(key .. " must be true or false")
  end
  return v
end

-- the options a call takes: the figure's, and its series' own
local ALLOWED = {}
for _, kind in next, { "figure", "line", "scatter", "bar", "hist" } do
  local allowed = {}
  for key in next, FIGURE_OPTIONS do
    allowed[key] = true
  end
  for key in next, SERIES_OPTIONS[kind] or {} do
    allowed[key] = true
  end
  ALLOWED[kind] = allowed
end

local function check_options(opts, kind)
  return errors.options(opts, ALLOWED[kind], a_type)
end

local function set_figure_options(fig, opts)
  for key in next, FIGURE_OPTIONS do
    if opts[key] ~= nil then
      fig[key] = check_figure_option(key, opts[key])
    end
  end
end

-- (ys [, opts]) or (xs, ys [, opts]): a second argument is data when it is a non-empty list.
local function split_args(a, b, c)
  if c ~= nil or (type(b) == "table" and rawget(b, 1) ~= nil) then
    return a, b, c
  end
  return nil, a, b
end

-- A copy of one list of numbers, so later changes by the cell cannot break drawing. `used`
-- values of the same call already count against `cap`.
local function number_list(t, what, cap, used)
  if type(t) ~= "table" then
    fail(format("%s must be a list of numbers, got %s", what, a_type(t)))
  end
  local n = rawlen(t)
  if n == 0 then
    fail(what .. " is empty")
  elseif n > cap - (used or 0) then
    fail(format("too many values (more than %d); sample or aggregate the data first", cap))
  end
  local copy = {}
  for i = 1, n do
    local v = rawget(t, i)
    if type(v) ~= "number" then
      fail(format("%s[%d] is %s, expected a number", what, i, a_type(v)))
    end
    copy[i] = v
  end
  return copy
end

-- One list of numbers or a list of lists -> a list of copied lists (one per series).
local function series_lists(t, what, cap)
  if type(t) ~= "table" then
    fail(format("%s must be a list of numbers or a list of lists, got %s", what, a_type(t)))
  end
  if type(rawget(t, 1)) ~= "table" then
    return { number_list(t, what, cap) }
  end
  local lists, total = {}, 0
  for i = 1, rawlen(t) do
    lists[i] = number_list(rawget(t, i), format("%s[%d]", what, i), cap, total)
    total = total + #lists[i]
  end
  return lists
end

local function series_style(opts, count, i)
  local label, labels, color = opts.label, opts.labels, opts.color
  if label ~= nil and count > 1 then
    fail("label is for one series; use labels = {...} with one label per series")
  end
  if labels ~= nil then
    if type(labels) ~= "table" or rawlen(labels) ~= count then
      fail(format("labels must be a list of %d label(s), one per series", count))
    end
    label = rawget(labels, i)
  end
  if type(color) == "table" then
    if rawlen(color) ~= count then
      fail(format("color must be one colour or a list of %d colour(s), one per series", count))
    end
    color = rawget(color, i)
  end
  return label ~= nil and clean_text(label, "label") or nil,
    color ~= nil and check_color(color, "color") or nil
end

local function number_option(opts, key, lo, hi, default)
  local v = opts[key]
  if v == nil then
    return default
  elseif type(v) ~= "number" or not (v >= lo and v <= hi) then
    fail(format("%s must be a number from %g to %g", key, lo, hi))
  end
  return v
end

local function figure_state(fig, name)
  local st = getmetatable(fig) == FigureMT and state[fig]
  if not st then
    fail(format("expected a figure as self; call it as fig:%s(...), with a colon", name))
  end
  return st
end

local function add_series(st, s, count)
  if st.points + count > MAX_POINTS then
    fail(format("too many points (more than %d in one figure); sample or aggregate the data "
      .. "first, e.g. with plot.hist", MAX_POINTS))
  end
  st.points = st.points + count
  st.series[#st.series + 1] = s
end

---------------------------------------------------------------------------------------------------
-- adding data

local function add_xy(fig, kind, a, b, c)
  local st = figure_state(fig, kind)
  local xs, ys, opts = split_args(a, b, c)
  opts = check_options(opts, kind)
  set_figure_options(fig, opts)
  local ylists = series_lists(ys, "ys", MAX_POINTS)
  local xlists = {}
  if xs ~= nil then
    if type(xs) == "table" and type(rawget(xs, 1)) == "table" then
      xlists = series_lists(xs, "xs", MAX_POINTS)
      if #xlists ~= #ylists then
        fail(format("xs has %d lists but ys has %d series", #xlists, #ylists))
      end
    else
      local shared = number_list(xs, "xs", MAX_POINTS)
      for i = 1, #ylists do
        xlists[i] = shared
      end
    end
  end
  local linewidth = number_option(opts, "linewidth", 0.25, 20, 2)
  local size = number_option(opts, "size", 0.5, 30, 3.5)
  if opts.marker ~= nil and type(opts.marker) ~= "boolean" then
    fail("marker must be true or false")
  end
  for i = 1, #ylists do
    local x, y = xlists[i], ylists[i]
    if x and #x ~= #y then
      fail(format("xs has %d values but ys%s has %d; they must have the same length", #x,
        #ylists > 1 and format("[%d]", i) or "", #y))
    end
    local label, color = series_style(opts, #ylists, i)
    add_series(st, { kind = kind, xs = x, ys = y, label = label, color = color,
      linewidth = linewidth, marker = opts.marker, size = size }, #y)
  end
  return fig
end

local function add_bar(fig, a, b, c)
  local st = figure_state(fig, "bar")
  local labels, values, opts = split_args(a, b, c)
  opts = check_options(opts, "bar")
  set_figure_options(fig, opts)
  local lists = series_lists(values, "values", MAX_POINTS)
  local n = #lists[1]
  local categories = {}
  if labels ~= nil then
    if type(labels) ~= "table" then
      fail("labels must be a list of strings, got " .. a_type(labels))
    end
    n = rawlen(labels)
    if n == 0 then
      fail("labels is empty")
    end
    for i = 1, n do
      categories[i] = clean_text(rawget(labels, i), format("labels[%d]", i))
    end
  else
    for i = 1, n do
      categories[i] = format("%d", i)
    end
  end
  if st.categories and #st.categories ~= n then
    fail(format("this figure's bars have %d categories, not %d", #st.categories, n))
  end
  for i = 1, #lists do
    if #lists[i] ~= n then
      fail(format("values%s has %d values for %d categories", #lists > 1 and format("[%d]", i)
        or "", #lists[i], n))
    end
  end
  if labels ~= nil or not st.categories then
    st.categories = categories
  end
  for i = 1, #lists do
    local label, color = series_style(opts, #lists, i)
    add_series(st, { kind = "bar", values = lists[i], label = label, color = color }, n)
  end
  return fig
end

local function bin_edges(lists, bins)
  if type(bins) == "table" then
    local edges = number_list(bins, "bins", MAX_BINS + 1)
    if #edges < 2 or #edges > MAX_BINS + 1 then
      fail(format("bins must list from 2 to %d edges", MAX_BINS + 1))
    end
    for i = 1, #edges do
      if not is_finite(edges[i]) or (i > 1 and edges[i] <= edges[i - 1]) then
        fail("bins must list finite edges in increasing order")
      end
    end
    return edges
  end
  local lo, hi, largest = huge, -huge, 0
  for _, list in next, lists do
    local finite = 0
    for _, v in next, list do
      if is_finite(v) then
        lo, hi, finite = min(lo, v), max(hi, v), finite + 1
      end
    end
    largest = max(largest, finite)
  end
  if largest == 0 then
    fail("no finite values to count (all are NaN or infinite)")
  end
  local count = bins or ceil(log(largest, 2) + 1) -- Sturges' rule
  if mathtype(count) ~= "integer" or count < 1 or count > MAX_BINS then
    fail(format("bins must be a whole number from 1 to %d or a list of edges", MAX_BINS))
  end
  if not is_finite(hi - lo) then
    fail("values are too large to count in bins")
  elseif not wide_enough(lo, hi) then -- one value: a bin around it, as numpy does
    local mid = lo / 2 + hi / 2
    local d = max(0.5, abs(mid) * 1e-3)
    lo, hi = mid - d, mid + d
  end
  local edges, width = {}, (hi - lo) / count
  for i = 0, count do
    edges[i + 1] = i == count and hi or lo + i * width
  end
  return edges
end

-- Index of the bin holding v, or nil when v is outside the edges. Evenly spaced bins are
-- computed directly; a list of edges is searched.
local function bin_index(edges, v, even)
  local n = #edges
  if not (v >= edges[1] and v <= edges[n]) then
    return nil
  elseif even then
    local b = min(max(floor((v - edges[1]) / (edges[n] - edges[1]) * (n - 1)) + 1, 1), n - 1)
    if v < edges[b] then -- rounding can land one bin off
      return b - 1
    elseif v >= edges[b + 1] and b < n - 1 then
      return b + 1
    end
    return b
  end
  local lo, hi = 1, n
  while hi - lo > 1 do
    local mid = (lo + hi) // 2
    if v < edges[mid] then
      hi = mid
    else
      lo = mid
    end
  end
  return lo
end

local function add_hist(fig, values, opts)
  local st = figure_state(fig, "hist")
  opts = check_options(opts, "hist")
  set_figure_options(fig, opts)
  local lists = series_lists(values, "values", MAX_HIST_VALUES)
  local edges = bin_edges(lists, opts.bins)
  local even = type(opts.bins) ~= "table"
  if opts.density ~= nil and type(opts.density) ~= "boolean" then
    fail("density must be true or false")
  end
  for i = 1, #lists do
    local list, counts, counted = lists[i], {}, 0
    for b = 1, #edges - 1 do
      counts[b] = 0
    end
    for _, v in next, list do
      local b = is_finite(v) and bin_index(edges, v, even)
      if b then
        counts[b], counted = counts[b] + 1, counted + 1
      end
    end
    if opts.density and counted > 0 then
      for b = 1, #counts do
        counts[b] = counts[b] / (counted * (edges[b + 1] - edges[b]))
      end
    end
    local label, color = series_style(opts, #lists, i)
    add_series(st, { kind = "hist", edges = edges, counts = counts, values = #list,
      density = opts.density, label = label, color = color }, #counts)
  end
  return fig
end

---------------------------------------------------------------------------------------------------
-- scales and ticks

-- About `target` ticks on [lo, hi] at a "nice" step: 1, 2 or 5 times a power of ten. Returns
-- the tick values and the step's power of ten (which sets how many decimals the labels need).
local function nice_ticks(lo, hi, target, integer)
  local raw = (hi - lo) / max(target, 1)
  local e = floor(log(raw, 10))
  local f = raw / 10.0 ^ e
  local m = f < 1.5 and 1 or f < 3 and 2 or f < 7 and 5 or 10
  if m == 10 then
    m, e = 1, e + 1
  end
  if integer and e < 0 then
    m, e = 1, 0
  end
  while true do
    local step = m * 10.0 ^ e
    local first, last = ceil(lo / step - 1e-9), floor(hi / step + 1e-9)
    if not (last - first < 10000) then -- NaN too: a range wide_enough() should have refused
      fail("cannot place ticks between " .. tostring(lo) .. " and " .. tostring(hi))
    elseif last > first or (integer and m == 1 and e == 0) or e < -300 then
      local ticks = {}
      for i = first, last do
        -- i*m / 10^k is exact where i*m*10^-k is not: 3 * 0.1 prints as 0.30000000000000004
        ticks[#ticks + 1] = e >= 0 and i * m * 10.0 ^ e or i * m / 10.0 ^ -e
      end
      return ticks, e
    end
    if m == 1 then -- fewer than two ticks: the next smaller nice step
      m, e = 5, e - 1
    elseif m == 5 then
      m = 2
    else
      m = 1
    end
  end
end

local SUPERSCRIPTS = { ["-"] = "⁻", ["0"] = "⁰", ["1"] = "¹", ["2"] = "²", ["3"] = "³",
  ["4"] = "⁴", ["5"] = "⁵", ["6"] = "⁶", ["7"] = "⁷", ["8"] = "⁸", ["9"] = "⁹" }
local SI_SUFFIXES = { [3] = "k", [6] = "M", [9] = "G", [12] = "T" }

-- Labels with as many decimals as the step needs (no float noise) and a true minus sign;
-- from 100,000 up they get SI suffixes (250k, 2.5M), tiny or huge values a shared power of ten.
local function tick_labels(ticks, e)
  local biggest = 0
  for i = 1, #ticks do
    biggest = max(biggest, abs(ticks[i]))
  end
  local power = biggest > 0 and floor(log(biggest, 10) + 1e-9) or 0
  local scale, suffix = 0, ""
  if power >= 5 and power < 15 then
    scale = power - power % 3
    suffix = SI_SUFFIXES[scale]
  elseif power >= 15 or power < -4 then
    scale = power
    suffix = "×10" .. gsub(format("%d", power), ".", SUPERSCRIPTS)
  end
  local labels = {}
  for i = 1, #ticks do
    local v = ticks[i] / 10.0 ^ scale
    local text = format("%." .. max(0, scale - e) .. "f", v)
    if tonumber(text) == 0 then
      text = "0"
    elseif scale ~= 0 then
      text = text .. suffix
    end
    labels[i] = gsub(text, "^%-", "−")
  end
  return labels
end

-- [lo, hi] of the data widened by `pad` (a fraction) on each side. A side that rests on zero
-- for bars and histograms stays there: bars start at zero.
local function axis_range(lo, hi, pad, zero_based, integer)
  if not is_finite(hi - lo) then
    fail("values are too large to plot")
  end
  local was_lo, was_hi = lo, hi
  if not wide_enough(lo, hi) then -- one value, or values too close to tell apart
    local mid = lo / 2 + hi / 2
    local d = integer and 1 or abs(mid) > 1e-280 and abs(mid) * 0.1 or 1
    lo, hi = mid - d, mid + d
  else
    local p = (hi - lo) * pad
    lo, hi = lo - p, hi + p
  end
  if zero_based and was_lo == 0 then
    lo = 0
  elseif zero_based and was_hi == 0 then
    hi = 0
  end
  return lo, hi
end

-- The data's extent over every series, and what kind of axes it wants.
local function data_extent(st)
  local ext = { xlo = huge, xhi = -huge, ylo = huge, yhi = -huge, zero = false, integer = true,
    bars = 0, pad = 0.05, only_hist = true }
  local function extend(x, y)
    if is_finite(x) and is_finite(y) then
      ext.xlo, ext.xhi = min(ext.xlo, x), max(ext.xhi, x)
      ext.ylo, ext.yhi = min(ext.ylo, y), max(ext.yhi, y)
    end
  end
  for _, s in next, st.series do
    ext.only_hist = ext.only_hist and s.kind == "hist"
    ext.density = ext.density or s.density
    if s.kind == "bar" then
      ext.bars, ext.zero = ext.bars + 1, true
      for i = 1, #s.values do
        extend(i, s.values[i])
        extend(i, 0)
      end
    elseif s.kind == "hist" then
      ext.zero, ext.integer, ext.pad = true, false, 0.02
      for b = 1, #s.counts do
        extend(s.edges[b], s.counts[b])
        extend(s.edges[b + 1], 0)
      end
    else
      ext.integer = ext.integer and s.xs == nil
      for i = 1, #s.ys do
        extend(s.xs and s.xs[i] or i, s.ys[i])
      end
    end
  end
  if ext.xlo > ext.xhi then
    fail("no finite values to plot (all are NaN or infinite)")
  end
  return ext
end

---------------------------------------------------------------------------------------------------
-- SVG output

local function px(v)
  return format("%.1f", v > MAX_PIXEL and MAX_PIXEL or v < -MAX_PIXEL and -MAX_PIXEL or v)
end

local function series_color(s, index)
  return s.color or PALETTE[(index - 1) % #PALETTE + 1]
end

-- One path, broken where a value is NaN or infinite. Points that would stand alone between
-- gaps (and every point, with opts.marker) get a marker, or they would not show at all.
local function draw_line(out, s, color, sx, sy, hits)
  local d, n, run, markers = {}, 0, 0, {}
  for i = 1, #s.ys + 1 do
    local x, y = s.xs and s.xs[i] or i, s.ys[i]
    if y and is_finite(x) and is_finite(y) then
      local X, Y = sx(x), sy(y)
      n = n + 1
      d[n] = (run == 0 and "M" or "L") .. px(X) .. "," .. px(Y)
      run = run + 1
      hits[#hits + 1] = { X, Y }
    else
      if run == 1 or (run > 0 and s.marker) then
        for j = #hits - run + 1, #hits do
          markers[#markers + 1] = hits[j]
        end
      end
      run = 0
    end
  end
  out[#out + 1] = format('<g class="series line" fill="none" stroke="%s" stroke-width="%g" '
    .. 'stroke-linejoin="round" stroke-linecap="round"><path d="%s"/>', xml(color), s.linewidth,
    concat(d))
  if #markers > 0 then
    local r = max(3.5, s.linewidth * 1.5)
    out[#out + 1] = format('<g class="markers" fill="%s" stroke="#ffffff" stroke-width="1">',
      xml(color))
    for i = 1, #markers do
      out[#out + 1] = format('<circle cx="%s" cy="%s" r="%g"/>', px(markers[i][1]),
        px(markers[i][2]), r)
    end
    out[#out + 1] = "</g>"
  end
  out[#out + 1] = "</g>"
end

local function draw_scatter(out, s, color, sx, sy, hits)
  out[#out + 1] = format('<g class="series scatter" fill="%s" fill-opacity="0.85" '
    .. 'stroke="#ffffff" stroke-width="0.75">', xml(color))
  local r = format("%g", s.size)
  for i = 1, #s.ys do
    local x, y = s.xs and s.xs[i] or i, s.ys[i]
    if is_finite(x) and is_finite(y) then
      local X, Y = sx(x), sy(y)
      hits[#hits + 1] = { X, Y }
      out[#out + 1] = '<circle cx="' .. px(X) .. '" cy="' .. px(Y) .. '" r="' .. r .. '"/>'
    end
  end
  out[#out + 1] = "</g>"
end

local function rect(out, x0, y0, x1, y1, boxes)
  local x, y = min(x0, x1), min(y0, y1)
  local w, h = abs(x1 - x0), abs(y1 - y0)
  boxes[#boxes + 1] = { x, y, w, h }
  out[#out + 1] = '<rect x="' .. px(x) .. '" y="' .. px(y) .. '" width="' .. px(w)
    .. '" height="' .. px(h) .. '"/>'
end

local BAR_GROUP = 0.8 -- share of a category's slot that its bars fill

local function draw_bars(out, s, color, slot, slots, sx, sy, boxes)
  out[#out + 1] = format('<g class="series bar" fill="%s">', xml(color))
  local w = BAR_GROUP / slots
  for i = 1, #s.values do
    local v = s.values[i]
    if is_finite(v) then
      local x = i - BAR_GROUP / 2 + (slot - 1) * w
      -- a hairline gap between neighbouring bars of a group
      local gap = slots > 1 and 0.5 or 0
      rect(out, sx(x) + gap, sy(0), sx(x + w) - gap, sy(v), boxes)
    end
  end
  out[#out + 1] = "</g>"
end

local function draw_hist(out, s, color, overlap, sx, sy, boxes)
  out[#out + 1] = format('<g class="series hist" fill="%s"%s stroke="#ffffff" '
    .. 'stroke-width="0.8">', xml(color), overlap and ' fill-opacity="0.55"' or "")
  for b = 1, #s.counts do
    if s.counts[b] > 0 then
      rect(out, sx(s.edges[b]), sy(0), sx(s.edges[b + 1]), sy(s.counts[b]), boxes)
    end
  end
  out[#out + 1] = "</g>"
end

local function text(out, x, y, s, attrs)
  out[#out + 1] = format('<text x="%s" y="%s"%s>%s</text>', px(x), px(y), attrs or "", xml(s))
end

---------------------------------------------------------------------------------------------------
-- layout

local LEGEND_ROW, LEGEND_PAD, LEGEND_SWATCH, LEGEND_INSET = 19, 8, 20, 10
local LEGEND_TEXT_ROOM = 200 -- pixels; longer labels are cut

local function legend_entries(st)
  local entries = {}
  for i, s in next, st.series do
    if s.label then
      entries[#entries + 1] = { s = s, color = series_color(s, i),
        label = fit_text(s.label, LEGEND_SIZE, LEGEND_TEXT_ROOM) }
    end
  end
  return entries
end

local function legend_size(entries)
  local widest = 0
  for _, e in next, entries do
    widest = max(widest, text_width(e.label, LEGEND_SIZE))
  end
  return LEGEND_PAD * 2 + LEGEND_SWATCH + 6 + widest, LEGEND_PAD * 1.2 + LEGEND_ROW * #entries
end

-- The inside corner where the legend covers the fewest drawn points and bar area.
local function best_legend_corner(w, h, pw, ph, hits, boxes)
  local corners = {
    { pw - w - LEGEND_INSET, LEGEND_INSET }, { LEGEND_INSET, LEGEND_INSET },
    { pw - w - LEGEND_INSET, ph - h - LEGEND_INSET }, { LEGEND_INSET, ph - h - LEGEND_INSET },
    { (pw - w) / 2, LEGEND_INSET }, { (pw - w) / 2, ph - h - LEGEND_INSET },
  }
  local best, best_score = corners[1], huge
  for _, c in next, corners do
    local x0, y0, x1, y1 = c[1] - 4, c[2] - 4, c[1] + w + 4, c[2] + h + 4
    local score = 0
    for _, p in next, hits do
      if p[1] >= x0 and p[1] <= x1 and p[2] >= y0 and p[2] <= y1 then
        score = score + 1
      end
    end
    for _, b in next, boxes do
      local ox = min(x1, b[1] + b[3]) - max(x0, b[1])
      local oy = min(y1, b[2] + b[4]) - max(y0, b[2])
      if ox > 0 and oy > 0 then
        score = score + ox * oy / 40
      end
    end
    if score < best_score then
      best, best_score = c, score
    end
  end
  return best[1], best[2]
end

local LEGEND_CORNERS = { ["upper right"] = { 1, 0 }, ["upper left"] = { 0, 0 },
  ["lower right"] = { 1, 1 }, ["lower left"] = { 0, 1 } }

local function draw_legend(out, entries, x, y, w, h)
  out[#out + 1] = format('<g class="legend" font-size="%g" fill="%s">', LEGEND_SIZE, LABEL_INK)
  out[#out + 1] = format('<rect x="%s" y="%s" width="%s" height="%s" rx="4" fill="#ffffff" '
    .. 'fill-opacity="0.9" stroke="#dddddd"/>', px(x), px(y), px(w), px(h))
  for i, e in next, entries do
    local cy = y + LEGEND_PAD * 0.6 + LEGEND_ROW * (i - 0.5)
    local sx, color, kind = x + LEGEND_PAD, xml(e.color), e.s.kind
    if kind == "line" then
      out[#out + 1] = format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" '
        .. 'stroke-width="%g" stroke-linecap="round"/>', px(sx), px(cy), px(sx + LEGEND_SWATCH),
        px(cy), color, min(e.s.linewidth, 4))
      if e.s.marker then
        out[#out + 1] = format('<circle cx="%s" cy="%s" r="3" fill="%s" stroke="#ffffff"/>',
          px(sx + LEGEND_SWATCH / 2), px(cy), color)
      end
    elseif kind == "scatter" then
      out[#out + 1] = format('<circle cx="%s" cy="%s" r="4" fill="%s"/>',
        px(sx + LEGEND_SWATCH / 2), px(cy), color)
    else
      out[#out + 1] = format('<rect x="%s" y="%s" width="12" height="12" rx="2" fill="%s"/>',
        px(sx + LEGEND_SWATCH / 2 - 6), px(cy - 6), color)
    end
    text(out, sx + LEGEND_SWATCH + 6, cy, e.label, ' dy="0.35em"')
  end
  out[#out + 1] = "</g>"
end

local CATEGORY_CHARS = 20 -- longer category labels are cut
local ROTATION = rad(40) -- for category labels too wide to sit side by side
local TICK_SPACING_X, TICK_SPACING_Y = 90, 48 -- pixels per tick, roughly

local function widest_text(texts, size)
  local w = 0
  for i = 1, #texts do
    w = max(w, text_width(texts[i], size))
  end
  return w
end

-- Category labels, one per bar slot (thinned out when slots are narrow), and whether they
-- must be rotated to fit.
local function category_ticks(categories, slot)
  local labels = {}
  for i = 1, #categories do
    local label = categories[i]
    if utf8len(label) > CATEGORY_CHARS then
      label = sub(label, 1, utf8offset(label, CATEGORY_CHARS) - 1) .. "…"
    end
    labels[i] = label
  end
  local widest = widest_text(labels, TICK_SIZE)
  local rotated = widest > slot - 8
  -- rotated labels still need a line height between their baselines
  local every = rotated and max(1, ceil(TICK_SIZE * 1.3 / (slot * sin(ROTATION)))) or 1
  local ticks, kept = {}, {}
  for i = 1, #labels, every do
    ticks[#ticks + 1], kept[#kept + 1] = i, labels[i]
  end
  return ticks, kept, rotated, widest
end

-- Fewer ticks until their labels do not touch, or no fewer are possible.
local function numeric_ticks(lo, hi, target, integer, room)
  while true do
    local ticks, e = nice_ticks(lo, hi, target, integer)
    local labels = tick_labels(ticks, e)
    if target <= 1 or #ticks <= 2 or (widest_text(labels, TICK_SIZE) + 14) * #ticks < room then
      return ticks, labels
    end
    target = target * 0.7
  end
end

-- Margins, plot box and ticks. Two passes: rotated category labels need a deeper bottom
-- margin (which shrinks the plot) and may reach past the left edge.
local function layout(fig, st, ext, view, legend_w, ylabel)
  local g = { W = fig.width or DEFAULT_WIDTH, H = fig.height or DEFAULT_HEIGHT, ylabel = ylabel }
  g.top = fig.title and 44 or 18
  g.right = legend_w and legend_w + 28 or 22
  local base_bottom = 14 + TICK_LEN + TICK_PAD + TICK_SIZE + (fig.xlabel and 26 or 0)
  local bottom, overhang = base_bottom, 0
  for _ = 1, 2 do
    g.ph = floor(g.H - g.top - bottom)
    g.yticks, g.ylabels = numeric_ticks(view.y0, view.y1, g.ph / TICK_SPACING_Y, false, huge)
    local ylabel_room = g.ylabel and 26 or 0
    g.left = floor(14 + ylabel_room + widest_text(g.ylabels, TICK_SIZE) + TICK_LEN + TICK_PAD)
    g.left = max(g.left, floor(overhang))
    g.pw = floor(g.W - g.left - g.right)
    if not st.categories then
      g.xticks, g.xlabels = numeric_ticks(view.x0, view.x1, g.pw / TICK_SPACING_X, ext.integer,
        g.pw)
      break
    end
    local slot = g.pw / (view.x1 - view.x0)
    local widest
    g.xticks, g.xlabels, g.rotated, widest = category_ticks(st.categories, slot)
    if not g.rotated then
      break
    end
    bottom = base_bottom + widest * sin(ROTATION) + 4
    local first_x = (g.xticks[1] - view.x0) * slot
    overhang = widest * cos(ROTATION) - first_x + 8
  end
  if g.pw < 40 or g.ph < 40 then
    fail("the figure is too small for its labels; make width or height larger")
  end
  g.bottom_y = g.top + g.ph
  local v = view
  function g.sx(x)
    return (x - v.x0) / (v.x1 - v.x0) * g.pw
  end
  function g.sy(y)
    return (v.y1 - y) / (v.y1 - v.y0) * g.ph
  end
  return g
end

-- The visible data range: the figure's xlim/ylim, or the data's extent with some padding.
local function view_range(fig, st, ext)
  local v = {}
  if fig.xlim then
    v.x0, v.x1 = fig.xlim[1], fig.xlim[2]
  elseif st.categories then
    v.x0, v.x1 = min(0.5, ext.xlo - 0.5), max(#st.categories + 0.5, ext.xhi + 0.5)
  else
    v.x0, v.x1 = axis_range(ext.xlo, ext.xhi, ext.pad, false, ext.integer)
  end
  if fig.ylim then
    v.y0, v.y1 = fig.ylim[1], fig.ylim[2]
  else
    v.y0, v.y1 = axis_range(ext.ylo, ext.yhi, 0.05, ext.zero, false)
  end
  return v
end

local function draw_grid(out, g, categorical)
  out[#out + 1] = format('<g class="grid" stroke="%s" stroke-width="1" '
    .. 'shape-rendering="crispEdges">', GRID_INK)
  for _, v in next, g.yticks do
    local Y = floor(g.top + g.sy(v)) + 0.5
    out[#out + 1] = format('<line x1="%d" y1="%s" x2="%d" y2="%s"/>', g.left, Y, g.left + g.pw, Y)
  end
  if not categorical then
    for _, v in next, g.xticks do
      local X = floor(g.left + g.sx(v)) + 0.5
      out[#out + 1] = format('<line x1="%s" y1="%d" x2="%s" y2="%d"/>', X, g.top, X, g.bottom_y)
    end
  end
  out[#out + 1] = "</g>"
end

-- Every series, clipped to the plot box by a nested <svg> (which needs no id that could clash
-- with another figure on the same page). Returns what a legend should avoid covering.
local function draw_data(out, st, ext, g, view)
  out[#out + 1] = format('<svg class="data" x="%d" y="%d" width="%d" height="%d" '
    .. 'viewBox="0 0 %d %d" overflow="hidden">', g.left, g.top, g.pw, g.ph, g.pw, g.ph)
  local hits, boxes, slot, hists = {}, {}, 0, 0
  for _, s in next, st.series do
    hists = hists + (s.kind == "hist" and 1 or 0)
  end
  for i, s in next, st.series do
    local color = series_color(s, i)
    if s.kind == "line" then
      draw_line(out, s, color, g.sx, g.sy, hits)
    elseif s.kind == "scatter" then
      draw_scatter(out, s, color, g.sx, g.sy, hits)
    elseif s.kind == "bar" then
      slot = slot + 1
      draw_bars(out, s, color, slot, ext.bars, g.sx, g.sy, boxes)
    else
      draw_hist(out, s, color, hists > 1, g.sx, g.sy, boxes)
    end
  end
  if ext.zero and view.y0 < 0 and view.y1 > 0 then -- the baseline bars grow from
    local Y = floor(g.sy(0)) + 0.5
    out[#out + 1] = format('<line class="zero" x1="0" y1="%s" x2="%d" y2="%s" stroke="%s" '
      .. 'shape-rendering="crispEdges"/>', Y, g.pw, Y, SPINE_INK)
  end
  out[#out + 1] = "</svg>"
  return hits, boxes
end

-- Left and bottom spines with outward ticks, then the tick labels.
local function draw_axes(out, g)
  local left, bottom_y = g.left, g.bottom_y
  out[#out + 1] = format('<g class="axes" stroke="%s" stroke-width="1" '
    .. 'shape-rendering="crispEdges"><line x1="%s" y1="%d" x2="%s" y2="%d"/>'
    .. '<line x1="%d" y1="%s" x2="%d" y2="%s"/>', SPINE_INK, left - 0.5, g.top, left - 0.5,
    bottom_y, left, bottom_y + 0.5, left + g.pw, bottom_y + 0.5)
  for _, v in next, g.yticks do
    local Y = floor(g.top + g.sy(v)) + 0.5
    out[#out + 1] = format('<line x1="%d" y1="%s" x2="%d" y2="%s"/>', left - TICK_LEN, Y, left, Y)
  end
  for _, v in next, g.xticks do
    local X = floor(left + g.sx(v)) + 0.5
    out[#out + 1] = format('<line x1="%s" y1="%d" x2="%s" y2="%d"/>', X, bottom_y, X,
      bottom_y + TICK_LEN)
  end
  out[#out + 1] = "</g>"
  out[#out + 1] = format('<g class="ticks" font-size="%g" fill="%s">', TICK_SIZE, TICK_INK)
  for i, v in next, g.yticks do
    text(out, left - TICK_LEN - TICK_PAD, g.top + g.sy(v), g.ylabels[i],
      ' text-anchor="end" dy="0.32em"')
  end
  local y = bottom_y + TICK_LEN + TICK_PAD
  for i, v in next, g.xticks do
    local x = left + g.sx(v)
    local attrs = ' text-anchor="middle" dy="0.71em"'
    if g.rotated then
      attrs = format(' text-anchor="end" dy="0.71em" transform="rotate(%g %s %s)"',
        -ROTATION * 180 / pi, px(x), px(y))
    end
    text(out, x, y, g.xlabels[i], attrs)
  end
  out[#out + 1] = "</g>"
end

local function draw_titles(out, g, title, xlabel, ylabel)
  if xlabel then
    xlabel = fit_text(xlabel, LABEL_SIZE, g.W - 16)
    text(out, g.left + g.pw / 2, g.H - 12, xlabel, format(' class="xlabel" '
      .. 'text-anchor="middle" font-size="%g" fill="%s"', LABEL_SIZE, LABEL_INK))
  end
  if ylabel then
    ylabel = fit_text(ylabel, LABEL_SIZE, g.ph + g.top)
    out[#out + 1] = format('<text class="ylabel" transform="translate(12 %s) rotate(-90)" '
      .. 'text-anchor="middle" dy="0.71em" font-size="%g" fill="%s">%s</text>',
      px(g.top + g.ph / 2), LABEL_SIZE, LABEL_INK, xml(ylabel))
  end
  if title then -- centred on the plot, but kept inside the figure when it is long
    title = fit_text(title, TITLE_SIZE * BOLD, g.W - 16)
    local half = text_width(title, TITLE_SIZE * BOLD) / 2
    local x = min(max(g.left + g.pw / 2, half + 8), g.W - half - 8)
    text(out, x, 27, title, format(' class="title" text-anchor="middle" font-size="%g" '
      .. 'font-weight="600" fill="%s"', TITLE_SIZE, INK))
  end
end

local function legend_position(place, g, w, h, hits, boxes)
  if place == "outside" then
    return g.left + g.pw + 16, g.top
  elseif place == "best" then
    local x, y = best_legend_corner(w, h, g.pw, g.ph, hits, boxes)
    return g.left + x, g.top + y
  end
  local c = LEGEND_CORNERS[place]
  return g.left + (c[1] == 1 and g.pw - w - LEGEND_INSET or LEGEND_INSET),
    g.top + (c[2] == 1 and g.ph - h - LEGEND_INSET or LEGEND_INSET)
end

local function render(fig)
  local st = figure_state(fig, "svg")
  if #st.series == 0 then
    fail("the figure is empty; add data with fig:line(...), fig:scatter(...), fig:bar(...) "
      .. "or fig:hist(...)")
  end
  for key in next, FIGURE_OPTIONS do -- fields may have been set directly on the figure
    fig[key] = check_figure_option(key, rawget(fig, key))
  end
  local ext = data_extent(st)
  local ylabel = fig.ylabel
  if ylabel == nil and ext.only_hist then
    ylabel = ext.density and "Density" or "Count"
  end
  local view = view_range(fig, st, ext)
  local entries = fig.legend ~= false and legend_entries(st) or {}
  local legend_w, legend_h = legend_size(entries)
  local outside = #entries > 0 and fig.legend == "outside"
  local g = layout(fig, st, ext, view, outside and legend_w or nil, ylabel)

  local out = {
    format('<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" '
      .. 'font-family="%s" role="img">', g.W, g.H, g.W, g.H, FONT),
  }
  if fig.title then
    out[#out + 1] = "<title>" .. xml(fig.title) .. "</title>"
  end
  -- opaque, so the text stays readable in dark-themed notebooks
  out[#out + 1] = format('<rect width="%g" height="%g" fill="#ffffff"/>', g.W, g.H)
  if fig.grid ~= false then
    draw_grid(out, g, st.categories ~= nil)
  end
  local hits, boxes = draw_data(out, st, ext, g, view)
  draw_axes(out, g)
  draw_titles(out, g, fig.title, fig.xlabel, ylabel)
  if #entries > 0 then
    local x, y = legend_position(fig.legend or "best", g, legend_w, legend_h, hits, boxes)
    draw_legend(out, entries, x, y, legend_w, legend_h)
  end
  out[#out + 1] = "</svg>"
  return concat(out, "\n")
end

---------------------------------------------------------------------------------------------------
-- figures

local function plural(n, word)
  return format("%d %s%s", n, word, n == 1 and "" or "s")
end

-- <plot.line: 2 series, 100 points>; a figure mixing kinds names them all.
local function summary(fig)
  local st = state[fig]
  if not st or #st.series == 0 then
    return "<plot.figure: empty>"
  end
  local kinds, seen, points, values, bins = {}, {}, 0, 0, 0
  for _, s in next, st.series do
    if not seen[s.kind] then
      seen[s.kind] = true
      kinds[#kinds + 1] = s.kind
    end
    if s.kind == "hist" then
      values, bins = values + s.values, max(bins, #s.counts)
    else
      points = points + #(s.ys or s.values)
    end
  end
  local name = #kinds == 1 and "plot." .. kinds[1] .. ":"
    or "plot.figure: " .. concat(kinds, " + ") .. ","
  local parts = { (#st.series == 1 and "1 series" or #st.series .. " series") }
  if seen.bar and #kinds == 1 then
    parts[2] = plural(points, "bar")
  elseif points > 0 then
    parts[#parts + 1] = plural(points, "point")
  end
  if values > 0 then
    parts[#parts + 1] = plural(values, "value")
    parts[#parts + 1] = plural(bins, "bin")
  end
  return "<" .. name .. " " .. concat(parts, ", ") .. ">"
end

local svg = public("plot.svg", render)
Figure.svg = svg
FigureMT.__svg = svg
FigureMT.__tostring = summary

local function new_figure(opts)
  local fig = setmetatable({}, FigureMT)
  state[fig] = { series = {}, points = 0 }
  set_figure_options(fig, check_options(opts, "figure"))
  return fig
end

local ADDERS = {
  line = function(fig, ...) return add_xy(fig, "line", ...) end,
  scatter = function(fig, ...) return add_xy(fig, "scatter", ...) end,
  bar = add_bar,
  hist = add_hist,
}
for kind, add in next, ADDERS do
  Figure[kind] = public("plot." .. kind, add)
  plot[kind] = public("plot." .. kind, function(...)
    return add(new_figure(nil), ...)
  end)
end
plot.figure = public("plot.figure", new_figure)

-- A copy: changing it does not change the module's colours.
plot.palette = {}
for i, c in next, PALETTE do
  plot.palette[i] = c
end

return plot
