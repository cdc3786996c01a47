-- attack: list directories thousands of times, then list again
-- expect: value {"input.txt", "sub/"}
for i = 1, 5000 do data.list("sub") end
return data.list()
