-- attack: replace the data API's functions (the host never calls the cell's copies)
-- expect: value "nested\n"
local read = data.read
data.list = function() return "pwned" end
data.read = nil
return read("sub/nested.txt")
