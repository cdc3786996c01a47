-- attack: nested xpcall whose handlers raise again and again
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
while true do
  xpcall(function() xpcall(function() while true do end end, error) end, error)
end
