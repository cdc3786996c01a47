-- attack: read a data file thousands of times (an fd leak would hit RLIMIT_NOFILE)
-- expect: value 5000
local n = 0
for i = 1, 5000 do
  if data.read("input.txt") then n = n + 1 end
end
return n
