-- attack: catch the host's stop error and keep it for a later cell
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
-- next: type(leaked) => "nil"
while true do
  local ok, e = pcall(function() while true do end end)
  leaked = e
end
