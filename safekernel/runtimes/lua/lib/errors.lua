-- Errors and option checks of the pure-Lua modules (json, plot): raised inside with fail(msg),
-- re-raised by public(name, fn) at the caller's line (error level 2) and prefixed with the
-- public name. Any other error (a time or memory limit from the host) passes through untouched.
-- Loaded into the cell's environment like the modules, and handed to each as its argument.
local error, pcall, setmetatable, getmetatable, type = error, pcall, setmetatable, getmetatable, type
local next, tostring, format = next, tostring, string.format

local Failure = {}
local errors = {}

function errors.fail(msg)
  error(setmetatable({ msg = msg }, Failure), 0)
end

-- The options table of a public function: nil means none ({}); anything but a table, or a key
-- not in `allowed` (a set), fails in one line. `describe(v)` words a wrong value's type for the
-- message (default: type(v)).
function errors.options(opts, allowed, describe)
  if opts == nil then
    return {}
  end
  if type(opts) ~= "table" then
    errors.fail("opts must be a table, got " .. (describe or type)(opts))
  end
  for k in next, opts do
    if not allowed[k] then
      errors.fail(format("unknown option %q", tostring(k)))
    end
  end
  return opts
end

function errors.public(name, fn)
  return function(...)
    local ok, result = pcall(fn, ...)
    if ok then
      return result
    end
    if type(result) == "table" and getmetatable(result) == Failure then
      error(name .. ": " .. result.msg, 2)
    end
    error(result, 0)
  end
end

return errors
