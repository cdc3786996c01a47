-- Errors of the pure-Lua modules (json, plot): raised inside with fail(msg), re-raised by
-- public(name, fn) at the caller's line (error level 2) and prefixed with the public name.
-- Any other error (a time or memory limit from the host) passes through untouched.
-- Loaded into the cell's environment like the modules, and handed to each as its argument.
local error, pcall, setmetatable, getmetatable, type = error, pcall, setmetatable, getmetatable, type

local Failure = {}
local errors = {}

function errors.fail(msg)
  error(setmetatable({ msg = msg }, Failure), 0)
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
