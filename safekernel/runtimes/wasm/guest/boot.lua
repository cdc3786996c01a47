-- Loads the Lua runtime's own chunks (safekernel/runtimes/lua/*.lua) into the wasm guest, in
-- the order and with the arguments LuaRuntime.__init__ (runtimes/lua/__init__.py) uses with
-- lupa: the sandbox, the cell libraries in the cell's environment, then the host chunks.
-- Runs once, with the real globals, before any cell. `host` is glue.c's table of C functions.
--
--   local api, repl = boot(sources, host, caps_chunk)
local sources, host, caps_chunk = ...

local caps = assert(load(caps_chunk, "=caps", "t", {}))()

-- "@" chunk names: tracebacks show only "=" chunks (the cell's), never host code; the names
-- are the lua runtime's (sandbox.lua's error rewriting matches "safekernel/sandbox:")
local function host_chunk(name, chunkname, ...)
  return assert(load(sources[name], chunkname or ("@safekernel/" .. name .. ".lua"), "t"))(...)
end

local api = host_chunk("sandbox", "@safekernel/sandbox", host, caps)
local env = api.env

local function in_env(name)
  local fn, err = load(sources[name], "@safekernel/" .. name .. ".lua", "t", env)
  if not fn then error("the " .. name .. " module does not compile: " .. tostring(err), 0) end
  return fn
end

local errors = in_env("errors")()
for _, name in ipairs({ "json", "plot" }) do env[name] = in_env(name)(errors) end
local render = host_chunk("render", nil, caps)
local output = host_chunk("display", nil, api, caps, host, render, env.json)
local docs = host_chunk("docs")
local repl = host_chunk("repl", nil, api, caps, render, output, docs)
return api, repl
