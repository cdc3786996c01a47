-- attack: replace _ENV with a table that leaks or loops, then run host-visible code
-- expect: value 42
local real = _ENV
local _ENV = setmetatable({}, {__index = function(_, k) return real[k] end})
x_from_swap = 42
return real.x_from_swap or x_from_swap
