-- attack: make every missing global raise, and every new global fail
-- expect: ok
-- next: 6 * 7 => 42
setmetatable(_G, {__index = function(_, k) error("poisoned " .. tostring(k)) end})
