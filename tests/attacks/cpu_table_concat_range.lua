-- attack: table.concat over a huge range of a table whose __index answers everything
-- expect: error LuaError /over the sandbox's cap/
table.concat(setmetatable({}, {__index = function() return "" end}), "", 1, 2^40)
