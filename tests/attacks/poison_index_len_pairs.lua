-- attack: a result table whose metamethods raise or lie
-- expect: value {1, 2, 3}
return setmetatable({1, 2, 3}, {
  __index = function() error("x") end,
  __len = function() return 2^62 end,
  __pairs = function() error("y") end,
})
