-- The environment user cells run in, built from a WHITELIST of audited functions (never by
-- deleting entries from _G). Runs once per worker, with the real globals, before any user code.
--
--   local api = sandbox(host, limits)
--
-- `host` holds the Python callbacks: write(name, bytes), stop_reason(), request_stop(reason),
-- enter(thread_ptr, depth), leave(depth). Everything the host code below uses is captured in locals first,
-- so nothing a cell does to its own globals or to shared metatables can change the host's
-- behaviour.
local host, caps = ...

local G = _G
local assert, error, getmetatable, ipairs, next, pairs = assert, error, getmetatable, ipairs, next, pairs
local pcall, rawequal, rawget, rawlen, rawset, select = pcall, rawequal, rawget, rawlen, rawset, select
local setmetatable, tonumber, tostring, type, xpcall = setmetatable, tonumber, tostring, type, xpcall
local load, collectgarbage = load, collectgarbage
local s_format, s_rep, s_sub, s_byte, s_gsub = string.format, string.rep, string.sub, string.byte, string.gsub
local t_concat, t_pack, t_unpack, t_move = table.concat, table.pack, table.unpack, table.move
local co_create, co_resume, co_status, co_running = coroutine.create, coroutine.resume, coroutine.status, coroutine.running
local debug_sethook, d_getmetatable = debug.sethook, debug.getmetatable
local co_close = coroutine.close
local t_insert, t_remove = table.insert, table.remove
local m_tointeger = math.tointeger
local s_find = string.find
-- the real tostring and string.format print addresses: only the opaque versions below leave
-- this file (as the globals every later host chunk captures, and in the cell's environment)
local raw_tostring, raw_format = tostring, s_format

-- lupa hands a Python exception raised in a callback to Lua as a Python object. No cell may
-- ever hold one (it is the start of any walk into the host), so every callback is called
-- through `guarded`, which turns a failure into a plain string error.
local function guarded(f)
  return function(...)
    local results = t_pack(pcall(f, ...))
    if not results[1] then
      -- a string is a Lua error (e.g. C stack overflow on the way in): pass it on as it is
      if type(results[2]) == "string" then error(results[2], 0) end
      error("safekernel: the host could not complete this call", 2)
    end
    return t_unpack(results, 2, results.n)
  end
end
local host_write, host_stop_reason = guarded(host.write), guarded(host.stop_reason)
local host_request_stop = guarded(host.request_stop)
local host_enter, host_leave = guarded(host.enter), guarded(host.leave)
local host_data_list, host_data_read = guarded(host.data_list), guarded(host.data_read)

-- lupa registers a `python` module in the real globals even with builtins off; nothing here
-- needs it, and the whitelist below never copies it, but remove it so no path can reach it.
G.python = nil
if G.package and G.package.loaded then G.package.loaded.python = nil end

-- Largest count a C loop may be asked to run. These functions loop inside C without
-- allocating or returning to the VM, so no hook and no memory limit can stop them.
local MAX_C_LOOP = caps.max_c_loop

-- The one error value that means "a limit fired". A fresh table: no cell can forge it.
local STOP = setmetatable({}, { __tostring = function() return "stopped by safekernel" end, __metatable = false })

local function copy(t, except)
  local out = {}
  for k, v in pairs(t) do
    if not (except and except[k]) then out[k] = v end
  end
  return out
end

-- A C function behind one of these wrappers raises its argument errors at the wrapper's line,
-- naming the wrapper's local: re-raise them at the cell's line, under the public name. A
-- memory error passes through untouched, so the host still recognises it.
local function c_call(name, f, ...)
  local results = t_pack(pcall(f, ...))
  if results[1] then return t_unpack(results, 2, results.n) end
  local e = results[2]
  if type(e) ~= "string" or e == "not enough memory" then error(e, 0) end
  e = s_gsub(e, "^safekernel/[%w_]+:%d+: ", "")
  e = s_gsub(e, "to '[^']+'", "to '" .. name .. "'", 1)
  -- level 2: c_call is tail-called, so the wrapper's frame is gone and the caller is next
  error(e, 2)
end

------------------------------------------------------------------------------------------
-- No real address ever reaches a cell. Lua prints tables, functions, threads and userdata as
-- "table: 0x55..." (tostring, print, string.format's %s) and %p prints any object's address:
-- a code address defeats the library's ASLR, a heap address tells an exploit where to write.
-- Each such value gets a stable opaque id instead (a per-worker counter, in a weak-keyed table
-- so the ids never keep a value alive): "table: 0x00000001", the same for the same object.
------------------------------------------------------------------------------------------
local IDENTITY = { table = true, ["function"] = true, thread = true, userdata = true }
local ids = setmetatable({}, { __mode = "k" })
local last_id = 0

local function opaque_id(v)
  local id = ids[v]
  if id == nil then
    last_id = last_id + 1
    id = last_id
    ids[v] = id
  end
  return raw_format("0x%08x", id)
end

-- The real tostring on a value with a __tostring: the cell's own errors pass as they are, and
-- Lua's "must return a string" is raised at the caller's line (`level` above this function).
local BAD_TOSTRING = "'__tostring' must return a string"
local function call_tostring(v, level)
  local ok, text = pcall(raw_tostring, v)
  if ok then return text end
  -- (called through pcall, Lua's own message carries no position)
  if text == BAD_TOSTRING then error(BAD_TOSTRING, level + 1) end
  error(text, 0)
end

-- tostring, except that a value with an identity and no __tostring shows its opaque id (under
-- its __name, as Lua does). Metatables are read raw, as luaL_tolstring reads them. `level`
-- (internal) is where a bad __tostring result is blamed, for callers like string.format.
local function opaque_tostring(v, level)
  if not IDENTITY[type(v)] then return (raw_tostring(v)) end
  local mt = d_getmetatable(v)
  if mt ~= nil and rawget(mt, "__tostring") ~= nil then return call_tostring(v, level) end
  local name = mt ~= nil and rawget(mt, "__name") or nil
  return (type(name) == "string" and name or type(v)) .. ": " .. opaque_id(v)
end

local function safe_tostring(...)
  if select("#", ...) == 0 then return c_call("tostring", raw_tostring, ...) end
  local v = ...
  local text = opaque_tostring(v, 2)
  return text
end
tostring = safe_tostring
G.tostring = safe_tostring

------------------------------------------------------------------------------------------
-- Hooks: zero cost until a limit must fire. The host installs the C hook asynchronously
-- (lua_sethook from its watchdog thread) on the running thread(s); this Lua function is what
-- that hook calls. An instruction budget, when set, is a real count hook (it costs ~2x).
------------------------------------------------------------------------------------------
local budget, budget_step, used = 0, 0, 0

local function on_hook()
  if host_stop_reason() then error(STOP, 0) end
  used = used + budget_step
  if budget > 0 and used >= budget then
    host_request_stop("instructions")
    error(STOP, 0)
  end
end
-- Register on_hook for the main thread with an empty mask: it costs nothing until the host
-- arms it (ldblib keeps the Lua function in its registry table; only the C hook is switched).
debug_sethook(on_hook, "", 0)

local function arm_thread(co)
  debug_sethook(co, on_hook, "", budget_step > 0 and budget > 0 and budget_step or 0)
end

------------------------------------------------------------------------------------------
-- The whitelist.
------------------------------------------------------------------------------------------
local env = {}

for _, name in ipairs({ "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal",
  "rawget", "rawlen", "rawset", "select", "tonumber", "tostring", "type", "getmetatable" }) do
  env[name] = G[name]
end
env._VERSION = G._VERSION

-- __gc finalizers run with hooks off (and at any later time, even in another cell), so a
-- finalizer could never be stopped: refuse metatables that carry one.
function env.setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not allowed in the sandbox", 2)
  end
  return setmetatable(t, mt)
end

-- An xpcall message handler runs with hooks off when the error came from a hook: skip the
-- user's handler for our stop signal, or `xpcall(f, function() while true do end end)` could
-- never be stopped.
function env.xpcall(f, handler, ...)
  if type(handler) ~= "function" then
    error("bad argument #2 to 'xpcall' (function expected)", 2)
  end
  return xpcall(f, function(e)
    if rawequal(e, STOP) then return e end
    return handler(e)
  end, ...)
end

function env.collectgarbage(opt)
  if opt == "count" or opt == nil then
    if opt == nil then return 0 end
    return collectgarbage("count")
  end
  error("collectgarbage: only \"count\" is available in the sandbox", 2)
end

-- The host's traceback handler boxes errors in tables with this metatable. Lua's parser runs
-- under the caller's message handler, so a parse that overflows the C stack would hand load's
-- caller the host's box; env.load unboxes it.
local ERROR_BOX = { __metatable = false }

-- `load` only takes text chunks, and gets the sandbox environment unless given another table.
function env.load(chunk, chunkname, mode, chunkenv)
  if type(chunk) ~= "string" then
    error("load: only string chunks are allowed in the sandbox", 2)
  end
  if mode ~= nil and mode ~= "t" then
    error("load: binary chunks are not allowed in the sandbox (use mode \"t\")", 2)
  end
  local name = "=" .. (chunkname and safe_tostring(chunkname):gsub("^[=@]", "") or "load")
  if chunkenv == nil then chunkenv = env end
  local fn, err = load(chunk, name, "t", chunkenv)
  if fn == nil and rawequal(d_getmetatable(err), ERROR_BOX) then
    err = rawget(err, "err")
  end
  return fn, err
end

-- print goes to the kernel's stdout stream; tostring runs __tostring under the cell's limits.
function env.print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  host_write("stdout", t_concat(parts, "\t") .. "\n")
end

-- warn goes to the stderr stream (Lua's "@on"/"@off" control messages are accepted and ignored)
function env.warn(first, ...)
  local parts = { first, ... }
  for i = 1, select("#", first, ...) do
    if type(parts[i]) ~= "string" then
      error(s_format("bad argument #%d to 'warn' (string expected, got %s)", i, type(parts[i])), 2)
    end
  end
  if s_sub(first, 1, 1) == "@" and select("#", ...) == 0 then return end
  host_write("stderr", t_concat(parts) .. "\n")
end

-- string: no dump (bytecode), a capped rep. The shared string metatable's __index is the real
-- string table, so the fix is made there, and the metatable is protected so no cell can
-- booby-trap `("x"):method()` for the host or a later cell.
string.dump = nil

-- C converts a numeric string argument (`("").rep("", "1e15")`), so the caps use tonumber too.
function string.rep(s, n, sep)
  if (tonumber(n) or 0) > MAX_C_LOOP then
    error(s_format("string.rep: count %.0f is over the sandbox's cap of %d", tonumber(n), MAX_C_LOOP), 2)
  end
  return c_call("rep", s_rep, s, n, sep)
end

-- string.format with the conversions that show an identity made opaque: %s of a table,
-- function, thread or userdata gets safe_tostring's text, and %p becomes %s of the opaque id
-- (strings, numbers, booleans and nil have no identity here: "(null)", as Lua shows numbers).
-- The scan is linear (anchored patterns only) and leaves a malformed conversion untouched,
-- so the real format still rejects it with its own message.
local function needs_care(fmt, args)
  if s_find(fmt, "p", 1, true) then return true end
  for i = 1, args.n do
    if IDENTITY[type(args[i])] then return true end
  end
  return false
end

-- true when no argument has an identity (a few arguments are looked at without a table)
local function plain_args(...)
  local n = select("#", ...)
  if n > 8 then return not needs_care("", t_pack(...)) end
  for i = 1, n do
    if IDENTITY[type((select(i, ...)))] then return false end
  end
  return true
end

function string.format(fmt, ...)
  if type(fmt) ~= "string" or (not s_find(fmt, "p", 1, true) and plain_args(...)) then
    -- nothing to hide, and no user code runs (no __tostring): on an error, run it again
    -- through c_call for the message at the cell's line
    local ok, text = pcall(s_format, fmt, ...)
    if ok then return text end
    return c_call("format", s_format, fmt, ...)
  end
  local args = t_pack(...)
  local pieces, from, pos, arg = {}, 1, 1, 0
  while true do
    local at = s_find(fmt, "%", pos, true)
    if at == nil then break end
    if s_byte(fmt, at + 1) == 37 then  -- "%%"
      pos = at + 2
    else
      local _, spec_end = s_find(fmt, "^[-+ #%d.]*", at + 1)
      local conv = s_sub(fmt, spec_end + 1, spec_end + 1)
      arg = arg + 1
      if arg <= args.n then
        local value = args[arg]
        if conv == "s" and IDENTITY[type(value)] then
          args[arg] = opaque_tostring(value, 2)
        elseif conv == "p" and s_find(s_sub(fmt, at + 1, spec_end), "^%-*%d?%d?$") then
          pieces[#pieces + 1] = s_sub(fmt, from, spec_end)
          pieces[#pieces + 1] = "s"
          from = spec_end + 2
          args[arg] = IDENTITY[type(value)] and opaque_id(value) or "(null)"
        end
      end
      if conv == "" then break end
      pos = spec_end + 2
    end
  end
  pieces[#pieces + 1] = s_sub(fmt, from)
  return c_call("format", s_format, t_concat(pieces), t_unpack(args, 1, args.n))
end
getmetatable("").__metatable = "the string metatable is protected in the sandbox"
env.string = copy(string)

local function check_range(fname, first, last)
  first, last = tonumber(first), tonumber(last)
  if first and last and last - first > MAX_C_LOOP then
    error(s_format("%s: range of %.0f elements is over the sandbox's cap of %d", fname,
      last - first, MAX_C_LOOP), 3)
  end
end

env.table = copy(table)
function env.table.move(a1, f, e, t, a2)
  check_range("table.move", f, e)
  if a2 == nil then return c_call("move", t_move, a1, f, e, t) end
  return c_call("move", t_move, a1, f, e, t, a2)
end
function env.table.unpack(list, i, j)
  check_range("table.unpack", i or 1, j or (type(list) == "table" and #list or 0))
  return c_call("unpack", t_unpack, list, i, j)
end
function env.table.concat(list, sep, i, j)
  check_range("table.concat", i or 1, j or (type(list) == "table" and #list or 0))
  return c_call("concat", t_concat, list, sep, i, j)
end

-- table.insert(t, pos, v) and table.remove(t, pos) shift elements in a C loop that no hook can
-- stop, and #t can be huge for a tiny table (a __len metamethod, or a border far out in the
-- hash part): the shifting forms run here, in Lua, under the cell's limits. Appending and
-- popping do not loop, so they stay in C.
local function position(fname, value, arg)
  local n = m_tointeger(tonumber(value) or 0.5)
  if n == nil then
    error(s_format("bad argument #%d to '%s' (number expected, got %s)", arg, fname, type(value)), 3)
  end
  return n
end

function env.table.insert(t, ...)
  local count = select("#", ...)
  if count == 1 then return c_call("insert", t_insert, t, ...) end
  if count ~= 2 then error("wrong number of arguments to 'insert'", 2) end
  if type(t) ~= "table" then return c_call("insert", t_insert, t, ...) end
  local pos, value = ...
  local e = #t + 1
  pos = position("insert", pos, 2)
  if pos < 1 or pos > e then error("bad argument #2 to 'insert' (position out of bounds)", 2) end
  for i = e, pos + 1, -1 do t[i] = t[i - 1] end
  t[pos] = value
end

function env.table.remove(t, ...)
  if select("#", ...) == 0 or type(t) ~= "table" then return c_call("remove", t_remove, t, ...) end
  local size = #t
  local pos = position("remove", (...), 2)
  if pos ~= size and (pos < 1 or pos > size + 1) then
    error("bad argument #2 to 'remove' (position out of bounds)", 2)
  end
  local value = t[pos]
  while pos < size do
    t[pos] = t[pos + 1]
    pos = pos + 1
  end
  t[pos] = nil
  return value
end

env.math = copy(math)
env.utf8 = copy(utf8)
env.os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }

-- coroutine: every coroutine gets the hook registered (hooks are per thread in Lua 5.4) and
-- tells the host while it runs, so a stop reaches the thread that is actually running.
--
-- The host's stop switch calls lua_sethook on each registered thread, so a registered thread
-- must be alive. The host registers a coroutine at its nesting depth d (1: resumed by the main
-- thread) and drops everything at d and deeper when it enters or leaves depth d. Here `held`
-- mirrors what the host has: each entry holds the coroutine itself (a strong reference), is
-- added before the host hears of it and removed only after the host has let it go. The leave
-- is a to-be-closed guard, so it runs however the resume ends (an error packing the results,
-- a memory error, a stop). A guard that never runs (its coroutine died with an error around a
-- nested resume) or fails (no memory left for the call) leaves its entry behind, still held,
-- until the next enter or leave at its depth or below, or the end of the cell. A leftover
-- guard that coroutine.close of a dead coroutine runs later does nothing unless its entry is
-- still there and no thread deeper than it is active (it must never drop the close's own
-- registration).
env.coroutine = copy(coroutine)
local thread_ptr = setmetatable({}, { __mode = "k" })
local held_co, held_depth, held_serial, held_n, last_serial = {}, {}, {}, 0, 0

local function create(f)
  local co = co_create(f)
  arm_thread(co)
  thread_ptr[co] = raw_format("%p", co)
  return co
end

-- Forget the entries at `depth` and deeper (but the one numbered `keep`), as the host just
-- did. Only moves and clears existing slots: it cannot run out of memory.
local function drop_from(depth, keep)
  local n = 0
  for i = 1, held_n do
    if held_depth[i] < depth or held_serial[i] == keep then
      n = n + 1
      held_co[n], held_depth[n], held_serial[n] = held_co[i], held_depth[i], held_serial[i]
    end
  end
  for i = n + 1, held_n do
    held_co[i], held_depth[i], held_serial[i] = nil, nil, nil
  end
  held_n = n
end

-- The depth of the running thread: 0 for the main thread, else its entry's (an unknown one,
-- which cannot happen, counts as the deepest, so entering below it drops nothing).
local function running_depth()
  local me, main = co_running()
  if main then return 0 end
  local deepest = 0
  for i = held_n, 1, -1 do
    if rawequal(held_co[i], me) then return held_depth[i] end
    if held_depth[i] > deepest then deepest = held_depth[i] end
  end
  return deepest
end

local function is_live_guard(serial, depth)
  local found = false
  for i = 1, held_n do
    if held_serial[i] == serial then
      found = true
    elseif held_depth[i] > depth then
      local status = co_status(held_co[i])
      if status == "running" or status == "normal" then return false end
    end
  end
  return found
end

local LEAVE = {
  __close = function(guard)
    local depth = guard[1]
    if not is_live_guard(guard[2], depth) then return end
    host_leave(depth)
    drop_from(depth)
  end,
  __metatable = false,
}

-- Register `co` (about to run) with the host; returns the guard, which must be <close>.
local function enter_thread(co, ptr)
  local depth = running_depth() + 1
  last_serial = last_serial + 1
  local serial = last_serial
  local guard = setmetatable({ depth, serial }, LEAVE)
  local n = held_n + 1
  held_co[n], held_depth[n], held_serial[n] = co, depth, serial
  held_n = n
  return guard
end

local function resume(co, ...)
  local ptr = thread_ptr[co]
  if ptr == nil then return co_resume(co, ...) end
  local guard <close> = enter_thread(co, ptr)
  host_enter(ptr, guard[1])
  drop_from(guard[1], guard[2])
  return co_resume(co, ...)
end

-- close runs the coroutine's pending __close handlers on that coroutine: it must be a thread
-- the host knows is running, or a stop could not reach it.
local function close(co)
  local ptr = thread_ptr[co]
  if ptr == nil then return co_close(co) end
  local guard <close> = enter_thread(co, ptr)
  host_enter(ptr, guard[1])
  drop_from(guard[1], guard[2])
  return co_close(co)
end

-- Between cells no thread is registered with the host (it lets go when the cell ends): drop
-- the references that guards which never ran left behind.
local function forget_threads()
  held_co, held_depth, held_serial, held_n = {}, {}, {}, 0
end

env.coroutine.create = create
env.coroutine.resume = resume
env.coroutine.close = close
function env.coroutine.wrap(f)
  local co = create(f)
  return function(...)
    local results = t_pack(resume(co, ...))
    if not results[1] then error(results[2], 0) end
    return t_unpack(results, 2, results.n)
  end
end

-- data: the one way to read files, and only inside the kernel's read-only data directory
-- (--SafeKernel.data_dir). The host checks every name (relative, no "..", no symlinks, a size
-- cap); Landlock confines the worker to that directory whatever the check says.
local function data_call(f, fname, arg)
  if arg ~= nil and type(arg) ~= "string" then
    error(s_format("data.%s: expected a name (a string), got %s", fname, type(arg)), 3)
  end
  local reply = f(arg)
  if reply[1] then return reply[2] end
  error("data." .. fname .. ": " .. reply[2], 3)
end
-- (no tail calls below: the error level must point at the cell's own line)
env.data = {
  list = function(dir)
    local names = data_call(host_data_list, "list", dir)
    return names
  end,
  read = function(name)
    if name == nil then error("data.read: give the name of a file, e.g. data.read(\"input.txt\")", 2) end
    local content = data_call(host_data_read, "read", name)
    return content
  end,
}

env._G = env

------------------------------------------------------------------------------------------
-- What the host calls.
------------------------------------------------------------------------------------------
local api = { env = env, STOP = STOP, ERROR_BOX = ERROR_BOX, guarded = guarded }

function api.set_budget(instructions, step)
  budget, budget_step, used = instructions, step, 0
  forget_threads()
  arm_thread(co_running())
end

-- Called after the cell, once the host has let go of every thread.
function api.end_cell()
  forget_threads()
  return used
end

api.tostring = safe_tostring

return api
