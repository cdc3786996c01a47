-- attack: swallow memory errors with pcall and keep allocating
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: memory 64M
-- magic: timeout 2
while true do
  pcall(function() local t = {} for i = 1, 1e9 do t[i] = i end end)
end
